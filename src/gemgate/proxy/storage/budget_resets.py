"""Budget periods ending: spend back to zero and the next reset time, for keys and teams alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gemgate.proxy.storage.budget_periods import BudgetDuration, first_reset, next_reset
from gemgate.proxy.storage.change_feed import next_revision

logger = logging.getLogger(__name__)


def reset_time_after_change(
    old_duration: str | None, new_duration: str | None, old_reset: datetime | None, now: datetime
) -> datetime | None:
    """When a budget resets after its settings change: a new period starts only with a new duration."""
    if new_duration is None:
        return None
    if new_duration == old_duration and old_reset is not None:
        return old_reset
    return first_reset(BudgetDuration.parse(new_duration), now)


async def reset_due_budgets(
    connection: AsyncConnection, table: Table, kind: str, now: datetime
) -> tuple[str, ...]:
    """Start a new period for every row of ``table`` whose reset time has come; returns their ids.

    Safe to run from many instances at once: a row is reset only if its reset time is still
    the one read here.
    """
    identity = table.primary_key.columns.values()[0]
    due = await connection.execute(
        select(identity, table.c.budget_duration, table.c.budget_reset_at)
        .where(table.c.budget_reset_at <= now, table.c.budget_duration.is_not(None))
        .order_by(identity)
    )
    budgets = [_DueBudget(*row) for row in due.all()]
    if not budgets:
        return ()
    revision = await next_revision(connection, kind)
    reset = [
        budget.record_id
        for budget in budgets
        if await _restart_period(connection, table, budget, now, revision)
    ]
    if reset:
        logger.info("%s: budget period restarted for %d record(s)", kind, len(reset))
    return tuple(reset)


@dataclass(frozen=True, slots=True)
class _DueBudget:
    record_id: str
    duration: str
    reset_at: datetime


async def _restart_period(
    connection: AsyncConnection, table: Table, due: _DueBudget, now: datetime, revision: int
) -> bool:
    identity = table.primary_key.columns.values()[0]
    period = BudgetDuration.parse(due.duration)
    moved = await connection.execute(
        update(table)
        .where(identity == due.record_id, table.c.budget_reset_at == due.reset_at)
        .values(
            spend=Decimal(0),
            budget_reset_at=next_reset(period, due.reset_at, now),
            revision=revision,
            updated_at=now,
        )
    )
    return bool(moved.rowcount)
