"""The change feed of keys and teams: each change takes the next revision of its kind, deletes
leave tombstones, and a cache asks for what changed since the revision it last saw."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gemgate.proxy.storage.tables import revisions, tombstones

KEYS = "keys"
TEAMS = "teams"


async def next_revision(connection: AsyncConnection, kind: str) -> int:
    """Take the next revision of ``kind`` for the changes of this transaction.

    The counter row stays locked until commit, so revisions become visible in the order they
    were taken: a reader that saw revision n has seen every change numbered n or less.
    """
    result = await connection.execute(
        update(revisions)
        .where(revisions.c.name == kind)
        .values(revision=revisions.c.revision + 1)
        .returning(revisions.c.revision)
    )
    revision: int = result.scalar_one()
    return revision


async def current_revision(connection: AsyncConnection, kind: str) -> int:
    """The last revision of ``kind`` taken by a committed change."""
    result = await connection.execute(select(revisions.c.revision).where(revisions.c.name == kind))
    revision: int = result.scalar_one()
    return revision


async def changed_rows(
    connection: AsyncConnection, table: Table, kind: str, since: int
) -> tuple[int, Sequence[Row[tuple[object, ...]]], tuple[str, ...]]:
    """(revision now, rows of ``table`` changed after ``since``, ids deleted after it).

    The revision is read first: rows changed later may come too, and come again next time.
    """
    revision = await current_revision(connection, kind)
    rows = (await connection.execute(select(table).where(table.c.revision > since))).all()
    deleted = await connection.execute(
        select(tombstones.c.record_id).where(
            tombstones.c.kind == kind, tombstones.c.revision > since
        )
    )
    return revision, rows, tuple(deleted.scalars())


async def bury(connection: AsyncConnection, kind: str, record_id: str, revision: int) -> None:
    """Record that ``record_id`` was deleted at ``revision``."""
    await unbury(connection, kind, record_id)
    await connection.execute(
        tombstones.insert().values(kind=kind, record_id=record_id, revision=revision)
    )


async def unbury(connection: AsyncConnection, kind: str, record_id: str) -> None:
    """Forget a deletion: ``record_id`` exists again."""
    await connection.execute(
        delete(tombstones).where(tombstones.c.kind == kind, tombstones.c.record_id == record_id)
    )
