"""The background key refresh through a database outage: one warning when it starts, quiet while
it lasts (a reminder at most once a minute, saying for how long), and a note when it recovers."""

from __future__ import annotations

import asyncio
import logging
from itertools import pairwise
from pathlib import Path

import pytest

from gemgate.proxy.failure_streak import FailureStreak
from gemgate.proxy.gateway_store import StoreSettings, open_gateway_store, run_every
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.key_store import KeyStore
from gemgate.proxy.storage.team_store import TeamStore
from tests.databases import (
    PostgresCluster,
    wait_until_accepting,
)

LOGGER = "gemgate.proxy.gateway_store"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([(0, "ok"), (1, "ok")], []),
        ([(0, "fail")], [(logging.WARNING, "key refresh failed (ConnectionRefusedError)")]),
        (
            [(0, "fail"), (1, "fail"), (59, "fail"), (60, "fail"), (61, "fail"), (125, "fail")],
            [
                (logging.WARNING, "key refresh failed (ConnectionRefusedError)"),
                (logging.DEBUG, "key refresh failed again"),
                (logging.DEBUG, "key refresh failed again"),
                (logging.WARNING, "key refresh has been failing for 60 s"),
                (logging.DEBUG, "key refresh failed again"),
                (logging.WARNING, "key refresh has been failing for 125 s"),
            ],
        ),
        (
            [(0, "fail"), (1, "fail"), (7, "ok"), (8, "ok"), (9, "fail")],
            [
                (logging.WARNING, "key refresh failed"),
                (logging.DEBUG, "key refresh failed again"),
                (logging.INFO, "key refresh recovered after 7 s"),
                (logging.WARNING, "key refresh failed"),
            ],
        ),
    ],
    ids=["no failures", "first failure", "long outage", "recovery then a new outage"],
)
def test_a_failure_streak_warns_at_its_start_then_once_a_minute_and_notes_recovery(
    events: list[tuple[float, str]],
    expected: list[tuple[int, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    streak = FailureStreak("key refresh", logging.getLogger(LOGGER), clock=clock)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    start = clock.now
    for at, outcome in events:
        clock.now = start + at
        if outcome == "fail":
            streak.failed(ConnectionRefusedError())
        else:
            streak.succeeded()
    logged = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert len(logged) == len(expected)
    for (level, message), (expected_level, expected_start) in zip(logged, expected, strict=True):
        assert level == expected_level
        assert message.startswith(expected_start), message


async def _outage(stoppable_cluster: PostgresCluster, url: str, seconds: float) -> None:
    await asyncio.to_thread(stoppable_cluster.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(stoppable_cluster.start)
    await wait_until_accepting(url)


def _refresh_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == LOGGER and record.getMessage().startswith("key refresh")
    ]


async def test_the_gateway_warns_once_during_an_outage_and_says_when_refresh_recovered(
    stoppable_cluster: PostgresCluster,
    stoppable_cluster_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    settings = StoreSettings(stoppable_cluster_url, journal_folder=tmp_path / "journal")
    async with open_gateway_store(settings):
        await _outage(
            stoppable_cluster, stoppable_cluster_url, seconds=3.5
        )  # the refresh polls every second
        await asyncio.sleep(2.0)
    levels = [record.levelno for record in _refresh_logs(caplog)]
    assert levels.count(logging.WARNING) == 1
    assert levels[0] == logging.WARNING
    assert levels.count(logging.DEBUG) >= 2
    assert levels[-1] == logging.INFO
    recovered = _refresh_logs(caplog)[-1].getMessage()
    assert recovered.startswith("key refresh recovered after ")
    assert 2 <= float(recovered.split()[-2]) <= 6


async def test_a_long_outage_is_recalled_at_most_once_per_interval_with_its_length(
    stoppable_cluster: PostgresCluster,
    stoppable_cluster_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with open_database(stoppable_cluster_url) as engine:
        cache = KeyCache(KeyStore(engine), TeamStore(engine))
        await cache.load()
        streak = FailureStreak("key refresh", logging.getLogger(LOGGER), remind_every=1.0)
        refresh = asyncio.create_task(run_every(0.05, cache.refresh, streak))
        try:
            await _outage(stoppable_cluster, stoppable_cluster_url, seconds=2.6)
            await asyncio.sleep(0.5)
        finally:
            refresh.cancel()
            with pytest.raises(asyncio.CancelledError):
                await refresh
    records = _refresh_logs(caplog)
    warnings = [record for record in records if record.levelno == logging.WARNING]
    assert [record.getMessage().split(" (")[0] for record in warnings[1:3]] == [
        "key refresh has been failing for 1 s",
        "key refresh has been failing for 2 s",
    ]
    gaps = [later.created - earlier.created for earlier, later in pairwise(warnings)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert sum(record.levelno == logging.DEBUG for record in records) >= 10
    assert records[-1].levelno == logging.INFO
