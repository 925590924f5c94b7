"""The key path's steps timed one at a time in one process, apart from machine noise: identify the
caller, admit it, build and journal its spend row, count it, and the flusher's database insert,
with the limit counters in memory and in Redis. Times are per request; CPU counts every thread.

    python -m bench.keys_overhead_steps [--requests 20000]

Run it pinned to one core (`taskset -c 0 python -m bench.keys_overhead_steps`) to compare its
figures with the gateway's CPU per request in `python -m bench.keys_overhead`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import uvloop

from bench.keys_overhead import redis_server
from bench.keys_overhead_variants import KEY_FIELDS
from bench.proxy_load_scenarios import MASTER_KEY
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.callers import Caller, admit, identify
from gemgate.proxy.gateway_store import GatewayStore, StoreSettings, open_gateway_store
from gemgate.proxy.key_requests import KeyFields, key_settings
from gemgate.proxy.limits import Counters
from gemgate.proxy.redis_counters import RedisCounters
from gemgate.proxy.storage.journal import Journal
from gemgate.proxy.storage.key_store import hash_key
from gemgate.proxy.storage.spend_rows import SpendRow, encode_spend_row
from gemgate.proxy.storage.spend_writer import SpendWriter

VIRTUAL_KEY = "sk-bench-" + "v" * 40
COST = Decimal("0.0000079")  # the fixed upstream answer's 1 + 19 tokens on gemini-2.0-flash
TOKENS = 20
CONCURRENCY = 32  # as many requests at once as the gateway benchmark's connections


@dataclass(frozen=True, slots=True)
class Timing:
    step: str
    concurrency: int
    wall_us: float
    cpu_us: float


async def timed(
    step: str, work: Callable[[], Awaitable[object]], requests: int, concurrency: int = 1
) -> Timing:
    """``work`` done ``requests`` times by ``concurrency`` tasks; wall and CPU time per request."""

    async def worker() -> None:
        for _ in range(requests // concurrency):
            await work()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = requests // concurrency * concurrency
    wall_us = (time.perf_counter() - started) * 1e6 / done
    return Timing(step, concurrency, wall_us, (time.process_time() - cpu) * 1e6 / done)


def spend_row(number: int, caller: Caller) -> SpendRow:
    """A row as the ledger makes it for one chat request of ``caller``."""
    now = datetime.now(UTC)
    key = caller.key
    return SpendRow(
        request_id=f"bench-{number}", model="gemini-flash", route="/v1/chat/completions",
        cost=COST, start_time=now, end_time=now, key_hash=caller.key_hash,
        key_alias=key.settings.key_alias if key else None, deployment="gemini-flash-0",
        prompt_tokens=1, completion_tokens=19, latency_ms=1,
    )  # fmt: skip


@asynccontextmanager
async def keyed_store(folder: Path, redis_url: str | None) -> AsyncIterator[GatewayStore]:
    """A gateway store on SQLite in ``folder`` holding the benchmark's virtual key."""
    settings = StoreSettings(f"sqlite:///{folder / 'gemgate.db'}", redis_url, folder / "journal")
    async with open_gateway_store(settings) as store:
        now = datetime.now(UTC)
        fields = KeyFields.model_validate(KEY_FIELDS)
        record = await store.keys.keys.create(hash_key(VIRTUAL_KEY), key_settings(fields, now), now)
        store.keys.remember(record)
        await store.seed_spend()
        yield store


async def caller_steps(store: GatewayStore, requests: int) -> list[Timing]:
    """Identify (master and virtual key), then admit and record against the store's counters."""
    master, now = MasterKey(MASTER_KEY), datetime.now(UTC)
    caller = await identify(VIRTUAL_KEY, master, store.keys, now)
    scopes = [limit.scope for limit in caller.limits()]
    counters: Counters = store.counters
    kind = "Redis" if isinstance(counters, RedisCounters) else "memory"

    async def admit_and_record() -> None:
        await admit(counters, caller, [], datetime.now(UTC))
        await counters.record(scopes, TOKENS, COST, time.time())

    timings = []
    if kind == "memory":
        timings += [
            await timed(
                "identify: master key",
                lambda: identify(MASTER_KEY, master, store.keys, now),
                requests,
            ),  # fmt: skip
            await timed(
                "identify: virtual key",
                lambda: identify(VIRTUAL_KEY, master, store.keys, now),
                requests,
            ),  # fmt: skip
        ]
    for concurrency in (1, CONCURRENCY):
        step = f"admit + record, {kind} counters"
        timings.append(await timed(step, admit_and_record, requests, concurrency))
    return timings


async def spend_steps(store: GatewayStore, folder: Path, requests: int) -> list[Timing]:
    """The charge's spend row and journal append, then the flusher's insert of those rows."""
    caller = await identify(VIRTUAL_KEY, None, store.keys, datetime.now(UTC))
    numbers = itertools.count()

    async def encode() -> None:
        encode_spend_row(spend_row(next(numbers), caller))

    timings = [await timed("spend row + journal line", encode, requests)]
    journal_folder = folder / "timed-journal"
    async with Journal.open(journal_folder) as journal:

        async def append() -> None:
            await journal.append(encode_spend_row(spend_row(next(numbers), caller)))

        step = "spend row + journal append (fsync shared)"
        timings.append(await timed(step, append, requests, CONCURRENCY))
    rows = requests // CONCURRENCY * CONCURRENCY
    # A writer opened on that folder replays it into the database: the flusher's work alone.
    started, cpu = time.perf_counter(), time.process_time()
    async with SpendWriter.open(store.engine, journal_folder) as writer:
        await writer.flush()
    wall_us, cpu_us = (time.perf_counter() - started) * 1e6, (time.process_time() - cpu) * 1e6
    timings.append(Timing("flusher: journal → SQLite, per row", 1, wall_us / rows, cpu_us / rows))
    return timings


async def measure(requests: int, redis_url: str | None) -> list[Timing]:
    """Every step on memory counters, then the counters' steps again on Redis (if given)."""
    async with AsyncExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gemgate-steps-")))
        store = await stack.enter_async_context(keyed_store(folder / "memory", None))
        timings = await caller_steps(store, requests)
        timings += await spend_steps(store, folder, requests)
        if redis_url is not None:
            redis_store = await stack.enter_async_context(keyed_store(folder / "redis", redis_url))
            timings += await caller_steps(redis_store, requests // 4)
    return timings


def report(timings: Sequence[Timing]) -> str:
    """The timings as a markdown table."""
    lines = [
        "| step | at once | wall µs/request | CPU µs/request |",
        "|---|---|---|---|",
        *(f"| {t.step} | {t.concurrency} | {t.wall_us:,.1f} | {t.cpu_us:,.1f} |" for t in timings),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keys_overhead_steps")
    parser.add_argument("--requests", type=int, default=20_000, help="times each step runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gemgate-steps-redis-") as work:
        # Redis beside this process, on whatever core the scheduler gives it.
        with redis_server(Path(work), None) as redis_url:
            timings = uvloop.run(measure(max(args.requests, CONCURRENCY), redis_url))
    print(report(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
