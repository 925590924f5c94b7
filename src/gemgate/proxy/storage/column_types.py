"""Column types that read and write the same Python values on SQLite and PostgreSQL: money as an
exact Decimal and time as an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Money is kept to 1e-10 USD: finer than any per-token price (list prices have at most three
# decimals per million tokens), and an int64 of such units still holds 900 million USD on SQLite.
MONEY_PLACES = 10
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
# NUMERIC(28, 10) on PostgreSQL: 18 digits of dollars.
MONEY_DIGITS = 28
MONEY_LIMIT = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES)


def quantize_money(amount: Decimal) -> Decimal:
    """``amount`` rounded to the stored precision (half to even, as accountants round)."""
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator[Decimal]):
    """USD as an exact Decimal: NUMERIC on PostgreSQL, an integer of 1e-10 USD on SQLite.

    SQLite has no exact decimal type (NUMERIC there is a float), so sums and `spend + cost`
    would drift; integers add exactly.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(MONEY_DIGITS, MONEY_PLACES, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = quantize_money(Decimal(value))
        if dialect.name == "sqlite":
            return int(amount.scaleb(MONEY_PLACES))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_PLACES)
        return quantize_money(Decimal(value))


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime: TIMESTAMPTZ on PostgreSQL, naive UTC text on SQLite.

    Naive datetimes are refused: a time without a zone is a bug in the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (pass an aware UTC time)")
        utc = value.astimezone(UTC)
        # SQLite compares times as text: one zone and one format keep that order right.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON, stored as JSONB on PostgreSQL (indexable, compact)."""
    return JSON().with_variant(JSONB(), "postgresql")
