"""The counters of limits.py kept in Redis, so that every gateway instance counts against one total.

An admission is one Lua script (atomic in Redis: a check of every scope, then the increments),
so limits hold exactly across instances. The commands of concurrent requests share round trips:
while one pipeline is in flight, the next requests' commands queue and go together in the next
(each script still runs atomically, in the order sent). In redis-py a round trip costs the
gateway 70-85 µs of CPU, two per limited request; shared by 32 requests at once, admitting and
recording one cost about 55 µs instead of 130 (`python -m bench.keys_overhead_steps`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError

from gemgate.proxy.limits import (
    NANOS_PER_DOLLAR,
    REDIS_PREFIX,
    WINDOW_SECONDS,
    Limit,
    Reason,
    Refusal,
    as_nanos,
    refusal_for,
    window_of,
)

# A window's counters outlive it by a minute, so clocks a little apart still read the same one.
_WINDOW_TTL = 2 * WINDOW_SECONDS
_NO_LIMIT = -1
# Connections to Redis per gateway process; requests beyond it wait their turn.
POOL_SIZE = 64
_REASONS: tuple[Reason, ...] = ("rpm", "tpm", "budget")

# KEYS: per scope its requests, tokens and spend counters. ARGV: the window's ttl, then per scope
# its rpm, tpm and budget (-1: none). Returns 0 when admitted, else 3 * scope + reason + 1.
_ADMIT = """
local scopes = #KEYS / 3
for i = 0, scopes - 1 do
  for j = 1, 3 do
    local limit = tonumber(ARGV[1 + i * 3 + j])
    if limit >= 0 and tonumber(redis.call('GET', KEYS[i * 3 + j]) or '0') >= limit then
      return i * 3 + j
    end
  end
end
for i = 0, scopes - 1 do
  if tonumber(ARGV[2 + i * 3]) >= 0 then
    redis.call('INCR', KEYS[i * 3 + 1])
    redis.call('EXPIRE', KEYS[i * 3 + 1], ARGV[1])
  end
end
return 0
"""


Command = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class _Queued:
    """One caller's commands, and where their replies (or the failure to send them) go."""

    commands: Sequence[Command]
    replies: asyncio.Future[list[Any] | BaseException]


class SharedPipelines:
    """Sends the commands of concurrent callers in one pipeline, one pipeline in flight at a time."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._queued: list[_Queued] = []
        self._sender: asyncio.Task[None] | None = None

    async def send(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to ``commands``, in order; a command Redis refused has its error as reply.

        Raises RedisError or OSError when the pipeline could not be sent or read.
        """
        queued = _Queued(commands, asyncio.get_running_loop().create_future())
        self._queued.append(queued)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_queued(), name="redis counters")
        # Shielded: a caller that leaves must not cancel the round trip its neighbours share.
        replies = await asyncio.shield(queued.replies)
        if isinstance(replies, BaseException):
            raise replies
        return replies

    async def aclose(self) -> None:
        """Wait for the pipeline in flight (and those queued behind it)."""
        if self._sender is not None:
            await self._sender

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await self._send_batch(batch)
        except asyncio.CancelledError as error:
            batch, self._queued = self._queued, []
            _deliver(batch, error)
            raise
        finally:
            self._sender = None

    async def _send_batch(self, batch: list[_Queued]) -> None:
        replies: list[Any] | BaseException
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for queued in batch:
                    for command in queued.commands:
                        pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError as error:
            _deliver(batch, error)  # the loop is closing: nobody waits for an answer forever
            raise
        except Exception as error:
            # Raised by each caller of the batch (RedisError, OSError, or a bug): none hangs.
            replies = error
        _deliver(batch, replies)


def _deliver(batch: list[_Queued], replies: list[Any] | BaseException) -> None:
    """Give each caller of ``batch`` its share of ``replies`` (or the one failure)."""
    start = 0
    for queued in batch:
        end = start + len(queued.commands)
        share = replies if isinstance(replies, BaseException) else replies[start:end]
        if not queued.replies.done():  # delivered as a value: no "exception never retrieved"
            queued.replies.set_result(share)
        start = end


def _raise_errors(replies: Sequence[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def window_key(kind: str, scope: str, index: int) -> str:
    return f"{REDIS_PREFIX}{kind}:{scope}:{index}"


def spend_key(scope: str) -> str:
    return f"{REDIS_PREFIX}spend:{scope}"


def _limit_args(limit: Limit) -> list[int]:
    values = (limit.rpm, limit.tpm, limit.budget_nanos)
    return [_NO_LIMIT if value is None else value for value in values]


class RedisCounters:
    """`Counters` in one Redis, shared by every instance that points at it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pipelines = SharedPipelines(client)
        self._admit_sha = client.register_script(_ADMIT).sha

    @classmethod
    def from_url(cls, url: str) -> RedisCounters:
        """Counters on the Redis at ``url``; a burst waits for one of the pooled connections."""
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=5.0, socket_timeout=5.0,
            socket_connect_timeout=5.0,
        )  # fmt: skip
        return cls(redis.Redis.from_pool(pool))

    async def admit(self, limits: Sequence[Limit], now: float) -> Refusal | None:
        if not limits:
            return None
        index = window_of(now)
        keys: list[str] = []
        args: list[int] = [_WINDOW_TTL]
        for limit in limits:
            keys += [window_key("rpm", limit.scope, index), window_key("tpm", limit.scope, index),
                     spend_key(limit.scope)]  # fmt: skip
            args += _limit_args(limit)
        command: Command = ("EVALSHA", self._admit_sha, len(keys), *keys, *args)
        [reply] = await self._pipelines.send([command])
        if isinstance(reply, NoScriptError):
            # A new, restarted or flushed Redis lacks the script: load it and ask again, in one
            # round trip (and one connection, however many requests found it missing at once).
            _, reply = await self._pipelines.send([("SCRIPT", "LOAD", _ADMIT), command])
        _raise_errors([reply])
        refused = int(reply)
        if refused == 0:
            return None
        scope, reason = divmod(refused - 1, 3)
        return refusal_for(limits[scope], _REASONS[reason], now)

    async def record(self, scopes: Sequence[str], tokens: int, cost: Decimal, now: float) -> None:
        index, nanos = window_of(now), as_nanos(cost)
        commands: list[Command] = []
        for scope in scopes:
            key = window_key("tpm", scope, index)
            commands += [
                ("INCRBY", key, tokens), ("EXPIRE", key, _WINDOW_TTL),
                ("INCRBY", spend_key(scope), nanos),
            ]  # fmt: skip
        if commands:
            _raise_errors(await self._pipelines.send(commands))

    async def set_spend(self, scope: str, spend: Decimal, *, only_if_unset: bool) -> None:
        await self._client.set(spend_key(scope), as_nanos(spend), nx=only_if_unset)

    async def spend(self, scope: str) -> Decimal:
        value = await self._client.get(spend_key(scope))
        return Decimal(int(value or 0)) / NANOS_PER_DOLLAR

    async def aclose(self) -> None:
        await self._pipelines.aclose()
        await self._client.aclose()
