"""Key and team changes announced over Redis pub/sub, so that other gateway instances refresh their
key cache at once instead of at their next poll. Loaded only by gateways configured with Redis."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError

from gemgate.proxy.failure_streak import FailureStreak
from gemgate.proxy.key_cache import KeyCache

# The store's logger, which these lines used before they moved here: operators filter on it.
logger = logging.getLogger("gemgate.proxy.gateway_store")

# What a command to Redis fails with when Redis is down (besides OSError).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError,)


class KeyChangeNotices:
    """Announces changes on one channel and follows the other instances' announcements."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel

    @classmethod
    def from_url(cls, url: str, channel: str) -> KeyChangeNotices:
        """A pooled connection that Redis closed (a restart) fails its next command: that command
        is sent once more, on a new connection, so the first notice after a restart is not lost.
        Only notices go through this client: sending one twice is harmless."""
        retry = Retry(NoBackoff(), retries=1)
        client = redis.Redis.from_url(url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError])  # fmt: skip
        return cls(client, channel)

    async def announce(self) -> None:
        """Tell the other instances that keys or teams changed."""
        try:
            await self._client.publish(self._channel, b"1")
        except RedisError as error:
            logger.warning("could not announce a key change over Redis (%s); others poll", type(error).__name__)  # fmt: skip

    async def follow(self, cache: KeyCache, resubscribe_seconds: float) -> None:
        """Refresh ``cache`` whenever another instance announces a change (runs until cancelled).

        Notices sent while not listening are lost, so the cache is refreshed on each subscribe
        and, while Redis is down, after each attempt to subscribe again: keys stay as fresh as
        without Redis. The outage is logged as a streak (one warning, reminders, a note once
        listening again).
        """
        streak = FailureStreak(
            "key change listener", logger,
            meanwhile=f"keys are polled every {resubscribe_seconds:.0f} s until Redis is back",
        )  # fmt: skip
        while True:
            try:
                await self._listen(cache, streak)
            except (RedisError, OSError) as error:
                streak.failed(error)
            await asyncio.sleep(resubscribe_seconds)
            await _refresh(cache)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _listen(self, cache: KeyCache, streak: FailureStreak) -> None:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(self._channel)
            streak.succeeded()
            # What changed before this subscribe was announced to no one here.
            await _refresh(cache)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await _refresh(cache)


async def _refresh(cache: KeyCache) -> None:
    """The listener's refresh: on a notice, on subscribing, and each second while Redis is down."""
    try:
        await cache.refresh()
    except (SQLAlchemyError, OSError) as error:
        # The database, not Redis, failed: keep listening; the key refresh's own streak reports
        # the outage and its next poll applies the change.
        logger.debug("refresh by the key change listener failed (%s)", type(error).__name__)
