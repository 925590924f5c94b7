"""Logs during Redis and database outages stay quiet: the Redis key change listener and lookups of
keys not in memory each warn once per outage (reminders at most once a minute), note their
recovery, and behave as before meanwhile (keys polled; unknown keys answered 503)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from gemgate import errors
from gemgate.proxy import create_app
from gemgate.proxy.failure_streak import FailureStreak
from gemgate.proxy.gateway_store import (
    CHANGES_CHANNEL,
    RESUBSCRIBE_SECONDS,
    StoreSettings,
    open_gateway_store,
)
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.key_store import KeySettings, KeyStore, hash_key
from gemgate.proxy.storage.team_store import TeamStore
from tests.databases import (
    PostgresCluster,
    wait_until_accepting,
)
from tests.proxy.conftest import CHAT_MODEL
from tests.proxy.routes.test_keys import bearer, keyed_config
from tests.redis_server import redis_server
from tests.servers import free_port, serve

STORE_LOGGER = "gemgate.proxy.gateway_store"
CACHE_LOGGER = "gemgate.proxy.key_cache"
CHAT = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
GENERATE = f"/v1beta/models/{CHAT_MODEL}:generateContent"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logged(caplog: pytest.LogCaptureFixture, logger: str, start: str) -> list[tuple[int, str]]:
    """(level, message) of each record of ``logger`` whose message starts with ``start``."""
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name == logger and record.getMessage().startswith(start)
    ]


def levels(records: list[tuple[int, str]]) -> list[int]:
    return [level for level, _ in records]


async def eventually(condition: Callable[[], object], seconds: float) -> None:
    """Wait until ``condition()`` is true; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (
            [0, 1, 2, 60, 61],
            [
                (logging.WARNING, "key lookup failed (OSError); keys get 503"),
                (logging.DEBUG, "key lookup failed again (OSError)"),
                (logging.DEBUG, "key lookup failed again (OSError)"),
                (
                    logging.WARNING,
                    "key lookup has been failing for 60 s (OSError); 3 lookups refused since the last warning",
                ),  # fmt: skip
                (logging.DEBUG, "key lookup failed again (OSError)"),
            ],
        ),
        (
            [0, 60, 120],
            [
                (logging.WARNING, "key lookup failed (OSError); keys get 503"),
                (
                    logging.WARNING,
                    "key lookup has been failing for 60 s (OSError); 1 lookups refused since the last warning",
                ),  # fmt: skip
                (
                    logging.WARNING,
                    "key lookup has been failing for 120 s (OSError); 1 lookups refused since the last warning",
                ),  # fmt: skip
            ],
        ),
    ],
    ids=["failures between reminders are counted", "a reminder per minute at most"],
)
def test_a_reminder_counts_what_failed_since_the_last_warning(
    events: list[float], expected: list[tuple[int, str]], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    streak = FailureStreak(
        "key lookup", logging.getLogger(CACHE_LOGGER), meanwhile="keys get 503",
        tally="lookups refused", clock=clock,
    )  # fmt: skip
    caplog.set_level(logging.DEBUG, logger=CACHE_LOGGER)
    start = clock.now
    for at in events:
        clock.now = start + at
        streak.failed(OSError())
    assert logged(caplog, CACHE_LOGGER, "key lookup") == expected


# --- Redis stopped and started again under the key change listener ---------------------------


async def subscribers(url: str) -> int:
    """How many connections listen on the key change channel."""
    client = redis.Redis.from_url(url)
    try:
        [(_, count)] = await client.pubsub_numsub(CHANGES_CHANNEL)
        return int(count)
    finally:
        await client.aclose()


async def until_listening(url: str, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while await subscribers(url) != 1:
            await asyncio.sleep(0.05)


async def made_elsewhere(store: KeyStore) -> str:
    """A key written to the database by another instance (this one's cache is not told)."""
    key_hash = hash_key(f"sk-{secrets.token_urlsafe(16)}")
    await store.create(key_hash, KeySettings(), datetime.now(UTC))
    return key_hash


OUTAGE_SECONDS = 5
LISTENER_DOWN = (
    "key change listener failed (ConnectionError); keys are polled every 1 s until Redis is back"
)


async def test_a_redis_outage_warns_once_keeps_polling_and_notes_when_listening_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=STORE_LOGGER)
    database = f"sqlite:///{tmp_path / 'gemgate.db'}"
    folder, port = tmp_path / "redis", free_port()
    folder.mkdir()
    with ExitStack() as first_life:
        url = first_life.enter_context(redis_server(folder, port))
        settings = StoreSettings(database, url, journal_folder=tmp_path / "journal")
        async with open_gateway_store(settings) as store:
            await until_listening(url, seconds=5)
            await store.announce_change()  # the notices client now holds a pooled connection
            first_life.close()  # Redis stops
            stopped = time.monotonic()
            # Only a poll can bring a key made elsewhere: no notice can arrive. While Redis is
            # down the listener polls each time it tries to subscribe again, as often as the
            # key refresh does without Redis (not at the 10 s of its safety-net poll).
            polled = await made_elsewhere(store.keys.keys)
            await eventually(lambda: store.keys.cached_key(polled), RESUBSCRIBE_SECONDS + 1.5)
            await asyncio.sleep(OUTAGE_SECONDS - (time.monotonic() - stopped))  # more failures
            with redis_server(folder, port):
                await eventually(lambda: levels(logged(caplog, STORE_LOGGER, "key change listener"))[-1] == logging.INFO, 5)  # fmt: skip
                assert await subscribers(url) == 1
                # Just after a poll: only the notice can bring this key within a second. It is
                # sent on the connection Redis closed when it stopped: sent again on a new one.
                noticed = await made_elsewhere(store.keys.keys)
                await store.announce_change()
                await eventually(lambda: store.keys.cached_key(noticed), 1.0)
                listener = logged(caplog, STORE_LOGGER, "key change listener")
    assert levels(listener).count(logging.WARNING) == 1
    assert listener[0] == (logging.WARNING, LISTENER_DOWN)
    assert levels(listener[1:-1]) == [logging.DEBUG] * (len(listener) - 2)
    assert len(listener) - 1 >= OUTAGE_SECONDS - 1  # failures: about one a second
    assert listener[-1][0] == logging.INFO
    assert listener[-1][1].startswith("key change listener recovered after ")
    assert logged(caplog, STORE_LOGGER, "key refresh") == []  # the database never failed


# --- PostgreSQL stopped under lookups of keys not in memory ---------------------------------


def unknown_key() -> str:
    return f"sk-{secrets.token_urlsafe(16)}"


async def refused_calls(http: httpx.AsyncClient, count: int) -> list[int]:
    """Statuses of ``count`` calls with never seen keys, OpenAI and Gemini routes in turn."""
    statuses = []
    for number in range(count):
        if number % 2:
            response = await http.post("/v1/chat/completions", json=CHAT, headers=bearer(unknown_key()))  # fmt: skip
        else:
            response = await http.post(GENERATE, json=PROMPT, headers={"x-goog-api-key": unknown_key()})  # fmt: skip
        statuses.append(response.status_code)
    return statuses


LOOKUPS_IN_OUTAGE = 40


async def test_unknown_keys_in_a_database_outage_get_503_with_one_warning_and_a_recovery_note(
    emulator_url: str,
    stoppable_cluster: PostgresCluster,
    stoppable_cluster_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=CACHE_LOGGER)
    app = create_app(keyed_config(emulator_url, tmp_path, database_url=stoppable_cluster_url))
    with serve(app) as gateway:
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
            await asyncio.to_thread(stoppable_cluster.stop)
            assert await refused_calls(http, LOOKUPS_IN_OUTAGE) == [503] * LOOKUPS_IN_OUTAGE
            await asyncio.to_thread(stoppable_cluster.start)
            await wait_until_accepting(stoppable_cluster_url)
            # The key refresh (every second) finds the database back before any lookup does.
            await eventually(lambda: levels(logged(caplog, CACHE_LOGGER, "key lookup"))[-1] == logging.INFO, 5)  # fmt: skip
            assert await refused_calls(http, 2) == [401, 401]
    lookups = logged(caplog, CACHE_LOGGER, "key lookup")
    assert levels(lookups) == [logging.WARNING] + [logging.DEBUG] * (LOOKUPS_IN_OUTAGE - 1) + [logging.INFO]  # fmt: skip
    assert lookups[0][1].endswith("; keys not in memory get 503 until the database is back")
    assert lookups[-1][1].startswith("key lookup recovered after ")


async def test_a_long_database_outage_is_recalled_with_the_count_of_lookups_refused(
    stoppable_cluster: PostgresCluster, stoppable_cluster_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=CACHE_LOGGER)
    clock = Clock()
    start = clock.now
    async with open_database(stoppable_cluster_url) as engine:
        cache = KeyCache(KeyStore(engine), TeamStore(engine), clock=clock)
        await cache.load()
        await asyncio.to_thread(stoppable_cluster.stop)
        for at in [0, 1, 30, 59, 60, 61]:
            clock.now = start + at
            with pytest.raises(errors.ServiceUnavailableError):
                await cache.key(hash_key(unknown_key()))
        await asyncio.to_thread(stoppable_cluster.start)
        await wait_until_accepting(stoppable_cluster_url)
        clock.now = start + 75
        assert await cache.key(hash_key(unknown_key())) is None
    lookups = logged(caplog, CACHE_LOGGER, "key lookup")
    assert levels(lookups) == [logging.WARNING] + [logging.DEBUG] * 3 + [logging.WARNING, logging.DEBUG, logging.INFO]  # fmt: skip
    assert lookups[4][1].startswith("key lookup has been failing for 60 s (")
    assert lookups[4][1].endswith("); 4 lookups refused since the last warning")
    assert lookups[-1][1] == "key lookup recovered after 75 s"
