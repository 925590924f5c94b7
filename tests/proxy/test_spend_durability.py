"""Spend durability of a served gateway whose database goes away under load: PostgreSQL stopped
and started again, and an SQLite file whose write lock another process holds. Known keys keep
working, spend rows wait on disk (not in memory), and once the database is back every answered
request has its row within seconds."""

from __future__ import annotations

import asyncio
import gc
import itertools
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from sqlalchemy import make_url

from gemgate.proxy import create_app
from gemgate.proxy.gateway_store import GatewayStore
from gemgate.proxy.state import STATE
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.spend_writer import SpendWriterSettings
from tests.databases import running_postgres, wait_until_accepting
from tests.proxy.conftest import CHAT_MODEL
from tests.proxy.routes.test_keys import ADMIN, bearer, keyed_config, new_key
from tests.servers import serve

CHAT = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
GENERATE = f"/v1beta/models/{CHAT_MODEL}:generateContent"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}
LOAD_WORKERS = 8
# Long enough for the spend writer's retries to back off several times.
OUTAGE_SECONDS = 10.0
# How long rows may take to reach the database once it is back.
LANDING_SECONDS = 4.0


@dataclass(frozen=True, slots=True)
class Answer:
    """One answered request of the load."""

    key: str
    status: int
    # The response's x-request-id: the spend row's id, as the load sends no id of its own.
    request_id: str


async def _keep_calling(
    http: httpx.AsyncClient,
    keys: Sequence[str],
    worker: int,
    stop: asyncio.Event,
    answers: list[Answer],
) -> None:
    """Alternate OpenAI chat and native generateContent calls over ``keys`` until ``stop``."""
    for number in itertools.count(worker):
        if stop.is_set():
            return
        key = keys[number % len(keys)]
        if number % 2:
            response = await http.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
        else:
            response = await http.post(GENERATE, json=PROMPT, headers={"x-goog-api-key": key})
        answers.append(Answer(key, response.status_code, response.headers["x-request-id"]))


@asynccontextmanager
async def load(http: httpx.AsyncClient, keys: Sequence[str]) -> AsyncIterator[list[Answer]]:
    """Concurrent calls with ``keys`` while the block runs; yields the answers so far."""
    answers: list[Answer] = []
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        for worker in range(LOAD_WORKERS):
            group.create_task(_keep_calling(http, keys, worker, stop, answers))
        try:
            yield answers
        finally:
            stop.set()


async def more_answers(answers: list[Answer], count: int, *, timeout: float = 20.0) -> None:
    """Wait until ``count`` more answers than now have come back."""
    wanted = len(answers) + count
    async with asyncio.timeout(timeout):
        while len(answers) < wanted:
            await asyncio.sleep(0.02)


async def logged_rows(http: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """Every spend-log row of ``key``, page by page."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"api_key": key, "limit": "1000"} | ({"cursor": cursor} if cursor else {})
        response = await http.get("/spend/logs", params=query, headers=ADMIN)
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["logs"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows


async def rows_once_logged(
    http: httpx.AsyncClient, answers: Sequence[Answer], *, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    """Each key's spend-log rows, once every request in ``answers`` has its row."""
    wanted = {answer.request_id for answer in answers}
    keys = sorted({answer.key for answer in answers})
    deadline = time.monotonic() + timeout
    while True:
        rows = {key: await logged_rows(http, key) for key in keys}
        logged = {row["request_id"] for key_rows in rows.values() for row in key_rows}
        missing = wanted - logged
        if not missing:
            return rows
        assert time.monotonic() < deadline, f"{len(missing)} of {len(wanted)} rows never stored"
        await asyncio.sleep(0.2)


async def key_spend(http: httpx.AsyncClient, key: str) -> Decimal:
    response = await http.get("/key/info", params={"key": key}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return Decimal(repr(response.json()["info"]["spend"]))


def spend_of(rows: Sequence[dict[str, Any]]) -> Decimal:
    # Each cost has at most 10 decimal places, which a float's repr gives back exactly.
    return sum((Decimal(repr(row["spend"])) for row in rows), Decimal(0))


async def database_status(http: httpx.AsyncClient) -> str:
    response = await http.get("/health/readiness")
    assert response.status_code == 200
    status: str = response.json()["database"]
    return status


async def assert_unknown_keys_are_unavailable(http: httpx.AsyncClient) -> None:
    """A key the gateway has never seen cannot be checked: 503 in the route's shape, not 401."""
    unknown = f"sk-{secrets.token_urlsafe(16)}"
    openai_shape = await http.post("/v1/chat/completions", json=CHAT, headers=bearer(unknown))
    assert openai_shape.status_code == 503, openai_shape.text
    assert openai_shape.json()["error"]["type"] == "service_unavailable_error"
    unknown = f"sk-{secrets.token_urlsafe(16)}"
    google = await http.post(GENERATE, json=PROMPT, headers={"x-goog-api-key": unknown})
    assert google.status_code == 503, google.text
    assert google.json()["error"]["status"] == "UNAVAILABLE"


async def assert_admin_routes_are_unavailable(http: httpx.AsyncClient, key: str) -> None:
    """Routes that must read or write the database say it is unavailable: 503, no trace."""
    calls: list[tuple[str, str, dict[str, Any] | None]] = [("POST", "/key/generate", {}), ("GET", f"/key/info?key={key}", None),
             ("GET", "/spend/logs", None), ("GET", "/spend/report?group_by=key", None)]  # fmt: skip
    for method, path, body in calls:
        response = await http.request(method, path, json=body, headers=ADMIN)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["error"]["type"] == "service_unavailable_error"


class NewRowsInMemory:
    """Counts the spend rows alive in this process (the gateway's thread included) that were
    not alive when it was made: earlier tests' rows (pytest keeps parametrized values for the
    whole session) are not the gateway's. Garbage is collected first: only held rows count."""

    def __init__(self) -> None:
        gc.collect()
        # Held, so that no new row can take an earlier one's id.
        self._earlier = [thing for thing in gc.get_objects() if type(thing) is SpendRow]

    def __call__(self) -> int:
        gc.collect()
        earlier = {id(row) for row in self._earlier}
        return sum(1 for thing in gc.get_objects() if type(thing) is SpendRow and id(thing) not in earlier)  # fmt: skip


def store_of(app: web.Application) -> GatewayStore:
    store = app[STATE].store
    assert store is not None
    return store


async def test_a_postgresql_stopped_under_load_fails_no_known_key_and_loses_no_spend(
    emulator_url: str, tmp_path: Path
) -> None:
    rows_in_memory = NewRowsInMemory()
    with running_postgres() as cluster:
        url = cluster.admin_url.render_as_string(hide_password=False)
        app = create_app(keyed_config(emulator_url, tmp_path, database_url=url))
        with serve(app) as gateway:
            async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
                keys = [await new_key(http) for _ in range(3)]
                async with load(http, keys) as answers:
                    await more_answers(answers, 30)
                    await asyncio.to_thread(cluster.stop)
                    failures = store_of(app).spend.stats().failures
                    assert await database_status(http) == "unreachable"
                    await assert_unknown_keys_are_unavailable(http)
                    await assert_admin_routes_are_unavailable(http, keys[0])
                    await asyncio.sleep(OUTAGE_SECONDS)
                    assert store_of(app).spend.stats().failures > failures
                    # Thousands answered meanwhile; only the batch being retried is in memory.
                    assert rows_in_memory() <= SpendWriterSettings().batch_size + LOAD_WORKERS
                    await asyncio.to_thread(cluster.start)
                    await wait_until_accepting(url)
                    back = time.monotonic()
                    await more_answers(answers, 30)
                assert Counter(answer.status for answer in answers) == {200: len(answers)}
                waited = time.monotonic() - back  # the lag counts from PostgreSQL's return
                rows = await rows_once_logged(http, answers, timeout=LANDING_SECONDS - waited)
                assert await database_status(http) == "connected"
                for key in keys:
                    ids = [row["request_id"] for row in rows[key]]
                    assert len(ids) == len(set(ids))
                    assert await key_spend(http, key) == spend_of(rows[key]) > 0


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process's write transaction on the SQLite file (a backup, an admin's shell)."""
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


REQUESTS_WHILE_LOCKED = 2000
CONCURRENCY = 50


async def call_many(http: httpx.AsyncClient, key: str, count: int) -> list[Answer]:
    """``count`` chat calls, CONCURRENCY at a time."""
    answers: list[Answer] = []
    for _ in range(0, count, CONCURRENCY):
        calls = [
            http.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
            for _ in range(CONCURRENCY)
        ]
        batch = await asyncio.gather(*calls)
        answers += [Answer(key, reply.status_code, reply.headers["x-request-id"]) for reply in batch]  # fmt: skip
    return answers


async def assert_reads_answer_at_once(http: httpx.AsyncClient) -> None:
    """Key checks and spend queries read the last commit; they never wait for the writer."""
    async with asyncio.timeout(2):
        unknown = await http.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-made-up"))
        assert unknown.status_code == 401
        assert (await http.get("/spend/logs", headers=ADMIN)).status_code == 200
        assert await database_status(http) == "connected"


async def test_spend_waits_on_disk_not_in_memory_while_sqlite_is_locked(
    emulator_url: str, tmp_path: Path
) -> None:
    rows_in_memory = NewRowsInMemory()
    config = keyed_config(emulator_url, tmp_path)
    database = Path(make_url(config.general_settings.database_url or "").database or "")
    app = create_app(config)
    with serve(app) as gateway:
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
            key = await new_key(http)
            await rows_once_logged(http, await call_many(http, key, 200), timeout=10)  # warm up
            spend = store_of(app).spend
            stored = spend.stats().stored
            # The flusher's one batch, and the rows of the requests under way.
            most = SpendWriterSettings().batch_size + CONCURRENCY
            with sqlite_locked(database):
                answers = await call_many(http, key, REQUESTS_WHILE_LOCKED // 2)
                assert rows_in_memory() <= most and spend.stats().buffered <= CONCURRENCY
                answers += await call_many(http, key, REQUESTS_WHILE_LOCKED // 2)
                assert rows_in_memory() <= most and spend.stats().buffered <= CONCURRENCY
                await assert_reads_answer_at_once(http)
                assert spend.stats().stored == stored  # nothing got past the lock
                assert await spend.journal.size_on_disk() > REQUESTS_WHILE_LOCKED * 300
            assert Counter(answer.status for answer in answers) == {200: len(answers)}
            rows = await rows_once_logged(http, answers, timeout=LANDING_SECONDS)
            assert await key_spend(http, key) == spend_of(rows[key]) > 0
