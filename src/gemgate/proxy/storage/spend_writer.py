"""SpendWriter: `record(row)` returns once the row is durable in the local journal; a background
flusher moves journal rows into the database in batches, retrying with backoff while the
database is slow or down, and replays whatever an earlier process left behind.

A row is never lost once `record` returned: it is on disk until a transaction that stored it
(or found it already stored) has committed, or until it is in a dead-letter file: a batch the
database refuses for what it holds (not an outage) is halved until each refused row is alone,
and those rows are set aside in `rejected/` (see rejected_rows.py) so the rows behind them flow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.journal import Journal, SegmentReader
from gemgate.proxy.storage.rejected_rows import (
    append_rejected,
    is_refusal,
    refusal_reason,
    rejected_file,
)
from gemgate.proxy.storage.spend_batches import insert_spend_rows
from gemgate.proxy.storage.spend_rows import SpendRow, decode_spend_row, encode_spend_row

logger = logging.getLogger(__name__)

# Rows handled between two returns to the event loop (decoding, building statements): a batch is
# milliseconds of CPU, which in one piece would show in every answer's tail latency.
STEP_ROWS = 100


@dataclass(frozen=True, slots=True)
class SpendWriterSettings:
    """How the writer batches and retries."""

    batch_size: int = 500  # rows per transaction; this many new rows also wake the flusher
    flush_interval: float = 1.0  # seconds between flushes when fewer rows arrive
    max_buffered: int = 10_000  # rows waiting for an fsync before record() waits for room
    retry_initial: float = 0.5  # seconds before the first retry of a failed batch, then doubled
    # The longest wait between retries: how long rows may lag once an outage ends. A retry
    # against a database that is down costs one refused connection.
    retry_max: float = 2.0
    final_flush_timeout: float = 5.0  # at shutdown; rows not stored by then stay in the journal


# What the flusher made of rows ("failures" counts failed batches, the others rows).
SpendOutcome = Literal["stored", "duplicates", "unreadable", "failures", "rejected"]
SpendObserver = Callable[[SpendOutcome, int], None]


@dataclass(frozen=True, slots=True)
class SpendWriterStats:
    """Counters since start-up (for metrics and readiness)."""

    recorded: int  # rows made durable by record()
    stored: int  # rows inserted into the database (replayed ones included)
    duplicates: int  # rows the database already had (a replay after a crash)
    unreadable: int  # journal lines that were not spend rows (skipped, logged)
    buffered: int  # rows waiting for the next fsync
    failures: int  # failed database batches (each retried)
    rejected: int  # rows the database refused for good (kept in the journal's rejected/ folder)
    last_error: str | None


class _Stopping(Exception):
    """The writer is closing while a batch waits to be retried: leave it in the journal."""


class SpendWriter:
    """Durable, batched spend logging; open it with `SpendWriter.open`."""

    def __init__(
        self,
        engine: AsyncEngine,
        journal: Journal,
        settings: SpendWriterSettings,
        observer: SpendObserver | None = None,
    ) -> None:
        self._engine = engine
        self._observer = observer
        self._journal = journal
        self._settings = settings
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._progress = asyncio.Condition()
        self._cycles_started = 0
        self._cycles_done = 0
        self._counts = dict.fromkeys(
            ("recorded", "stored", "duplicates", "unreadable", "failures", "rejected"), 0
        )
        self._last_error: str | None = None
        self._closed = False

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        engine: AsyncEngine,
        journal_folder: Path,
        settings: SpendWriterSettings | None = None,
        observer: SpendObserver | None = None,
    ) -> AsyncIterator[SpendWriter]:
        """Open the journal in ``journal_folder``, replay it and keep flushing until exit;
        ``observer`` is told what each batch came to (for metrics)."""
        chosen = settings or SpendWriterSettings()
        async with Journal.open(journal_folder, max_buffered=chosen.max_buffered) as journal:
            writer = cls(engine, journal, chosen, observer)
            writer._wake.set()  # start by replaying what an earlier process left
            flusher = asyncio.create_task(writer._flush_loop(), name="spend flusher")
            try:
                yield writer
            finally:
                await writer._stop(flusher)

    @property
    def journal(self) -> Journal:
        return self._journal

    async def record(self, row: SpendRow) -> None:
        """Journal ``row``; returns once it is on disk (many concurrent calls share one fsync)."""
        await self._journal.append(encode_spend_row(row))
        self._counts["recorded"] += 1
        if self._journal.active_rows >= self._settings.batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Return once every row recorded before this call is in the database.

        Waits as long as the database is down (bound it with asyncio.timeout); raises
        RuntimeError when the writer closes first (the rows then stay in the journal).
        """
        async with self._progress:
            wanted = self._cycles_started + 1
            self._wake.set()
            await self._progress.wait_for(lambda: self._cycles_done >= wanted or self._closed)
            if self._cycles_done < wanted:
                raise RuntimeError("the spend writer closed before these rows were stored")

    def stats(self) -> SpendWriterStats:
        """The counters so far."""
        return SpendWriterStats(
            **self._counts, buffered=self._journal.buffered, last_error=self._last_error
        )

    async def _flush_loop(self) -> None:
        while True:
            if not self._stopping.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.flush_interval)
            self._wake.clear()
            # A cycle begun after closing started is the last: it has every row recorded before
            # (and does not wait out a database outage: its rows stay in the journal).
            is_last = self._stopping.is_set()
            await self._guarded_cycle()
            if is_last:
                return

    async def _guarded_cycle(self) -> None:
        try:
            await self._flush_cycle()
        except _Stopping:
            return
        except Exception:
            # The flusher must outlive any one bad cycle (an unreadable journal file, a bug):
            # the rows wait in the journal and the next cycle tries again.
            logger.exception("spend flush failed; trying again in %.1fs", self._settings.retry_max)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.retry_max)

    async def _flush_cycle(self) -> None:
        self._cycles_started += 1
        started = self._cycles_started
        for segment in await self._journal.seal():
            await self._flush_segment(segment)
        async with self._progress:
            self._cycles_done = started
            self._progress.notify_all()

    async def _flush_segment(self, segment: Path) -> None:
        try:
            reader = await asyncio.to_thread(SegmentReader, segment)
        except OSError as error:
            # Left for a person to look at; the segments after it must not wait for them.
            logger.error("spend journal %s cannot be read (%s); left in place", segment, error)
            return
        try:
            while lines := await asyncio.to_thread(reader.read_lines, self._settings.batch_size):
                await self._store_with_retry(await self._decode(lines, segment), segment)
        finally:
            await asyncio.to_thread(reader.close)
        await self._journal.remove(segment)

    async def _decode(self, lines: list[bytes], segment: Path) -> list[SpendRow]:
        rows = []
        for number, line in enumerate(lines, start=1):
            if number % STEP_ROWS == 0:
                # A batch decodes in ~3 ms: in steps, so requests are served in between.
                await asyncio.sleep(0)
            try:
                rows.append(decode_spend_row(line))
            except ValueError as error:
                self._add("unreadable", 1)
                logger.error("spend journal %s: skipped a line that is not a spend row (%s)", segment.name, error)  # fmt: skip
        return rows

    async def _store_with_retry(self, rows: list[SpendRow], segment: Path) -> None:
        delay = self._settings.retry_initial
        while True:
            rows, error = await self._store_or_set_aside(rows, segment)
            if error is None:
                return
            self._add("failures", 1)
            self._last_error = f"{type(error).__name__}: {error}".splitlines()[0]
            logger.warning(
                "spend rows not stored (%s); they stay in the journal, retrying in %.1fs",
                self._last_error, delay,
            )  # fmt: skip
            if self._stopping.is_set():
                raise _Stopping
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self._settings.retry_max)

    async def _store_or_set_aside(
        self, rows: list[SpendRow], segment: Path
    ) -> tuple[list[SpendRow], Exception | None]:
        """Store ``rows``, each refused one set aside; stops at the first error that is not a
        refusal (an outage) and returns the rows not yet stored or set aside, and that error."""
        pieces = [rows]  # a stack: the piece to try next is last
        while pieces:
            piece = pieces.pop()
            try:
                await self._store(piece)
            except (SQLAlchemyError, OSError) as error:
                if not is_refusal(error):
                    return _joined(piece, pieces), error
                if len(piece) > 1:
                    # Each half in its own transaction: the rows of a half that stores are
                    # stored once; the other half is halved again, down to the refused row.
                    half = len(piece) // 2
                    pieces += (piece[half:], piece[:half])
                    continue
                try:
                    await self._set_aside(piece[0], error, segment)
                except OSError as failure:
                    return _joined(piece, pieces), failure
        return [], None

    async def _set_aside(self, row: SpendRow, refusal: Exception, segment: Path) -> None:
        path = rejected_file(segment)
        await asyncio.to_thread(append_rejected, path, encode_spend_row(row))
        self._add("rejected", 1)
        # The request id and the reason only: the row names a key, a user and what they asked.
        logger.error(
            "spend row %s refused by the database (%s); kept in %s",
            row.request_id, refusal_reason(refusal), path,
        )  # fmt: skip

    async def _store(self, rows: list[SpendRow]) -> None:
        async with self._engine.begin() as connection:
            inserted = await insert_spend_rows(connection, rows)
        self._add("stored", inserted)
        self._add("duplicates", len(rows) - inserted)

    def _add(self, outcome: SpendOutcome, rows: int) -> None:
        """Count the flusher's work (per batch or failure, never per request)."""
        self._counts[outcome] += rows
        if self._observer is not None and rows:
            self._observer(outcome, rows)

    async def _stop(self, flusher: asyncio.Task[None]) -> None:
        self._stopping.set()
        self._wake.set()
        done, _ = await asyncio.wait([flusher], timeout=self._settings.final_flush_timeout)
        if not done:
            logger.warning("spend flush still running at shutdown; its rows stay in the journal")
            flusher.cancel()
            await asyncio.wait([flusher])
        async with self._progress:
            self._closed = True
            self._progress.notify_all()


def _joined(piece: list[SpendRow], pieces: list[list[SpendRow]]) -> list[SpendRow]:
    """``piece`` and the pieces still on the stack, as one batch in journal order."""
    return [*piece, *(row for rest in reversed(pieces) for row in rest)]
