"""Reading spend: the logs (filtered, newest first, page by page), all-time totals per tag, and
reports of totals grouped by key, team, user, model, tag or UTC day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, String, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.cursors import Cursor, older_than
from gemgate.proxy.storage.database import reading
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.tables import spend_log_tags, spend_logs, tag_spend

SpendGrouping = Literal["key", "team", "user", "model", "tag", "day"]
GROUPINGS: tuple[SpendGrouping, ...] = ("key", "team", "user", "model", "tag", "day")
_GROUP_COLUMNS = {
    "key": spend_logs.c.key_hash,
    "team": spend_logs.c.team_id,
    "user": spend_logs.c.user_id,
    "model": spend_logs.c.model,
}


@dataclass(frozen=True, slots=True)
class SpendFilter:
    """Which spend-log rows: each given field must match; `start` ≤ start_time < `end`."""

    key_hash: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    tag: str | None = None
    model: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class SpendLogPage:
    """One page of spend logs, newest first; `next_cursor` is None on the last page."""

    rows: tuple[SpendRow, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SpendTotal:
    """Spend of one group (a key hash, team, user, model, tag or YYYY-MM-DD day)."""

    group: str | None
    spend: Decimal
    requests: int
    prompt_tokens: int = 0
    completion_tokens: int = 0


class SpendLogs:
    """The read side of spend; rows arrive through the spend writer."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = reading(engine)

    async def logs(
        self, where: SpendFilter, *, limit: int = 100, cursor: str | None = None
    ) -> SpendLogPage:
        """Rows matching ``where``, newest first, ``limit`` at a time."""
        query = select(spend_logs).where(*_conditions(where))
        if cursor is not None:
            after = Cursor.decode(cursor)
            query = query.where(older_than(spend_logs.c.start_time, spend_logs.c.request_id, after))
        query = query.order_by(spend_logs.c.start_time.desc(), spend_logs.c.request_id.desc())
        async with self._reader.connect() as connection:
            found = (await connection.execute(query.limit(limit + 1))).all()
        rows = tuple(spend_row(row) for row in found[:limit])
        more = len(found) > limit
        next_cursor = Cursor(rows[-1].start_time, rows[-1].request_id).encode() if more else None
        return SpendLogPage(rows, next_cursor)

    async def get(self, request_id: str) -> SpendRow | None:
        """The row of ``request_id``, or None when it is not (yet) stored."""
        query = select(spend_logs).where(spend_logs.c.request_id == request_id)
        async with self._reader.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else spend_row(row)

    async def tag_totals(self) -> tuple[SpendTotal, ...]:
        """All-time spend per tag, highest first."""
        query = select(tag_spend).order_by(tag_spend.c.spend.desc(), tag_spend.c.tag)
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return tuple(SpendTotal(tag, spend, requests) for tag, spend, requests in rows)

    async def report(self, group_by: SpendGrouping, where: SpendFilter) -> tuple[SpendTotal, ...]:
        """Totals of the rows matching ``where`` per group: by day oldest first, else highest first."""
        async with self._reader.connect() as connection:
            group = _group_column(group_by, connection.dialect.name)
            query = _totals_query(group).where(*_conditions(where)).group_by(group)
            if group_by == "tag":
                query = query.join_from(spend_logs, spend_log_tags)
            if group_by == "day":
                query = query.order_by(group)
            else:
                query = query.order_by(func.sum(spend_logs.c.cost).desc(), group)
            rows = (await connection.execute(query)).all()
        return tuple(SpendTotal(*row) for row in rows)


def _totals_query(group: ColumnElement[Any]) -> Select[Any]:
    return select(
        group,
        func.sum(spend_logs.c.cost),
        func.count(),
        func.sum(spend_logs.c.prompt_tokens),
        func.sum(spend_logs.c.completion_tokens),
    )


def _group_column(group_by: SpendGrouping, dialect: str) -> ColumnElement[Any]:
    if group_by == "tag":
        return spend_log_tags.c.tag
    if group_by != "day":
        return _GROUP_COLUMNS[group_by]
    if dialect == "sqlite":
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: the day is the first ten characters.
        return func.substr(spend_logs.c.start_time, 1, 10, type_=String)
    utc = func.timezone("UTC", spend_logs.c.start_time)
    return func.to_char(utc, "YYYY-MM-DD", type_=String)


def _conditions(where: SpendFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (spend_logs.c.key_hash, where.key_hash),
        (spend_logs.c.user_id, where.user_id),
        (spend_logs.c.team_id, where.team_id),
        (spend_logs.c.model, where.model),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.tag is not None:
        tagged = select(spend_log_tags.c.request_id).where(spend_log_tags.c.tag == where.tag)
        conditions.append(spend_logs.c.request_id.in_(tagged))
    if where.start is not None:
        conditions.append(spend_logs.c.start_time >= where.start)
    if where.end is not None:
        conditions.append(spend_logs.c.start_time < where.end)
    return conditions


def spend_row(row: Row[Any]) -> SpendRow:
    """A spend_logs row as a SpendRow."""
    values = dict(row._mapping)
    values["tags"] = tuple(values["tags"])
    return SpendRow(**values)
