"""Spend batches: new rows stored, replays harmless, totals counting each row exactly once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.key_store import KeySettings, KeyStore
from gemgate.proxy.storage.spend_batches import insert_spend_rows
from gemgate.proxy.storage.spend_logs import SpendFilter, SpendLogs
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.proxy.storage.tables import spend_log_tags, spend_logs
from gemgate.proxy.storage.team_store import TeamSettings, TeamStore
from tests.proxy.storage.conftest import NOW, make_spend_row

COLUMNS = [column.key for column in spend_logs.columns]
TAGS = COLUMNS.index("tags")


@pytest.fixture
async def owners(engine: AsyncEngine) -> None:
    await KeyStore(engine).create("key-a", KeySettings(team_id="team-1"), NOW)
    await KeyStore(engine).create("key-b", KeySettings(), NOW)
    await TeamStore(engine).create("team-1", TeamSettings(), NOW)


async def store(engine: AsyncEngine, rows: list[SpendRow]) -> int:
    async with engine.begin() as connection:
        return await insert_spend_rows(connection, rows)


async def totals(engine: AsyncEngine) -> tuple[Decimal, Decimal, Decimal, dict[str, Decimal]]:
    key_a, key_b = await KeyStore(engine).get("key-a"), await KeyStore(engine).get("key-b")
    team = await TeamStore(engine).get("team-1")
    assert key_a is not None and key_b is not None and team is not None
    tags = {total.group or "": total.spend for total in await SpendLogs(engine).tag_totals()}
    return key_a.spend, key_b.spend, team.spend, tags


ROWS = [
    make_spend_row(1, key_hash="key-a", team_id="team-1", cost=Decimal("0.5"), tags=("x", "y")),
    make_spend_row(2, key_hash="key-a", team_id="team-1", cost=Decimal("0.25"), tags=("x",)),
    make_spend_row(3, key_hash="key-b", cost=Decimal("1.125"), tags=("y", "y")),
    make_spend_row(4, cost=Decimal("9")),  # no key: the master key or an open gateway
]


@pytest.mark.usefixtures("owners")
async def test_a_batch_is_stored_and_counted_in_every_total(engine: AsyncEngine) -> None:
    assert await store(engine, ROWS) == 4
    assert await totals(engine) == (
        Decimal("0.75"), Decimal("1.125"), Decimal("0.75"),
        {"x": Decimal("0.75"), "y": Decimal("1.625")},
    )  # fmt: skip


@pytest.mark.usefixtures("owners")
async def test_replaying_a_batch_stores_and_counts_nothing_twice(engine: AsyncEngine) -> None:
    await store(engine, ROWS[:2])
    before = await totals(engine)
    assert await store(engine, ROWS[:2]) == 0
    assert await totals(engine) == before
    assert await store(engine, ROWS) == 2  # only the two new ones count
    assert (await totals(engine))[0] == Decimal("0.75")


@pytest.mark.parametrize("size", [1, 63, 64, 65, 300])
async def test_a_batch_of_any_size_is_stored_whole(engine: AsyncEngine, size: int) -> None:
    # SQLite stores a batch in statements of 64, 32, … rows, ids checked 256, 128, … at a time.
    rows = [make_spend_row(number, tags=(f"t{number % 3}", "all")) for number in range(size)]
    assert await store(engine, rows[: size // 3]) == size // 3
    assert await store(engine, rows) == size - size // 3
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(spend_logs)) == size
        assert await connection.scalar(select(func.count()).select_from(spend_log_tags)) == 2 * size
    page = await SpendLogs(engine).logs(SpendFilter(), limit=size)
    assert sorted(page.rows, key=lambda row: row.request_id) == rows  # every column in its place


@pytest.mark.usefixtures("owners")
async def test_a_request_twice_in_one_batch_counts_once(engine: AsyncEngine) -> None:
    assert await store(engine, [ROWS[0], ROWS[0], ROWS[1]]) == 2
    assert (await totals(engine))[0] == Decimal("0.75")


@pytest.mark.usefixtures("owners")
async def test_repeated_tags_of_a_row_count_once(engine: AsyncEngine) -> None:
    await store(engine, [ROWS[2]])
    async with engine.connect() as connection:
        tagged = await connection.execute(select(func.count()).select_from(spend_log_tags))
        assert tagged.scalar_one() == 1
    assert (await SpendLogs(engine).tag_totals())[0].requests == 1


async def test_rows_of_unknown_keys_and_teams_are_still_logged(engine: AsyncEngine) -> None:
    assert await store(engine, [make_spend_row(1, key_hash="gone", team_id="gone")]) == 1
    async with engine.connect() as connection:
        count = await connection.execute(select(func.count()).select_from(spend_logs))
        assert count.scalar_one() == 1


async def test_an_empty_batch_does_nothing(engine: AsyncEngine) -> None:
    assert await store(engine, []) == 0


@pytest.mark.usefixtures("owners")
async def test_totals_equal_the_sum_of_the_stored_rows_when_costs_are_rounded(
    engine: AsyncEngine,
) -> None:
    # Each cost rounds up at the tenth decimal; rounding only the total would lose two units.
    rows = [make_spend_row(n, key_hash="key-a", cost=Decimal("0.000000000051")) for n in range(3)]
    await store(engine, rows)
    async with engine.connect() as connection:
        logged = await connection.execute(select(func.sum(spend_logs.c.cost)))
        assert logged.scalar_one() == Decimal("0.0000000003")
    assert (await totals(engine))[0] == Decimal("0.0000000003")


async def test_rows_are_stored_exactly_as_the_column_types_store_them(engine: AsyncEngine) -> None:
    # The batch goes through the driver; the same values through SQLAlchemy's column types must
    # give the very same stored row, so reads, sums and time ranges see no difference.
    tokyo = timezone(timedelta(hours=9))
    samples = [
        make_spend_row(1),  # whole seconds: no microseconds to print
        make_spend_row(
            2, key_hash="k" * 64, key_alias="ops", user_id="u", team_id="t", end_user="e",
            deployment="d-1", client_request_id="c-1", cost=Decimal("1.23456789012345"),
            start_time=datetime(2026, 3, 15, 21, 0, 0, 5, tzinfo=tokyo),
            end_time=datetime(2026, 3, 15, 21, 0, 1, 999999, tzinfo=tokyo),
            tags=("b", "a", "b"), status=429, cached_tokens=3, reasoning_tokens=4,
        ),
    ]  # fmt: skip
    assert await store(engine, samples) == 2
    async with engine.begin() as connection:
        await connection.execute(
            spend_logs.insert(),
            [
                spend_log_values(replace(row, request_id=f"typed-{row.request_id}"))
                for row in samples
            ],
        )
        raw = await connection.exec_driver_sql(  # as stored: no column types applied
            f"SELECT {', '.join(COLUMNS)} FROM spend_logs ORDER BY request_id"  # noqa: S608
        )
        stored = {row[0]: [_tags(value) if n == TAGS else value for n, value in enumerate(row)] for row in raw}  # fmt: skip
    for row in samples:
        by_driver, by_types = stored[row.request_id], stored[f"typed-{row.request_id}"]
        assert by_driver[1:] == by_types[1:]
    async with engine.connect() as connection:
        read = await connection.execute(
            select(spend_logs).where(spend_logs.c.request_id == "req-00002")
        )
        values = read.one()._asdict()
    assert values == spend_log_values(samples[1]) | {
        "cost": Decimal("1.2345678901"),
        "tags": ["b", "a", "b"],
    }


def _tags(stored: object) -> object:
    # JSON text on SQLite (its spacing may differ), a decoded list from PostgreSQL's jsonb.
    return orjson.loads(stored) if isinstance(stored, str) else stored


def spend_log_values(row: SpendRow) -> dict[str, Any]:
    """``row`` as the Python values of its spend_logs row, for SQLAlchemy's column types."""
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
