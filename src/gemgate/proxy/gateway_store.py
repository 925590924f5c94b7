"""What the gateway keeps beyond one request: the database (keys, teams, spend), the key cache kept
current in the background, the limit counters (memory or Redis) and the durable spend writer.

Opened once in the app's lifespan. Background work runs in owned tasks, cancelled on exit: the
key cache refresh (polled; at once on a Redis notice from another instance) and budget resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import redis.asyncio as redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.callers import key_scope, team_scope
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.limits import Counters, MemoryCounters
from gemgate.proxy.redis_counters import PREFIX, RedisCounters
from gemgate.proxy.storage.database import async_database_url, default_journal_path, open_database
from gemgate.proxy.storage.key_store import KeyStore
from gemgate.proxy.storage.spend_logs import SpendLogs
from gemgate.proxy.storage.spend_writer import SpendWriter
from gemgate.proxy.storage.team_store import TeamStore

logger = logging.getLogger(__name__)

# Other instances are told of key and team changes on this channel (the message is not used).
CHANGES_CHANNEL = f"{PREFIX}key-changes"
# Seconds between change-feed polls: the bound on how stale a key is without Redis notices.
POLL_SECONDS = 1.0
POLL_SECONDS_WITH_REDIS = 10.0
BUDGET_RESET_SECONDS = 30.0
# While background work keeps failing (database down), a reminder at most this often.
STILL_FAILING_SECONDS = 60.0


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
async def open_gateway_store(settings: StoreSettings) -> AsyncIterator[GatewayStore]:
    """Open the database (migrated), load the keys, start the background work; stop it on exit."""
    url = async_database_url(settings.database_url)
    async with AsyncExitStack() as stack:
        engine = await stack.enter_async_context(open_database(url))
        journal = settings.journal_folder or default_journal_path(url)
        writer = await stack.enter_async_context(SpendWriter.open(engine, journal))
        client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
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


def _start_background(store: GatewayStore) -> list[asyncio.Task[None]]:
    interval = POLL_SECONDS if store.redis_client is None else POLL_SECONDS_WITH_REDIS

    async def reset_budgets() -> None:
        await store.reset_budgets(datetime.now(UTC))

    tasks = [
        asyncio.create_task(
            run_every(interval, store.keys.refresh, FailureStreak("key refresh")),
            name="key refresh",
        ),
        asyncio.create_task(
            run_every(BUDGET_RESET_SECONDS, reset_budgets, FailureStreak("budget reset")),
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


@dataclass(slots=True)
class FailureStreak:
    """Logs a run of failures of one background job: a warning when it starts, a reminder at most
    every ``remind_every`` seconds while it lasts (debug otherwise), and how long it lasted."""

    name: str
    remind_every: float = STILL_FAILING_SECONDS
    clock: Callable[[], float] = time.monotonic
    _started: float | None = field(default=None, init=False)
    _reminded: float = field(default=0.0, init=False)

    def failed(self, error: BaseException) -> None:
        """Note one more failure; only its first and the periodic reminders are warnings."""
        now, reason = self.clock(), type(error).__name__
        if self._started is None:
            self._started = self._reminded = now
            logger.warning("%s failed (%s); retrying quietly until it recovers", self.name, reason)
        elif now - self._reminded >= self.remind_every:
            self._reminded = now
            logger.warning("%s has been failing for %.0f s (%s)", self.name, now - self._started, reason)  # fmt: skip
        else:
            logger.debug("%s failed again (%s)", self.name, reason)

    def succeeded(self) -> None:
        """Note a success: ends the streak, if there was one."""
        if self._started is not None:
            logger.info("%s recovered after %.0f s", self.name, self.clock() - self._started)
            self._started = None


async def _follow_changes(client: redis.Redis, cache: KeyCache) -> None:
    """Refresh the key cache whenever another instance announces a change."""
    while True:
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(CHANGES_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await cache.refresh()
        except (RedisError, SQLAlchemyError, OSError) as error:
            logger.warning("key change notices interrupted (%s); resubscribing", type(error).__name__)  # fmt: skip
            await asyncio.sleep(1.0)
