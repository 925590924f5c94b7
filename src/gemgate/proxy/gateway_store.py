"""What the gateway keeps beyond one request: the database (keys, teams, spend), the key cache kept
current in the background, the limit counters (memory or Redis) and the durable spend writer.

Opened once in the app's lifespan. Background work runs in owned tasks, cancelled on exit: the
key cache refresh (polled; at once on a Redis notice from another instance) and budget resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.callers import key_scope, team_scope
from gemgate.proxy.failure_streak import FailureStreak
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.limits import REDIS_PREFIX, Counters, MemoryCounters
from gemgate.proxy.storage.database import async_database_url, default_journal_path, open_database
from gemgate.proxy.storage.key_store import KeyStore
from gemgate.proxy.storage.spend_logs import SpendLogs
from gemgate.proxy.storage.spend_writer import SpendObserver, SpendWriter
from gemgate.proxy.storage.team_store import TeamStore

if TYPE_CHECKING:
    from gemgate.proxy.key_change_notices import KeyChangeNotices

logger = logging.getLogger(__name__)

# Other instances are told of key and team changes on this channel (the message is not used).
CHANGES_CHANNEL = f"{REDIS_PREFIX}key-changes"
# Seconds between change-feed polls: the bound on how stale a key is without Redis notices.
POLL_SECONDS = 1.0
POLL_SECONDS_WITH_REDIS = 10.0
BUDGET_RESET_SECONDS = 30.0
# Pause before subscribing again after the change notices' connection to Redis failed.
RESUBSCRIBE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where the gateway keeps its state."""

    database_url: str
    redis_url: str | None = None
    journal_folder: Path | None = None  # default: beside the SQLite file, else ./


@dataclass(slots=True)
class GatewayStore:
    """The stores, caches and counters one gateway process shares across requests."""

    engine: AsyncEngine
    keys: KeyCache
    counters: Counters
    spend: SpendWriter
    spend_logs: SpendLogs
    notices: KeyChangeNotices | None = None  # with Redis only
    # What a background refresh or reset fails with while a server it needs is down.
    outage_errors: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)

    async def announce_change(self) -> None:
        """Tell other instances that keys or teams changed (they refresh at once)."""
        if self.notices is not None:
            await self.notices.announce()

    async def seed_spend(self) -> None:
        """Give the counters the database's spend of every budgeted key and team (where unset)."""
        for key_hash, spend in (await self.keys.keys.budgeted_spend()).items():
            await self.counters.set_spend(key_scope(key_hash), spend, only_if_unset=True)
        for team_id, spend in (await self.keys.teams.budgeted_spend()).items():
            await self.counters.set_spend(team_scope(team_id), spend, only_if_unset=True)

    async def reset_budgets(self, now: datetime) -> None:
        """Start new budget periods that are due, in the database and the counters."""
        for key_hash in await self.keys.keys.reset_budgets(now):
            await self.counters.set_spend(key_scope(key_hash), Decimal(0), only_if_unset=False)
        for team_id in await self.keys.teams.reset_budgets(now):
            await self.counters.set_spend(team_scope(team_id), Decimal(0), only_if_unset=False)
        await self.keys.refresh()


@asynccontextmanager
async def open_gateway_store(
    settings: StoreSettings, spend_observer: SpendObserver | None = None
) -> AsyncIterator[GatewayStore]:
    """Open the database (migrated), load the keys, start the background work; stop it on exit.
    ``spend_observer`` is told what each spend-log batch came to."""
    url = async_database_url(settings.database_url)
    async with AsyncExitStack() as stack:
        engine = await stack.enter_async_context(open_database(url))
        journal = settings.journal_folder or default_journal_path(url)
        writer = await stack.enter_async_context(
            SpendWriter.open(engine, journal, observer=spend_observer)
        )
        cache = KeyCache(KeyStore(engine), TeamStore(engine))
        if settings.redis_url:
            store = _with_redis(settings.redis_url, engine, cache, writer)
        else:
            store = GatewayStore(engine, cache, MemoryCounters(), writer, SpendLogs(engine))
        stack.push_async_callback(store.counters.aclose)
        if store.notices is not None:
            stack.push_async_callback(store.notices.aclose)
        await cache.load()
        await store.seed_spend()
        tasks = _start_background(store)
        stack.push_async_callback(_stop, tasks)
        yield store


def _with_redis(
    url: str, engine: AsyncEngine, cache: KeyCache, writer: SpendWriter
) -> GatewayStore:
    # redis-py, and the ~6 MB resident it loads, only in gateways configured with Redis.
    from gemgate.proxy.key_change_notices import REDIS_ERRORS, KeyChangeNotices  # deferred: redis
    from gemgate.proxy.redis_counters import RedisCounters  # deferred: redis

    return GatewayStore(
        engine, cache, RedisCounters.from_url(url), writer, SpendLogs(engine),
        notices=KeyChangeNotices.from_url(url, CHANGES_CHANNEL),
        outage_errors=(SQLAlchemyError, OSError, *REDIS_ERRORS),
    )  # fmt: skip


def _start_background(store: GatewayStore) -> list[asyncio.Task[None]]:
    interval = POLL_SECONDS if store.notices is None else POLL_SECONDS_WITH_REDIS
    errors = store.outage_errors

    async def reset_budgets() -> None:
        await store.reset_budgets(datetime.now(UTC))

    tasks = [
        asyncio.create_task(
            run_every(interval, store.keys.refresh, FailureStreak("key refresh", logger), errors),
            name="key refresh",
        ),
        asyncio.create_task(
            run_every(
                BUDGET_RESET_SECONDS, reset_budgets, FailureStreak("budget reset", logger), errors
            ),
            name="budget reset",
        ),
    ]
    if store.notices is not None:
        follow = store.notices.follow(store.keys, RESUBSCRIBE_SECONDS)
        tasks.append(asyncio.create_task(follow, name="key change notices"))
    return tasks


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_every(
    seconds: float,
    work: Callable[[], Awaitable[object]],
    failures: FailureStreak,
    errors: tuple[type[Exception], ...] = (SQLAlchemyError, OSError),
) -> None:
    """Run ``work`` every ``seconds``; a failure (``errors``: a server down) is logged and tried
    again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except errors as error:
            failures.failed(error)
        else:
            failures.succeeded()
