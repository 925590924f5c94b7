"""Spend rows the database refuses for good: telling such a refusal (a data error) from an outage,
and the dead-letter files in the journal's `rejected/` folder that keep those rows.

A dead-letter file is named like the segment its rows came from (`slot-N-SEQUENCE.jsonl`) and
holds journal lines, so moved back into the journal folder it is a segment like any other.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from gemgate.proxy.storage.journal import sync_folder

REJECTED_FOLDER = "rejected"
# SQLSTATE classes of rows no retry will get in: 22 data exception (a value out of range, a NUL
# in text), 23 integrity constraint violation (check, foreign key, not null). Every other class
# can heal and is waited out: 08 connection, 40 rollback, 53 resources (disk full), 57 shutdown,
# 42 a schema not migrated yet.
_REFUSING_CLASSES = ("22", "23")


def is_refusal(error: BaseException) -> bool:
    """Whether the database refused the rows for what they hold, so retrying cannot help."""
    if not isinstance(error, DBAPIError):
        return False  # a refused connection, a pool timeout, a failed disk write: an outage
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _REFUSING_CLASSES
    # SQLite has no SQLSTATE; its driver raises IntegrityError for a constraint or a trigger's
    # RAISE and DataError for a value too big, but OperationalError when locked, full or failing.
    return isinstance(error, IntegrityError | DataError)


def refusal_reason(error: BaseException) -> str:
    """The database's reason in one line, without the statement or its values."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    sqlstate = getattr(cause, "sqlstate", None)
    code = f" {sqlstate}" if isinstance(sqlstate, str) else ""
    first_line = next(iter(str(cause).splitlines()), "")
    return f"{type(cause).__name__}{code}: {first_line}"


def rejected_file(segment: Path) -> Path:
    """Where the refused rows of the journal segment ``segment`` are kept."""
    return segment.parent / REJECTED_FOLDER / segment.name


def append_rejected(path: Path, lines: bytes) -> None:
    """Append journal ``lines`` to the dead-letter file ``path``; returns once they (and the
    file's name) are on disk. Blocking: run it in a thread."""
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(exist_ok=True)
        sync_folder(folder.parent)
    is_new = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        _append_whole(descriptor, lines)
    finally:
        os.close(descriptor)
    if is_new:
        sync_folder(folder)


def _append_whole(descriptor: int, data: bytes) -> None:
    size = os.fstat(descriptor).st_size
    try:
        written = 0
        while written < len(data):
            written += os.write(descriptor, data[written:])
        os.fdatasync(descriptor)
    except OSError:
        # Cut a partial line off: the rows stay in the journal and are appended again later.
        with suppress(OSError):
            os.ftruncate(descriptor, size)
        raise
