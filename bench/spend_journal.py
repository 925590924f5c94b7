"""Spend logging on the request path: `SpendWriter.record` (fsync'd journal, group commit)
against inserting each row straight into the database (one transaction per request).

Run: python -m bench.spend_journal [--postgres postgresql://…] [--rows 2000]
Each request's row is written by its own task, all at once (a burst of concurrent responses),
then one at a time (a quiet gateway). Latency is from the call until it returned.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.spend_batches import insert_spend_rows
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.spend_writer import SpendWriter, SpendWriterSettings


def make_row(run: str, number: int) -> SpendRow:
    now = datetime.now(UTC)
    return SpendRow(
        request_id=f"{run}-{number}", model="gemini-2.5-flash", route="/v1/chat/completions",
        cost=Decimal("0.0000412500"), start_time=now, end_time=now, key_hash="k" * 64,
        prompt_tokens=120, completion_tokens=45, latency_ms=800, tags=("bench",),
    )  # fmt: skip


async def timed(write: Callable[[SpendRow], Awaitable[None]], rows: list[SpendRow], *, concurrent: bool) -> str:  # fmt: skip
    latencies: list[float] = []

    async def one(row: SpendRow) -> None:
        started = time.perf_counter()
        await write(row)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(one(row) for row in rows))
    else:
        for row in rows:
            await one(row)
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return f"{len(rows) / elapsed:8.0f} rows/s   p50 {cuts[49] * 1000:7.2f} ms   p99 {cuts[98] * 1000:7.2f} ms"  # fmt: skip


async def measure(label: str, url: str, rows: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="gemgate-bench-"))
    async with open_database(url) as engine:

        async def direct(row: SpendRow) -> None:
            async with engine.begin() as connection:
                await insert_spend_rows(connection, [row])

        settings = SpendWriterSettings(flush_interval=0.2)
        async with SpendWriter.open(engine, folder / "journal", settings) as writer:
            await timed(writer.record, [make_row("warm", n) for n in range(100)], concurrent=True)
            before = writer.journal.commits
            burst = await timed(writer.record, [make_row("jb", n) for n in range(rows)], concurrent=True)  # fmt: skip
            commits = writer.journal.commits - before
            quiet = await timed(writer.record, [make_row("jq", n) for n in range(rows // 10)], concurrent=False)  # fmt: skip
            started = time.perf_counter()
            await writer.flush()
            drained = time.perf_counter() - started
        print(f"{label} journal, {rows} concurrent:  {burst}   ({commits} fsyncs)")
        print(f"{label} journal, one at a time:   {quiet}")
        print(f"{label} journal, flushing the backlog to the database took {drained:.2f} s")
        burst = await timed(direct, [make_row("db", n) for n in range(rows)], concurrent=True)
        quiet = await timed(direct, [make_row("dq", n) for n in range(rows // 10)], concurrent=False)  # fmt: skip
        print(f"{label} direct insert, {rows} concurrent: {burst}")
        print(f"{label} direct insert, one at a time:  {quiet}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="postgresql:// URL of an empty database")
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gemgate-bench-"))
    asyncio.run(measure("sqlite", f"sqlite:///{folder / 'bench.db'}", args.rows))
    if args.postgres:
        asyncio.run(measure("postgres", args.postgres, args.rows))


if __name__ == "__main__":
    main()
