"""RedisCounters' shared pipelines: concurrent callers share round trips, each gets its own replies
and errors, a caller leaving cancels nobody else's commands, and a flushed script is reloaded."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gemgate.proxy.limits import Limit
from gemgate.proxy.redis_counters import RedisCounters, SharedPipelines
from tests.redis_server import redis_url  # noqa: F401  (the fixture)
from tests.servers import free_port

NOW = 1_800_000_010.0
_NAMES = itertools.count()


def unique(name: str) -> str:
    """A Redis key no other test (or earlier run against the same Redis) has used."""
    return f"test:shared:{name}:{next(_NAMES)}:{id(object())}"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:  # noqa: F811
    made = redis.Redis.from_url(redis_url)
    yield made
    await made.aclose()


async def test_each_concurrent_caller_gets_the_replies_to_its_own_commands(client: redis.Redis) -> None:  # fmt: skip
    pipelines = SharedPipelines(client)
    keys = [unique("count") for _ in range(40)]
    replies = await asyncio.gather(
        *(pipelines.send([("INCRBY", key, n), ("INCRBY", key, n)]) for n, key in enumerate(keys))
    )
    await pipelines.aclose()
    assert replies == [[n, 2 * n] for n in range(40)]


async def test_a_refused_command_is_its_caller_s_error_only(client: redis.Redis) -> None:
    pipelines = SharedPipelines(client)
    text, number = unique("text"), unique("number")
    await client.set(text, "not a number")
    refused, counted = await asyncio.gather(
        pipelines.send([("INCRBY", text, 1)]), pipelines.send([("INCRBY", number, 1)])
    )
    await pipelines.aclose()
    assert isinstance(refused[0], ResponseError) and counted == [1]


async def test_a_caller_that_leaves_does_not_cancel_its_neighbours_commands(client: redis.Redis) -> None:  # fmt: skip
    pipelines = SharedPipelines(client)
    key = unique("count")
    callers = [asyncio.create_task(pipelines.send([("INCRBY", key, 1)])) for _ in range(10)]
    await asyncio.sleep(0)  # all queued; the first pipeline is on its way
    callers[0].cancel()
    done = await asyncio.gather(*callers[1:])
    await pipelines.aclose()
    assert sorted(reply for [reply] in done) == list(range(2, 11))
    assert int(await client.get(key) or 0) == 10


async def test_concurrent_admissions_share_one_connection(redis_url: str, client: redis.Redis) -> None:  # noqa: F811  # fmt: skip
    await client.script_flush()  # every admission below finds the script missing at first
    before = (await client.info("clients"))["connected_clients"]
    counters = RedisCounters.from_url(redis_url)
    limit = Limit(unique("key"), rpm=1000)
    try:
        results = await asyncio.gather(*(counters.admit([limit], NOW) for _ in range(50)))
        during = (await client.info("clients"))["connected_clients"]
    finally:
        await counters.aclose()
    assert results == [None] * 50
    assert during - before <= 1


async def test_an_admission_after_the_scripts_were_flushed_loads_the_script_again(redis_url: str, client: redis.Redis) -> None:  # noqa: F811  # fmt: skip
    counters = RedisCounters.from_url(redis_url)
    limit = Limit(unique("key"), rpm=2)
    try:
        first = await counters.admit([limit], NOW)
        await client.script_flush()
        second, third = [await counters.admit([limit], NOW) for _ in range(2)]
    finally:
        await counters.aclose()
    assert first is None and second is None
    assert third is not None and third.reason == "rpm"


async def test_an_unreachable_redis_is_an_error_not_a_hang() -> None:
    counters = RedisCounters.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(counters.admit([Limit(unique("key"), rpm=1)], NOW), 10)
    finally:
        await counters.aclose()
