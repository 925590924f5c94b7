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

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.callers import key_scope, team_scope
from gemgate.proxy.failure_streak import FailureStreak
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.limits import Counters, MemoryCounters
from gemgate.proxy.redis_counters import PREFIX, RedisCounters
from gemgate.proxy.storage.database import async_database_url, default_journal_path, open_database
from gemgate.proxy.storage.key_store import KeyStore
from gemgate.proxy.storage.spend_logs import SpendLogs
from gemgate.proxy.storage.spend_writer import SpendObserver, SpendWriter
from gemgate.proxy.storage.team_store import TeamStore

logger = logging.getLogger(__name__)

# Other instances are told of key and team changes on this channel (the message is not used).
CHANGES_CHANNEL = f"{PREFIX}key-changes"
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
    redis_client: redis.Redis | None = None

    async def announce_change(self) -> None:
        """Tell other instances that keys or teams changed (they refresh at once)."""
        if self.redis_client is None:
            return
        try:
            await self.redis_client.publish(CHANGES_CHANNEL, b"1")
        except RedisError as error:
            logger.warning("could not announce a key change over Redis (%s); others poll", type(error).__name__)  # fmt: skip

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
        client = _notices_client(settings.redis_url) if settings.redis_url else None
        counters: Counters = RedisCounters.from_url(settings.redis_url) if settings.redis_url else MemoryCounters()  # fmt: skip
        stack.push_async_callback(counters.aclose)
        if client is not None:
            stack.push_async_callback(client.aclose)
        cache = KeyCache(KeyStore(engine), TeamStore(engine))
        store = GatewayStore(engine, cache, counters, writer, SpendLogs(engine), client)
        await cache.load()
        await store.seed_spend()
        tasks = _start_background(store)
        stack.push_async_callback(_stop, tasks)
        yield store


def _notices_client(url: str) -> redis.Redis:
    """The client of change notices. A pooled connection that Redis closed (a restart) fails
    its next command: that command is sent once more, on a new connection, so the first notice
    after a restart is not lost. Only notices go through it: sending one twice is harmless."""
    retry = Retry(NoBackoff(), retries=1)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError])  # fmt: skip


def _start_background(store: GatewayStore) -> list[asyncio.Task[None]]:
    interval = POLL_SECONDS if store.redis_client is None else POLL_SECONDS_WITH_REDIS

    async def reset_budgets() -> None:
        await store.reset_budgets(datetime.now(UTC))

    tasks = [
        asyncio.create_task(
            run_every(interval, store.keys.refresh, FailureStreak("key refresh", logger)),
            name="key refresh",
        ),
        asyncio.create_task(
            run_every(BUDGET_RESET_SECONDS, reset_budgets, FailureStreak("budget reset", logger)),
            name="budget reset",
        ),
    ]
    if store.redis_client is not None:
        follow = _follow_changes(store.redis_client, store.keys)
        tasks.append(asyncio.create_task(follow, name="key change notices"))
    return tasks


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_every(
    seconds: float, work: Callable[[], Awaitable[object]], failures: FailureStreak
) -> None:
    """Run ``work`` every ``seconds``; a failure (database down) is logged and tried again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except (SQLAlchemyError, OSError, RedisError) as error:
            failures.failed(error)
        else:
            failures.succeeded()


async def _follow_changes(client: redis.Redis, cache: KeyCache) -> None:
    """Refresh the key cache whenever another instance announces a change.

    Notices sent while not listening are lost, so the cache is refreshed on each subscribe and,
    while Redis is down, after each attempt to subscribe again: keys stay as fresh as without
    Redis. The outage is logged as a streak (one warning, reminders, a note once listening again).
    """
    streak = FailureStreak(
        "key change listener", logger,
        meanwhile=f"keys are polled every {RESUBSCRIBE_SECONDS:.0f} s until Redis is back",
    )  # fmt: skip
    while True:
        try:
            await _listen(client, cache, streak)
        except (RedisError, OSError) as error:
            streak.failed(error)
        await asyncio.sleep(RESUBSCRIBE_SECONDS)
        await _listener_refresh(cache)


async def _listen(client: redis.Redis, cache: KeyCache, streak: FailureStreak) -> None:
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(CHANGES_CHANNEL)
        streak.succeeded()
        # What changed before this subscribe was announced to no one here.
        await _listener_refresh(cache)
        async for message in pubsub.listen():
            if message.get("type") == "message":
                await _listener_refresh(cache)


async def _listener_refresh(cache: KeyCache) -> None:
    """The listener's refresh: on a notice, on subscribing, and each second while Redis is down."""
    try:
        await cache.refresh()
    except (SQLAlchemyError, OSError) as error:
        # The database, not Redis, failed: keep listening; the key refresh's own streak reports
        # the outage and its next poll applies the change.
        logger.debug("refresh by the key change listener failed (%s)", type(error).__name__)
