"""One batch of spend rows into the database: the rows not stored yet, and exactly those rows
added to the key, team and tag totals, in the caller's transaction."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gemgate.proxy.storage.column_types import quantize_money
from gemgate.proxy.storage.key_store import add_key_spend
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.tables import spend_log_tags, spend_logs, tag_spend
from gemgate.proxy.storage.team_store import add_team_spend


async def insert_spend_rows(connection: AsyncConnection, rows: Sequence[SpendRow]) -> int:
    """Store the rows whose request id is new and count them in the totals; returns how many.

    Rows already stored (a journal replayed after a crash) are skipped by the database itself,
    and the totals only see what this statement inserted, so replaying is always safe.
    """
    unique = list({row.request_id: row for row in reversed(rows)}.values())
    if not unique:
        return 0
    result = await connection.execute(
        _insert_new_logs(connection.dialect.name), [spend_log_values(row) for row in unique]
    )
    stored = set(result.scalars())
    inserted = [row for row in unique if row.request_id in stored]
    if not inserted:
        return 0
    tagged = [
        {"tag": tag, "request_id": row.request_id} for row in inserted for tag in set(row.tags)
    ]
    if tagged:
        await connection.execute(spend_log_tags.insert(), tagged)
    await add_key_spend(connection, _totals((row.key_hash, row.cost) for row in inserted))
    await add_team_spend(connection, _totals((row.team_id, row.cost) for row in inserted))
    await _add_tag_spend(connection, inserted)
    return len(inserted)


def spend_log_values(row: SpendRow) -> dict[str, Any]:
    """``row`` as the values of a spend_logs row."""
    return {
        "request_id": row.request_id,
        "client_request_id": row.client_request_id,
        "key_hash": row.key_hash,
        "key_alias": row.key_alias,
        "user_id": row.user_id,
        "team_id": row.team_id,
        "end_user": row.end_user,
        "model": row.model,
        "deployment": row.deployment,
        "route": row.route,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "cost": row.cost,
        "tags": list(row.tags),
        "status": row.status,
        "latency_ms": row.latency_ms,
        "start_time": row.start_time,
        "end_time": row.end_time,
    }


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


def _insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _insert_new_logs(dialect: str) -> Executable:
    # ON CONFLICT DO NOTHING … RETURNING names only the rows this statement inserted.
    insert = _insert(dialect, spend_logs).on_conflict_do_nothing()
    return insert.returning(spend_logs.c.request_id)


def _add_to_tag_totals(dialect: str) -> Executable:
    insert = _insert(dialect, tag_spend)
    return insert.on_conflict_do_update(
        index_elements=[tag_spend.c.tag],
        set_={
            "spend": tag_spend.c.spend + insert.excluded.spend,
            "requests": tag_spend.c.requests + insert.excluded.requests,
        },
    )
