"""The spend journal: append-only JSON-lines files on local disk, each line durable (fsync'd)
before `append` returns, many concurrent appends sharing one fsync (group commit).

Layout: one folder; every process claims a numbered *slot* (an flock'd `slot-N.lock`, so
forked workers never share a file) and appends to its active segment `slot-N-SEQUENCE.jsonl`.
`seal` closes the active segment; sealed segments are read back by the flusher and removed once
their rows are in the database. Segments of a slot whose process died are adopted at start-up.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"slot-(\d+)-(\d+)\.jsonl")
_LOCK = re.compile(r"slot-(\d+)\.lock")


@dataclass(slots=True)
class _Segment:
    """The segment being appended to (touched only by the commit thread and under the lock)."""

    path: Path
    descriptor: int
    size: int = 0
    rows: int = 0


class Journal:
    """One process's slot of the journal folder; open it with `Journal.open`."""

    def __init__(self, folder: Path, slot: int, lock: int, max_buffered: int) -> None:
        self._folder = folder
        self._slot = slot
        self._lock_descriptor = lock
        self._max_buffered = max_buffered
        self._sequence = 0
        self._active: _Segment | None = None
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []  # one per pending line, same order
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._file_lock = asyncio.Lock()
        self._closing = False
        self._commits = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, folder: Path, *, max_buffered: int = 10_000) -> AsyncIterator[Journal]:
        """Claim a slot in ``folder`` (made if missing) and adopt orphaned segments.

        ``max_buffered`` lines may wait for the next fsync; further appends wait for room.
        """
        slot, lock = await asyncio.to_thread(_claim_slot, folder)
        journal = cls(folder, slot, lock, max_buffered)
        try:
            await asyncio.to_thread(journal._prepare)
            committer = asyncio.create_task(journal._commit_loop(), name="spend journal")
            try:
                yield journal
            finally:
                journal._closing = True
                journal._wake.set()
                await committer
        finally:
            await asyncio.to_thread(journal._release)

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def slot(self) -> int:
        return self._slot

    @property
    def buffered(self) -> int:
        """Lines waiting for the next fsync."""
        return len(self._pending)

    @property
    def commits(self) -> int:
        """Groups written so far (one fsync each)."""
        return self._commits

    @property
    def active_rows(self) -> int:
        """Lines in the active segment (durable, not yet sealed)."""
        return 0 if self._active is None else self._active.rows

    async def append(self, line: bytes) -> None:
        """Append ``line`` (one JSON document ending in a newline); returns once it is on disk.

        A caller cancelled while it waits does not withdraw its line: it is written all the same
        (a request's spend row outlives a client that leaves as its answer ends).
        Raises OSError when the write or fsync failed; the line is then not in the journal.
        """
        if self._closing:
            raise RuntimeError("the spend journal is closed")
        if len(self._pending) < self._max_buffered:
            # The line is queued before the first await: a caller cancelled from here on only
            # cancels its own waiter, and the commit loop writes the line all the same.
            await self._queue(line)
            return
        # A task queues the line once there is room, whether the caller still waits or not.
        await asyncio.shield(asyncio.ensure_future(self._queue_when_room(line)))

    def _queue(self, line: bytes) -> asyncio.Future[None]:
        # A future per line rather than one per group: awaiting a shared future would need a
        # shield per caller (two more futures and callbacks), or one cancelled caller would
        # cancel the whole group's.
        waiter = self._loop.create_future()
        self._pending.append(line)
        self._waiters.append(waiter)
        self._wake.set()
        return waiter

    async def _queue_when_room(self, line: bytes) -> None:
        while len(self._pending) >= self._max_buffered:
            self._room.clear()
            await self._room.wait()
        await self._queue(line)

    async def seal(self) -> tuple[Path, ...]:
        """Close the active segment; returns every sealed segment of this slot, oldest first."""
        async with self._file_lock:
            if self._active is not None:
                await asyncio.to_thread(os.close, self._active.descriptor)
                self._active = None
            # Listed under the lock: a segment started meanwhile would be taken for sealed, read
            # and removed while rows are still being appended to it.
            return await asyncio.to_thread(self._sealed)

    async def remove(self, segment: Path) -> None:
        """Delete a sealed segment whose rows are all in the database."""
        await asyncio.to_thread(segment.unlink, missing_ok=True)

    async def size_on_disk(self) -> int:
        """Bytes in this slot's segments: rows durable here and not yet in the database."""
        return await asyncio.to_thread(self._size_on_disk)

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._closing:
                    return
                continue
            lines, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            self._room.set()
            # Lines appended while this group is written form the next group: one fsync each.
            try:
                async with self._file_lock:
                    await asyncio.to_thread(self._write, lines)
            except OSError as error:
                logger.error(
                    "spend journal write failed (%s): %d row(s) refused", error, len(lines)
                )
                for waiter in waiters:
                    if not waiter.done():  # a cancelled caller's is done already
                        waiter.set_exception(error)
            else:
                self._commits += 1
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            self._wake.set()  # drain what arrived meanwhile (or finish closing)

    def _write(self, lines: list[bytes]) -> None:
        segment = self._active or self._start_segment()
        data = b"".join(lines)
        try:
            written = 0
            while written < len(data):
                written += os.write(segment.descriptor, data[written:])
            os.fdatasync(segment.descriptor)
        except OSError:
            # Cut a partial write off, so the file keeps whole lines and later appends stay readable.
            with suppress(OSError):
                os.ftruncate(segment.descriptor, segment.size)
            raise
        segment.size += len(data)
        segment.rows += len(lines)

    def _start_segment(self) -> _Segment:
        self._sequence += 1
        path = self._folder / f"slot-{self._slot}-{self._sequence:012d}.jsonl"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        sync_folder(self._folder)  # the new name must survive a crash as well as its lines
        self._active = _Segment(path, descriptor)
        return self._active

    def _prepare(self) -> None:
        own = [sequence for slot, sequence, _ in _segments(self._folder) if slot == self._slot]
        self._sequence = max(own, default=0)
        for orphan in _orphan_slots(self._folder, self._slot):
            self._adopt(orphan)

    def _adopt(self, slot: int) -> None:
        lock = _try_lock(self._folder, slot)
        if lock is None:
            return  # alive after all
        try:
            adopted = sorted((sequence, path) for owner, sequence, path in _segments(self._folder) if owner == slot)  # fmt: skip
            for _, path in adopted:
                self._sequence += 1
                path.rename(self._folder / f"slot-{self._slot}-{self._sequence:012d}.jsonl")
            if adopted:
                sync_folder(self._folder)
                logger.info("spend journal: adopted %d segment(s) of slot %d", len(adopted), slot)
        finally:
            os.close(lock)

    def _sealed(self) -> tuple[Path, ...]:
        active = None if self._active is None else self._active.path
        own = sorted(
            (sequence, path)
            for slot, sequence, path in _segments(self._folder)
            if slot == self._slot and path != active
        )
        return tuple(path for _, path in own)

    def _size_on_disk(self) -> int:
        total = 0
        for slot, _, path in _segments(self._folder):
            if slot == self._slot:
                with suppress(FileNotFoundError):
                    total += path.stat().st_size
        return total

    def _release(self) -> None:
        if self._active is not None:
            os.close(self._active.descriptor)
            self._active = None
        os.close(self._lock_descriptor)


class SegmentReader:
    """Reads a sealed segment back a few lines at a time (a long outage makes large segments)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO = path.open("rb")

    def read_lines(self, limit: int) -> list[bytes]:
        """Up to ``limit`` whole lines; an empty list at the end of the segment."""
        lines: list[bytes] = []
        while len(lines) < limit:
            line = self._file.readline()
            if not line:
                break
            if not line.endswith(b"\n"):
                # Torn by a crash mid-write: its append never returned, so nobody was told it was stored.
                logger.warning("spend journal %s ends in a partial line; skipped", self._path.name)
                break
            lines.append(line)
        return lines

    def close(self) -> None:
        self._file.close()


def _claim_slot(folder: Path) -> tuple[int, int]:
    folder.mkdir(parents=True, exist_ok=True)
    slot = 0
    while True:
        lock = _try_lock(folder, slot)
        if lock is not None:
            return slot, lock
        slot += 1


def _try_lock(folder: Path, slot: int) -> int | None:
    descriptor = os.open(folder / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # flock, not fcntl locks: held per open file, released by the kernel when the owner dies.
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def _orphan_slots(folder: Path, own: int) -> list[int]:
    slots = {slot for slot, _, _ in _segments(folder)}
    for path in folder.iterdir():
        match = _LOCK.fullmatch(path.name)
        if match is not None:
            slots.add(int(match.group(1)))
    return sorted(slots - {own})


def _segments(folder: Path) -> list[tuple[int, int, Path]]:
    found = []
    for path in folder.iterdir():
        match = _SEGMENT.fullmatch(path.name)
        if match is not None:
            found.append((int(match.group(1)), int(match.group(2)), path))
    return found


def sync_folder(folder: Path) -> None:
    """fsync ``folder`` itself, so names made or renamed in it survive a crash."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
