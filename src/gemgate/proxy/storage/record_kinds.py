"""What tells keys from teams in storage (`RecordKind`: table, id column, settings and record
types) and the conversions between their rows and records, which both kinds share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Column, Row, Table

from gemgate.proxy.storage.budget_periods import BudgetDuration


class Settings(Protocol):
    """What an administrator sets on a record: a dataclass whose fields are named after columns."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def max_budget(self) -> Decimal | None: ...

    @property
    def budget_duration(self) -> str | None: ...

    @property
    def rpm_limit(self) -> int | None: ...

    @property
    def tpm_limit(self) -> int | None: ...


S = TypeVar("S", bound=Settings)
R = TypeVar("R")

# A record dataclass itself: (id, settings, spend, budget_reset_at, created_at, updated_at, revision).
RecordFactory = Callable[[str, S, Decimal, datetime | None, datetime, datetime, int], R]


def check_settings(settings: Settings) -> None:
    """Raise ValueError for a negative budget, an unreadable duration or a limit below one."""
    check_budget(settings.max_budget, settings.budget_duration)
    check_limit("rpm_limit", settings.rpm_limit)
    check_limit("tpm_limit", settings.tpm_limit)


def check_budget(max_budget: Decimal | None, budget_duration: str | None) -> None:
    """Raise ValueError for a negative budget or an unreadable duration."""
    if max_budget is not None and (not max_budget.is_finite() or max_budget < 0):
        raise ValueError(f"max_budget must be a non-negative amount, got {max_budget}")
    if budget_duration is not None:
        BudgetDuration.parse(budget_duration)


def check_limit(name: str, value: int | None) -> None:
    """Raise ValueError unless ``value`` is None or a positive count."""
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class RecordKind(Generic[S, R]):
    """One kind of stored record: where it lives and how its rows become records."""

    table: Table
    identity: Column[str]  # the primary key: a key's hash, a team's id
    feed: str  # its counter and tombstones in the change feed
    settings: type[S]
    record: RecordFactory[S, R]
    conflict: Callable[[str, S], str]  # RecordExists' message when the id (or an alias) is taken

    def columns(self, settings: S) -> dict[str, Any]:
        """The column values of ``settings``: tuples stored as JSON lists, mappings as objects."""
        return {item.name: _column_value(getattr(settings, item.name)) for item in fields(settings)}

    def read(self, row: Row[Any]) -> R:
        """A row of the kind's table as a record."""
        values = row._mapping
        settings = self.settings(
            **{item.name: _setting_value(values[item.name]) for item in fields(self.settings)}
        )
        return self.stored(values, settings)

    def stored(self, values: Mapping[Any, Any], settings: S) -> R:
        """The record of ``settings`` with what the store keeps beside them in ``values``."""
        return self.record(
            values[self.identity.name],
            settings,
            values["spend"],
            values["budget_reset_at"],
            values["created_at"],
            values["updated_at"],
            values["revision"],
        )


def _column_value(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _setting_value(value: object) -> object:
    # JSON gives lists back; settings hold tuples, immutable like the dataclasses holding them.
    return tuple(value) if isinstance(value, list) else value
