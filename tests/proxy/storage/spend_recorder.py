"""A process that records spend rows until it is killed, printing each request id as soon as its
record() returned: what the crash test kills with SIGKILL.

Usage: python spend_recorder.py DATABASE_URL JOURNAL_FOLDER
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.spend_writer import SpendWriter, SpendWriterSettings

CONCURRENCY = 50
# Never flush on its own: every row the test finds later came from replaying the journal.
NO_FLUSHING = SpendWriterSettings(flush_interval=3600, batch_size=10**9)


async def record_forever(writer: SpendWriter, numbers: itertools.count[int]) -> None:
    for number in numbers:
        now = datetime.now(UTC)
        row = SpendRow(
            request_id=f"crash-{number}", model="gemini-2.5-flash", route="/v1/chat/completions",
            cost=Decimal("0.001"), start_time=now, end_time=now, key_hash="crash-key",
            tags=("crash",),
        )  # fmt: skip
        await writer.record(row)
        print(row.request_id, flush=True)


async def main(database_url: str, journal: Path) -> None:
    async with open_database(database_url) as engine:
        async with SpendWriter.open(engine, journal, NO_FLUSHING) as writer:
            await writer.flush()  # the start-up replay, done before the first row comes
            numbers = itertools.count()
            await asyncio.gather(*(record_forever(writer, numbers) for _ in range(CONCURRENCY)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
