"""The counters of limits.py kept in Redis, so that every gateway instance counts against one total.

An admission is one Lua script (atomic in Redis: a check of every scope, then the increments),
so limits hold exactly across instances at the cost of one round trip for a limited request.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import redis.asyncio as redis

from gemgate.proxy.limits import (
    NANOS_PER_DOLLAR,
    WINDOW_SECONDS,
    Limit,
    Reason,
    Refusal,
    as_nanos,
    refusal_for,
    window_of,
)

PREFIX = "gemgate:"
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


def window_key(kind: str, scope: str, index: int) -> str:
    return f"{PREFIX}{kind}:{scope}:{index}"


def spend_key(scope: str) -> str:
    return f"{PREFIX}spend:{scope}"


def _limit_args(limit: Limit) -> list[int]:
    values = (limit.rpm, limit.tpm, limit.budget_nanos)
    return [_NO_LIMIT if value is None else value for value in values]


class RedisCounters:
    """`Counters` in one Redis, shared by every instance that points at it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._admit = client.register_script(_ADMIT)

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
        refused = int(await self._admit(keys=keys, args=args))
        if refused == 0:
            return None
        scope, reason = divmod(refused - 1, 3)
        return refusal_for(limits[scope], _REASONS[reason], now)

    async def record(self, scopes: Sequence[str], tokens: int, cost: Decimal, now: float) -> None:
        index, nanos = window_of(now), as_nanos(cost)
        async with self._client.pipeline(transaction=False) as pipe:
            for scope in scopes:
                key = window_key("tpm", scope, index)
                pipe.incrby(key, tokens)
                pipe.expire(key, _WINDOW_TTL)
                pipe.incrby(spend_key(scope), nanos)
            await pipe.execute()

    async def set_spend(self, scope: str, spend: Decimal, *, only_if_unset: bool) -> None:
        await self._client.set(spend_key(scope), as_nanos(spend), nx=only_if_unset)

    async def spend(self, scope: str) -> Decimal:
        value = await self._client.get(spend_key(scope))
        return Decimal(int(value or 0)) / NANOS_PER_DOLLAR

    async def aclose(self) -> None:
        await self._client.aclose()
