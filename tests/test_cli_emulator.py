"""The command line's emulator (cli_emulator) is loaded only by a process that serves one: a
gateway with its own upstream never carries Google's schema and grpc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gemgate.cli_emulator import embedded_emulator_app
from gemgate.emulator import EmulatorSettings
from tests.module_probes import loaded_after
from tests.servers import free_port

REAL_KEY = "real-upstream-key-5d21aa"
MASTER_KEY = "sk-master-77c0e3"
START_SECONDS = 30
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}
# Modules the emulator brings (about 29 MB of a gateway's memory).
EMULATOR_MODULES = ("gemgate.emulator", "gemgate.cli_emulator", "grpc", "google.protobuf")
# Their compiled cores: mapped in /proc/<pid>/maps once the modules are imported.
EMULATOR_LIBRARIES = ("cygrpc", "google/_upb/_message")
OWN_UPSTREAM = """\
model_list:
  - model_name: gemini-flash
    litellm_params:
      model: gemini/gemini-2.0-flash
      api_key: os.environ/UPSTREAM_KEY
      api_base: {api_base}
general_settings:
  master_key: {master_key}
"""
UPSTREAM_KEY = """\
model_list:
  - model_name: gemini-flash
    litellm_params:
      model: gemini/gemini-2.0-flash
general_settings:
  master_key: {master_key}
  gemini_api_key: os.environ/UPSTREAM_KEY
  gemini_api_base: {api_base}
"""


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """The upstream the gateway is configured for accepts only the real key."""
    return EmulatorSettings(api_keys=frozenset({REAL_KEY}))


@contextmanager
def running_gemgate(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m gemgate ARGS` on a free port until the block ends; yields it and its URL."""
    port = free_port()
    names = ("GEMINI_API_KEY", "GEMINI_API_BASE", "GOOGLE_API_KEY")
    env = {name: value for name, value in os.environ.items() if name not in names}
    log_path = tmp_path / "gemgate.log"
    with log_path.open("wb") as sink:
        # Its own session, so that the workers it forks are stopped with it; in tmp_path, where
        # the embedded database is made.
        process = subprocess.Popen(
            [sys.executable, "-m", "gemgate", *args, "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, env=env | {"UPSTREAM_KEY": REAL_KEY},
            cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_live(process, url, log_path)
        yield process, url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _wait_until_live(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gemgate exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"gemgate did not start in {START_SECONDS}s:\n{log_path.read_text()}")


def _maps_emulator_libraries(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(library in maps for library in EMULATOR_LIBRARIES)


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_importing_the_command_line_loads_no_emulator() -> None:
    assert loaded_after("gemgate.cli", EMULATOR_MODULES) == []


@pytest.mark.parametrize("config", [OWN_UPSTREAM, UPSTREAM_KEY], ids=["own-upstream", "api-key"])
def test_a_gateway_with_an_upstream_never_loads_the_emulator(
    tmp_path: Path, emulator_url: str, config: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config.format(api_base=emulator_url, master_key=MASTER_KEY))
    with running_gemgate(tmp_path, "--config", str(path)) as (gateway, url):
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "gemini-flash", "messages": [{"role": "user", "content": "Hi"}]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            timeout=10,
        )
        has_emulator = _maps_emulator_libraries(gateway.pid)

    assert reply.status_code == 200
    assert not has_emulator


def test_forked_gateway_workers_leave_the_builtin_emulator_to_its_own_process(
    tmp_path: Path,
) -> None:
    with running_gemgate(tmp_path, "--workers", "2") as (parent, url):
        reply = httpx.post(f"{url}/gemini{GENERATE}?key=anything", json=PROMPT, timeout=10)
        children = _children(parent.pid)
        loaded = [pid for pid in [parent.pid, *children] if _maps_emulator_libraries(pid)]

    assert reply.status_code == 200
    assert len(children) == 3  # the emulator and two gateway workers
    assert len(loaded) == 1
    assert loaded[0] in children


@pytest.mark.parametrize(
    ("key", "body", "status"),
    [
        ("the-key", PROMPT, 200),
        ("another-key", PROMPT, 400),
        ("the-key", PROMPT | {"madeUpField": 1}, 400),
    ],
    ids=["its-key", "another-key", "off-schema-body"],
)
async def test_builtin_emulator_app_takes_only_its_key_and_checks_bodies(
    key: str, body: dict[str, object], status: int
) -> None:
    transport = httpx.ASGITransport(app=embedded_emulator_app("the-key"))
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        response = await client.post(GENERATE, json=body, headers={"x-goog-api-key": key})

    assert response.status_code == status
