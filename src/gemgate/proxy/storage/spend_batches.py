"""One batch of spend rows into the database: the rows not stored yet, and exactly those rows
added to the key, team and tag totals, in the caller's transaction.

The rows go through the driver in one statement per table (an `executemany` on SQLite, arrays
`unnest`ed on PostgreSQL), as the column types would write them: building each row's statement
parameters in SQLAlchemy cost the flusher about three times the CPU (docs/decisions.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import Executable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from gemgate.proxy.storage.column_types import MONEY_PLACES, quantize_money
from gemgate.proxy.storage.key_store import add_key_spend
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.tables import spend_logs, tag_spend
from gemgate.proxy.storage.team_store import add_team_spend

_CHUNK = 256  # most ids per `IN (...)` (a power of two: see _steps)
STEP_ROWS = 64  # most rows per INSERT on SQLite (a power of two: see _steps)

_Item = TypeVar("_Item")


async def insert_spend_rows(connection: AsyncConnection, rows: Sequence[SpendRow]) -> int:
    """Store the rows whose request id is new and count them in the totals; returns how many.

    Rows already stored (a journal replayed after a crash) are skipped, and the totals only see
    the rows this call inserted, so replaying is always safe.
    """
    unique = list({row.request_id: row for row in reversed(rows)}.values())
    if not unique:
        return 0
    if connection.dialect.name == "postgresql":
        stored = await _insert_new_postgresql(connection, unique)
    else:
        stored = await _insert_new_sqlite(connection, unique)
    inserted = [row for row in unique if row.request_id in stored]
    if not inserted:
        return 0
    await add_key_spend(connection, _totals((row.key_hash, row.cost) for row in inserted))
    await add_team_spend(connection, _totals((row.team_id, row.cost) for row in inserted))
    await _add_tag_spend(connection, inserted)
    return len(inserted)


async def _insert_new_sqlite(connection: AsyncConnection, rows: list[SpendRow]) -> set[str]:
    # The transaction holds SQLite's write lock from its start (BEGIN IMMEDIATE), so no other
    # writer can store one of these ids between the check and the insert.
    ids = [row.request_id for row in rows]
    present: set[str] = set()
    for chunk in _steps(ids, _CHUNK):
        found = await connection.exec_driver_sql(
            f"SELECT request_id FROM spend_logs WHERE request_id IN ({', '.join('?' * len(chunk))})",  # noqa: S608  placeholders only
            tuple(chunk),
        )
        present.update(found.scalars())
    new = [row for row in rows if row.request_id not in present]
    if not new:
        return set()
    # One statement of many rows, not an executemany: the driver lets go of the GIL around every
    # statement it steps, and with the event loop's thread busy, taking it back cost ~5 ms and
    # ~120 µs of CPU per row (docs/decisions.md). Each statement gives the event loop a turn.
    for step in _steps(new, STEP_ROWS):
        values = tuple(value for row in step for value in _sqlite_values(row))
        await connection.exec_driver_sql(_sqlite_log_insert(len(step)), values)
    tagged = [(tag, row.request_id) for row in new for tag in dict.fromkeys(row.tags)]
    for pairs in _steps(tagged, STEP_ROWS):
        values = tuple(value for pair in pairs for value in pair)
        await connection.exec_driver_sql(_sqlite_tag_insert(len(pairs)), values)
    return {row.request_id for row in new}


def _steps(items: list[_Item], largest: int) -> Iterator[list[_Item]]:
    """``items`` in runs whose sizes are powers of two up to ``largest``.

    SQLite keeps every statement it prepared, per connection (an INSERT of 100 rows is ~100 kB):
    with any size allowed, batches of varying size filled that cache to ~10 MB per connection.
    Powers of two keep it to a handful of statements."""
    start = 0
    while start < len(items):
        size = min(largest, 1 << ((len(items) - start).bit_length() - 1))
        yield items[start : start + size]
        start += size


async def _insert_new_postgresql(connection: AsyncConnection, rows: list[SpendRow]) -> set[str]:
    # One statement whatever the batch size; ON CONFLICT DO NOTHING … RETURNING names exactly
    # the rows it inserted, even when another instance replays the same journal rows at once.
    values = [_postgresql_values(row) for row in rows]
    columns = tuple(list(column) for column in zip(*values, strict=True))
    result = await connection.exec_driver_sql(_postgresql_insert(connection.dialect), columns)
    stored = set(result.scalars())
    tagged = [(tag, row.request_id) for row in rows if row.request_id in stored for tag in dict.fromkeys(row.tags)]  # fmt: skip
    if tagged:
        tags, request_ids = zip(*tagged, strict=True)
        await connection.exec_driver_sql(
            "INSERT INTO spend_log_tags (tag, request_id) SELECT * FROM unnest($1::text[], $2::text[])",
            (list(tags), list(request_ids)),
        )
    return stored


# The spend_logs columns both inserts name, in the order `_in_column_order` gives their values.
_LOG_COLUMNS = (
    "request_id", "client_request_id", "key_hash", "key_alias", "user_id", "team_id", "end_user",
    "model", "deployment", "route", "prompt_tokens", "completion_tokens", "cached_tokens",
    "reasoning_tokens", "cost", "tags", "status", "latency_ms", "start_time", "end_time",
)  # fmt: skip
_SQLITE_ROW = f"({', '.join('?' * len(_LOG_COLUMNS))})"


@cache  # seven sizes (_steps)
def _sqlite_log_insert(rows: int) -> str:
    """INSERT of ``rows`` spend_logs rows in one statement (20 parameters each: 64 rows stay far
    below SQLite's limit of 32 766)."""
    return f"INSERT INTO spend_logs ({', '.join(_LOG_COLUMNS)}) VALUES {', '.join([_SQLITE_ROW] * rows)}"  # noqa: S608  placeholders only


@cache
def _sqlite_tag_insert(pairs: int) -> str:
    """INSERT of ``pairs`` spend_log_tags rows in one statement."""
    return f"INSERT INTO spend_log_tags (tag, request_id) VALUES {', '.join(['(?, ?)'] * pairs)}"


def _sqlite_values(row: SpendRow) -> tuple[Any, ...]:
    # As the column types write them: money in integer units of 1e-10 USD, times as naive UTC
    # text with microseconds (SQLite compares times as text), tags as JSON text.
    cost = int(quantize_money(row.cost).scaleb(MONEY_PLACES))
    return _in_column_order(row, cost, _sqlite_time(row.start_time), _sqlite_time(row.end_time))


def _postgresql_values(row: SpendRow) -> tuple[Any, ...]:
    return _in_column_order(row, quantize_money(row.cost), row.start_time, row.end_time)


def _in_column_order(row: SpendRow, cost: Any, start: Any, end: Any) -> tuple[Any, ...]:
    """One row's parameters in `_LOG_COLUMNS` (a tuple per row: about 3x cheaper than a dict)."""
    return (
        row.request_id, row.client_request_id, row.key_hash, row.key_alias, row.user_id,
        row.team_id, row.end_user, row.model, row.deployment, row.route, row.prompt_tokens,
        row.completion_tokens, row.cached_tokens, row.reasoning_tokens, cost,
        orjson.dumps(row.tags).decode(), row.status, row.latency_ms, start, end,
    )  # fmt: skip


def _sqlite_time(moment: datetime) -> str:
    if moment.tzinfo is not UTC:  # rows the gateway makes (and their journal lines) are in UTC
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


@cache
def _postgresql_insert(dialect: Dialect) -> str:
    """INSERT … SELECT FROM unnest(one typed array per column) … RETURNING the stored ids."""
    arrays = ", ".join(
        f"${place}::{spend_logs.c[name].type.compile(dialect=dialect)}[]"
        for place, name in enumerate(_LOG_COLUMNS, start=1)
    )
    return (
        f"INSERT INTO spend_logs ({', '.join(_LOG_COLUMNS)}) SELECT * FROM unnest({arrays}) "
        "ON CONFLICT DO NOTHING RETURNING request_id"
    )


def _totals(amounts: Iterable[tuple[str | None, Decimal]]) -> Mapping[str, Decimal]:
    totals: defaultdict[str, Decimal] = defaultdict(Decimal)
    for owner, cost in amounts:
        if owner is not None:
            # Each cost as its row stores it, so a total is exactly the sum of its rows.
            totals[owner] += quantize_money(cost)
    return totals


async def _add_tag_spend(connection: AsyncConnection, rows: Sequence[SpendRow]) -> None:
    spend = _totals((tag, row.cost) for row in rows for tag in set(row.tags))
    requests = Counter(tag for row in rows for tag in set(row.tags))
    if not spend:
        return
    # Sorted, so concurrent writers lock tag rows in one order.
    values = [{"tag": tag, "spend": spend[tag], "requests": requests[tag]} for tag in sorted(spend)]
    await connection.execute(_add_to_tag_totals(connection.dialect.name), values)


def _add_to_tag_totals(dialect: str) -> Executable:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(tag_spend)
    return insert.on_conflict_do_update(
        index_elements=[tag_spend.c.tag],
        set_={
            "spend": tag_spend.c.spend + insert.excluded.spend,
            "requests": tag_spend.c.requests + insert.excluded.requests,
        },
    )
