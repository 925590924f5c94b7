"""RecordStore: records of one kind (keys or teams) created, read, changed, deleted, listed and
followed through the change feed, with their budgets and spend; every method is one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gemgate.proxy.storage import change_feed
from gemgate.proxy.storage.budget_periods import BudgetDuration, first_reset
from gemgate.proxy.storage.budget_resets import reset_due_budgets, reset_time_after_change
from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.cursors import Cursor, older_than
from gemgate.proxy.storage.database import reading
from gemgate.proxy.storage.record_kinds import R, RecordKind, S


@dataclass(frozen=True, slots=True)
class Changes(Generic[R]):
    """Records changed (or all records) up to `revision`, and the ids of records deleted."""

    revision: int
    changed: tuple[R, ...]
    deleted: tuple[str, ...] = ()


class RecordStore(Generic[S, R]):
    """Records of one kind in the database; every method is one transaction."""

    def __init__(self, engine: AsyncEngine, kind: RecordKind[S, R]) -> None:
        self._engine = engine
        self._reader = reading(engine)
        self._kind = kind

    async def create(self, record_id: str, settings: S, now: datetime) -> R:
        """Store a new record; raises RecordExists when its id (or its alias) is taken."""
        kind = self._kind
        values = kind.columns(settings) | {
            kind.identity.name: record_id, "spend": Decimal(0),
            "budget_reset_at": _first_reset(settings.budget_duration, now),
            "created_at": now, "updated_at": now,
        }  # fmt: skip
        try:
            async with self._engine.begin() as connection:
                values["revision"] = await change_feed.next_revision(connection, kind.feed)
                await change_feed.unbury(connection, kind.feed, record_id)
                await connection.execute(kind.table.insert().values(values))
        except IntegrityError as error:
            raise RecordExists(kind.conflict(record_id, settings)) from error
        return kind.stored(values, settings)

    async def get(self, record_id: str) -> R | None:
        """The record stored under ``record_id``, or None."""
        kind = self._kind
        async with self._reader.connect() as connection:
            result = await connection.execute(select(kind.table).where(kind.identity == record_id))
            row = result.one_or_none()
        return None if row is None else kind.read(row)

    async def update(self, record_id: str, settings: S, now: datetime) -> R | None:
        """Replace the record's settings (spend is kept); None when there is no such record.

        A new budget_duration starts a new budget period from ``now``.
        """
        try:
            async with self._engine.begin() as connection:
                return await self._update(connection, record_id, settings, now)
        except IntegrityError as error:
            raise RecordExists(self._kind.conflict(record_id, settings)) from error

    async def delete(self, record_id: str) -> bool:
        """Delete the record; False when there was none."""
        kind = self._kind
        async with self._engine.begin() as connection:
            revision = await change_feed.next_revision(connection, kind.feed)
            result = await connection.execute(delete(kind.table).where(kind.identity == record_id))
            if not result.rowcount:
                return False
            await change_feed.bury(connection, kind.feed, record_id, revision)
            return True

    async def load_all(self) -> Changes[R]:
        """Every record (blocked and expired ones too, so the gateway can say why it refuses them)."""
        return await self.changed_since(0)

    async def changed_since(self, revision: int) -> Changes[R]:
        """Records created or changed after ``revision``, those deleted after it, the revision now."""
        kind = self._kind
        async with self._reader.connect() as connection:
            now_at, rows, deleted = await change_feed.changed_rows(
                connection, kind.table, kind.feed, revision
            )
        return Changes(now_at, tuple(kind.read(row) for row in rows), deleted)

    async def budgeted_spend(self) -> dict[str, Decimal]:
        """Spend so far of each record that has a budget (spend is not in the change feed)."""
        kind = self._kind
        query = select(kind.identity, kind.table.c.spend).where(
            kind.table.c.max_budget.is_not(None)
        )
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {record_id: spend for record_id, spend in rows}

    async def reset_budgets(self, now: datetime) -> tuple[str, ...]:
        """Start a new budget period for records whose reset time has passed; returns their ids."""
        async with self._engine.begin() as connection:
            return await reset_due_budgets(connection, self._kind.table, self._kind.feed, now)

    async def _page(
        self, limit: int, cursor: str | None, conditions: Iterable[ColumnElement[bool]]
    ) -> tuple[tuple[R, ...], str | None]:
        """Records newest first that meet ``conditions``, ``limit`` at a time, and the next cursor."""
        kind = self._kind
        created_at = kind.table.c.created_at
        query = select(kind.table).where(*conditions)
        if cursor is not None:
            query = query.where(older_than(created_at, kind.identity, Cursor.decode(cursor)))
        query = query.order_by(created_at.desc(), kind.identity.desc()).limit(limit + 1)
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        if len(rows) <= limit:
            return tuple(kind.read(row) for row in rows), None
        last = rows[limit - 1]._mapping
        next_cursor = Cursor(last["created_at"], last[kind.identity.name]).encode()
        return tuple(kind.read(row) for row in rows[:limit]), next_cursor

    async def _update(
        self, connection: AsyncConnection, record_id: str, settings: S, now: datetime
    ) -> R | None:
        kind = self._kind
        # The counter first, as every change to this kind takes it first: one lock order, no deadlock.
        revision = await change_feed.next_revision(connection, kind.feed)
        current = await connection.execute(
            select(kind.table.c.budget_duration, kind.table.c.budget_reset_at)
            .where(kind.identity == record_id)
            .with_for_update()
        )
        row = current.one_or_none()
        if row is None:
            return None
        reset_at = reset_time_after_change(row[0], settings.budget_duration, row[1], now)
        changed = {"budget_reset_at": reset_at, "updated_at": now, "revision": revision}
        result = await connection.execute(
            update(kind.table)
            .where(kind.identity == record_id)
            .values(kind.columns(settings) | changed)
            .returning(*kind.table.c)
        )
        return kind.read(result.one())


async def add_spend(
    connection: AsyncConnection, kind: RecordKind[Any, Any], amounts: Mapping[str, Decimal]
) -> None:
    """Add ``amounts`` (USD by record id) to the records' spend, in the caller's transaction."""
    table = kind.table
    # One order everywhere, so concurrent writers lock rows alike and never deadlock.
    for record_id in sorted(amounts):
        await connection.execute(
            update(table)
            .where(kind.identity == record_id)
            .values(spend=table.c.spend + amounts[record_id])
        )


def _first_reset(budget_duration: str | None, now: datetime) -> datetime | None:
    if budget_duration is None:
        return None
    return first_reset(BudgetDuration.parse(budget_duration), now)
