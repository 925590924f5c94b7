"""Money and time columns read back exactly what was written, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.column_types import quantize_money
from gemgate.proxy.storage.tables import tag_spend
from gemgate.proxy.storage.tables import teams as team_table

AMOUNTS = [
    Decimal("0.0000000375"),  # one cached token of a cheap model
    Decimal("0.1"),
    Decimal("123456789.1234567891"),
    Decimal(0),
]


async def test_money_round_trips_exactly(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            tag_spend.insert(),
            [{"tag": str(i), "spend": amount, "requests": 1} for i, amount in enumerate(AMOUNTS)],
        )
        stored = await connection.execute(select(tag_spend.c.spend).order_by(tag_spend.c.tag))
        assert list(stored.scalars()) == AMOUNTS


async def test_money_sums_exactly_where_floats_would_drift(engine: AsyncEngine) -> None:
    tenths = [{"tag": f"t{i}", "spend": Decimal("0.1"), "requests": 1} for i in range(1000)]
    async with engine.begin() as connection:
        await connection.execute(tag_spend.insert(), tenths)
        total = await connection.execute(select(func.sum(tag_spend.c.spend)))
        assert total.scalar_one() == Decimal(100)


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        (Decimal("0.00000000005"), Decimal("0")),  # half to even
        (Decimal("0.00000000015"), Decimal("0.0000000002")),
        (Decimal("1.23456789012345"), Decimal("1.2345678901")),
    ],
)
def test_money_keeps_ten_decimal_places(amount: Decimal, stored: Decimal) -> None:
    assert quantize_money(amount) == stored


async def test_times_come_back_aware_in_utc(engine: AsyncEngine) -> None:
    plus_two = timezone(timedelta(hours=2))
    written = datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    async with engine.begin() as connection:
        await connection.execute(
            team_table.insert().values(
                team_id="t", models=[], spend=Decimal(0), metadata={}, blocked=False,
                created_at=written, updated_at=written, revision=1,
            )
        )  # fmt: skip
        read = (await connection.execute(select(team_table.c.created_at))).scalar_one()
    assert read == written
    assert read.tzinfo == UTC
    assert read.hour == 12


async def test_naive_times_are_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(
                select(team_table).where(team_table.c.created_at < datetime(2026, 1, 1))
            )
