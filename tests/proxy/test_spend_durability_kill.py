"""The `gemgate` process killed with SIGKILL under load, on its default SQLite file and on
PostgreSQL: restarted on the same database and journal, it has exactly one spend-log row for
every request whose answer a client received completely."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import CHAT_MODEL, MASTER_KEY
from tests.proxy.routes.test_keys import bearer, new_key
from tests.proxy.test_spend_durability import key_spend, logged_rows, spend_of
from tests.test_cli import gemgate

# Slow enough that many answers are under way at any moment, streams over several chunks.
STORY = "[[emulator: latency=15, chunk-delay=15]] Tell me a long story about the sea and ships"
CHAT = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": STORY}]}
PROMPT = {"contents": [{"role": "user", "parts": [{"text": STORY}]}]}
WORKERS = 12
# Load before the kill is armed: this long, and this many complete answers of each kind.
WARM_UP_SECONDS = 1.5
WARM_UP = 3
LANDING_SECONDS = 20.0


def _google_key(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


@dataclass(frozen=True, slots=True)
class Call:
    """One kind of request the load sends."""

    name: str
    path: str
    body: dict[str, Any]
    headers: Callable[[str], dict[str, str]]
    is_stream: bool


NATIVE = f"/v1beta/models/{CHAT_MODEL}"
PASS_THROUGH = "/gemini/v1beta/models/gemini-2.0-flash"
CALLS = (
    Call("chat", "/v1/chat/completions", CHAT, bearer, is_stream=False),
    Call("chat stream", "/v1/chat/completions", CHAT | {"stream": True}, bearer, is_stream=True),
    Call("generateContent", f"{NATIVE}:generateContent", PROMPT, _google_key, is_stream=False),
    Call("streamGenerateContent", f"{NATIVE}:streamGenerateContent?alt=sse", PROMPT, _google_key,
         is_stream=True),
    Call("pass-through", f"{PASS_THROUGH}:generateContent", PROMPT, _google_key, is_stream=False),
    Call("pass-through stream", f"{PASS_THROUGH}:streamGenerateContent?alt=sse", PROMPT,
         _google_key, is_stream=True),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Completed:
    """A request whose whole answer the client received."""

    call: str
    request_id: str


class KillUnderLoad:
    """Calls of every kind from many workers; after a warm-up the gateway is killed the moment
    the next ``trigger`` call completes (its last bytes just received, its row just due)."""

    def __init__(
        self, http: httpx.AsyncClient, key: str, process: subprocess.Popen[bytes], trigger: str
    ) -> None:
        self.http = http
        self.key = key
        self.process = process
        self.trigger = trigger
        self.armed_at = time.monotonic() + WARM_UP_SECONDS
        self.completed: list[Completed] = []
        self.killed_after: Completed | None = None
        self.unfinished = 0

    async def run(self) -> None:
        async with asyncio.timeout(60):
            await asyncio.gather(*(self._work(worker) for worker in range(WORKERS)))

    async def _work(self, worker: int) -> None:
        for number in itertools.count(worker):
            if self.killed_after is not None:
                return
            call = CALLS[number % len(CALLS)]
            try:
                self.completed.append(await self._call(call))
            except httpx.TransportError:
                self.unfinished += 1

    async def _call(self, call: Call) -> Completed:
        async with self.http.stream(
            "POST", call.path, json=call.body, headers=call.headers(self.key)
        ) as response:
            body = await response.aread()
            done = Completed(call.name, response.headers["x-request-id"])
            # Killed before this task yields: the server had no time since its last bytes.
            if call.name == self.trigger and self.killed_after is None and self._is_armed():
                os.kill(self.process.pid, signal.SIGKILL)
                self.killed_after = done
        assert response.status_code == 200, body
        assert body.rstrip().endswith(b"[DONE]" if call.name == "chat stream" else b"}"), body
        return done

    def _is_armed(self) -> bool:
        if time.monotonic() < self.armed_at:
            return False
        done = Counter(completed.call for completed in self.completed)
        return all(done[call.name] >= WARM_UP for call in CALLS)


def write_config(folder: Path, emulator_url: str, database_url: str | None) -> Path:
    """A config.yaml (JSON is YAML) serving CHAT_MODEL and /gemini/ from the emulator."""
    upstream = {"api_key": TEST_API_KEY, "api_base": emulator_url}
    general: dict[str, Any] = {"master_key": MASTER_KEY, "gemini_api_key": TEST_API_KEY,
                               "gemini_api_base": emulator_url}  # fmt: skip
    if database_url is not None:
        general["database_url"] = database_url
    model = {"model_name": CHAT_MODEL, "params": {"model": "gemini/gemini-2.0-flash", **upstream}}
    path = folder / "config.yaml"
    path.write_text(json.dumps({"model_list": [model], "general_settings": general}))
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: the command line's default SQLite file in its working directory."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


async def rows_of_completed(
    http: httpx.AsyncClient, key: str, completed: Sequence[Completed]
) -> list[dict[str, Any]]:
    """The key's spend-log rows, once every completed request has one (or the time is up)."""
    wanted = {done.request_id for done in completed}
    deadline = time.monotonic() + LANDING_SECONDS
    while True:
        rows = await logged_rows(http, key)
        if wanted <= {row["request_id"] for row in rows} or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("trigger", [call.name for call in CALLS if call.is_stream])
async def test_every_answer_a_client_completed_before_a_sigkill_has_one_spend_row(
    tmp_path: Path, emulator_url: str, database_url: str | None, trigger: str
) -> None:
    config = write_config(tmp_path, emulator_url, database_url)
    with gemgate(tmp_path, "--config", str(config), "--log-level", "warning") as first:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as http:
            key = await new_key(http)
            load = KillUnderLoad(http, key, first.process, trigger)
            await load.run()
        assert first.process.wait(timeout=10) == -signal.SIGKILL
    assert load.killed_after is not None and load.unfinished > 0, first.log()
    with gemgate(tmp_path, "--config", str(config), "--log-level", "warning") as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
            rows = await rows_of_completed(http, key, load.completed)
            spend = await key_spend(http, key)
    by_id = Counter(row["request_id"] for row in rows)
    missing = Counter(done.call for done in load.completed if done.request_id not in by_id)
    assert not missing, f"no row for {dict(missing)} of {len(load.completed)}; killed after {load.killed_after}"  # fmt: skip
    assert max(by_id.values()) == 1
    assert spend == spend_of(rows) > 0
