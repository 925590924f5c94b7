"""Per-minute request/token limits and budgets, in memory and in a real Redis, counted exactly."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from gemgate.proxy.limits import Counters, Limit, MemoryCounters, Refusal, as_nanos, seconds_left
from gemgate.proxy.redis_counters import RedisCounters
from tests.redis_server import redis_url  # noqa: F401  (the fixture)

NOW = 1_800_000_010.0  # 10 s into a minute
_SCOPES = itertools.count()


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    made: Counters = (
        MemoryCounters()
        if request.param == "memory"
        else RedisCounters.from_url(request.getfixturevalue("redis_url"))
    )
    yield made
    await made.aclose()


def scope(name: str) -> str:
    """A scope no other test (or earlier run against the same Redis) has counted."""
    return f"test:{name}:{next(_SCOPES)}:{id(object())}"


async def test_requests_over_the_rpm_limit_are_refused_until_the_next_minute(counters: Counters) -> None:  # fmt: skip
    limit = Limit(scope("key"), rpm=3)
    results = [await counters.admit([limit], NOW) for _ in range(5)]
    assert results[:3] == [None, None, None]
    assert results[3] == Refusal(limit.scope, "rpm", seconds_left(NOW)) == results[4]
    assert results[3] is not None and results[3].retry_after == 50.0
    assert await counters.admit([limit], NOW + 50) is None


async def test_concurrent_requests_admit_exactly_the_limit(counters: Counters) -> None:
    limit = Limit(scope("key"), rpm=25)
    results = await asyncio.gather(*(counters.admit([limit], NOW) for _ in range(100)))
    assert sum(result is None for result in results) == 25


async def test_a_refusal_by_one_scope_counts_against_none(counters: Counters) -> None:
    key, deployment = Limit(scope("key"), rpm=10), Limit(scope("deployment"), rpm=1)
    assert await counters.admit([key, deployment], NOW) is None
    refused = await counters.admit([key, deployment], NOW)
    assert refused is not None and refused.scope == deployment.scope
    # Only the admitted request was counted against the key: nine remain.
    admitted = [await counters.admit([key], NOW) for _ in range(10)]
    assert admitted.count(None) == 9


async def test_tokens_over_the_tpm_limit_refuse_the_next_request(counters: Counters) -> None:
    limit = Limit(scope("key"), tpm=100)
    assert await counters.admit([limit], NOW) is None
    await counters.record([limit.scope], 60, Decimal(0), NOW)
    assert await counters.admit([limit], NOW) is None
    await counters.record([limit.scope], 40, Decimal(0), NOW)
    refused = await counters.admit([limit], NOW)
    assert refused is not None and refused.reason == "tpm"
    assert await counters.admit([limit], NOW + 60) is None


async def test_spend_reaching_the_budget_refuses_without_a_retry_time(counters: Counters) -> None:
    limit = Limit(scope("key"), max_budget=Decimal("0.01"))
    await counters.record([limit.scope], 10, Decimal("0.004"), NOW)
    assert await counters.admit([limit], NOW) is None
    await counters.record([limit.scope], 10, Decimal("0.006"), NOW)
    assert await counters.admit([limit], NOW) == Refusal(limit.scope, "budget", None)
    assert await counters.spend(limit.scope) == Decimal("0.01")


async def test_spend_is_added_exactly_under_concurrency(counters: Counters) -> None:
    name = scope("team")
    cost = Decimal("0.000123457")
    await asyncio.gather(*(counters.record([name], 1, cost, NOW) for _ in range(200)))
    assert await counters.spend(name) == cost * 200


async def test_seeded_spend_does_not_overwrite_counted_spend(counters: Counters) -> None:
    name = scope("key")
    await counters.set_spend(name, Decimal("2"), only_if_unset=True)
    await counters.set_spend(name, Decimal("5"), only_if_unset=True)
    assert await counters.spend(name) == Decimal("2")
    await counters.set_spend(name, Decimal("0"), only_if_unset=False)
    assert await counters.spend(name) == Decimal("0")


@pytest.mark.parametrize(
    ("dollars", "nanos"),
    [(Decimal("1"), 10**9), (Decimal("0.0000000001"), 1), (Decimal("0"), 0), (Decimal("1.5"), 1_500_000_000)],
)  # fmt: skip
def test_spend_is_counted_in_nano_dollars_rounded_up(dollars: Decimal, nanos: int) -> None:
    assert as_nanos(dollars) == nanos


async def test_two_instances_sharing_redis_share_one_limit(redis_url: str) -> None:  # noqa: F811
    first, second = RedisCounters.from_url(redis_url), RedisCounters.from_url(redis_url)
    limit = Limit(scope("key"), rpm=10)
    try:
        results = await asyncio.gather(
            *(counter.admit([limit], NOW) for counter in (first, second) for _ in range(15))
        )
    finally:
        await first.aclose()
        await second.aclose()
    assert sum(result is None for result in results) == 10
