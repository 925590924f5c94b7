"""Teams: budgets and limits shared by the keys that name them (`TeamStore`), with the same
change feed as keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gemgate.proxy.storage import change_feed
from gemgate.proxy.storage.budget_periods import BudgetDuration, first_reset
from gemgate.proxy.storage.budget_resets import reset_due_budgets, reset_time_after_change
from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.cursors import Cursor, older_than
from gemgate.proxy.storage.database import reading
from gemgate.proxy.storage.key_store import check_budget, check_limit
from gemgate.proxy.storage.tables import teams


@dataclass(frozen=True, slots=True)
class TeamSettings:
    """What an administrator sets on a team."""

    team_alias: str | None = None
    models: tuple[str, ...] = ()  # empty: every model
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    blocked: bool = False

    def __post_init__(self) -> None:
        check_budget(self.max_budget, self.budget_duration)
        check_limit("rpm_limit", self.rpm_limit)
        check_limit("tpm_limit", self.tpm_limit)


@dataclass(frozen=True, slots=True)
class TeamRecord:
    """A stored team: its settings and what the store keeps for it."""

    team_id: str
    settings: TeamSettings
    spend: Decimal
    budget_reset_at: datetime | None
    created_at: datetime
    updated_at: datetime
    revision: int


@dataclass(frozen=True, slots=True)
class TeamChanges:
    """Teams changed (or all teams) up to `revision`, and the ids of teams deleted."""

    revision: int
    changed: tuple[TeamRecord, ...]
    deleted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TeamPage:
    """One page of a team listing, newest first; `next_cursor` is None on the last page."""

    teams: tuple[TeamRecord, ...]
    next_cursor: str | None


class TeamStore:
    """Teams in the database; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = reading(engine)

    async def create(self, team_id: str, settings: TeamSettings, now: datetime) -> TeamRecord:
        """Store a new team; raises RecordExists when ``team_id`` is taken."""
        reset_at = None
        if settings.budget_duration is not None:
            reset_at = first_reset(BudgetDuration.parse(settings.budget_duration), now)
        try:
            async with self._engine.begin() as connection:
                revision = await change_feed.next_revision(connection, change_feed.TEAMS)
                await change_feed.unbury(connection, change_feed.TEAMS, team_id)
                values = _settings_values(settings) | {
                    "team_id": team_id, "spend": Decimal(0), "budget_reset_at": reset_at,
                    "created_at": now, "updated_at": now, "revision": revision,
                }  # fmt: skip
                await connection.execute(teams.insert().values(values))
        except IntegrityError as error:
            raise RecordExists(f"team {team_id!r} already exists") from error
        return TeamRecord(team_id, settings, Decimal(0), reset_at, now, now, revision)

    async def get(self, team_id: str) -> TeamRecord | None:
        """The team ``team_id``, or None."""
        async with self._reader.connect() as connection:
            result = await connection.execute(select(teams).where(teams.c.team_id == team_id))
            row = result.one_or_none()
        return None if row is None else team_record(row)

    async def update(
        self, team_id: str, settings: TeamSettings, now: datetime
    ) -> TeamRecord | None:
        """Replace the team's settings (spend is kept); None when there is no such team."""
        async with self._engine.begin() as connection:
            revision = await change_feed.next_revision(connection, change_feed.TEAMS)
            current = await connection.execute(
                select(teams.c.budget_duration, teams.c.budget_reset_at)
                .where(teams.c.team_id == team_id)
                .with_for_update()
            )
            row = current.one_or_none()
            if row is None:
                return None
            reset_at = reset_time_after_change(row[0], settings.budget_duration, row[1], now)
            result = await connection.execute(
                update(teams)
                .where(teams.c.team_id == team_id)
                .values(
                    _settings_values(settings)
                    | {"budget_reset_at": reset_at, "updated_at": now, "revision": revision}
                )
                .returning(*teams.c)
            )
            return team_record(result.one())

    async def delete(self, team_id: str) -> bool:
        """Delete the team (its keys keep their team_id); False when there was none."""
        async with self._engine.begin() as connection:
            revision = await change_feed.next_revision(connection, change_feed.TEAMS)
            result = await connection.execute(delete(teams).where(teams.c.team_id == team_id))
            if not result.rowcount:
                return False
            await change_feed.bury(connection, change_feed.TEAMS, team_id, revision)
            return True

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> TeamPage:
        """Teams newest first, ``limit`` at a time; pass a page's `next_cursor` for the next."""
        query = select(teams).order_by(teams.c.created_at.desc(), teams.c.team_id.desc())
        if cursor is not None:
            query = query.where(
                older_than(teams.c.created_at, teams.c.team_id, Cursor.decode(cursor))
            )
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query.limit(limit + 1))).all()
        found = tuple(team_record(row) for row in rows[:limit])
        more = len(rows) > limit
        next_cursor = Cursor(found[-1].created_at, found[-1].team_id).encode() if more else None
        return TeamPage(found, next_cursor)

    async def load_all(self) -> TeamChanges:
        """Every team, and the revision they are at."""
        return await self.changed_since(0)

    async def changed_since(self, revision: int) -> TeamChanges:
        """Teams created or changed after ``revision``, teams deleted after it, the revision now."""
        async with self._reader.connect() as connection:
            now_at, rows, deleted = await change_feed.changed_rows(
                connection, teams, change_feed.TEAMS, revision
            )
        return TeamChanges(now_at, tuple(team_record(row) for row in rows), deleted)

    async def budgeted_spend(self) -> dict[str, Decimal]:
        """Spend so far of each team that has a budget."""
        query = select(teams.c.team_id, teams.c.spend).where(teams.c.max_budget.is_not(None))
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {team_id: spend for team_id, spend in rows}

    async def reset_budgets(self, now: datetime) -> tuple[str, ...]:
        """Start a new budget period for teams whose reset time has passed; returns their ids."""
        async with self._engine.begin() as connection:
            return await reset_due_budgets(connection, teams, change_feed.TEAMS, now)


async def add_team_spend(connection: AsyncConnection, amounts: Mapping[str, Decimal]) -> None:
    """Add ``amounts`` (USD by team id) to the teams' spend, in the caller's transaction."""
    for team_id in sorted(amounts):  # one lock order for every writer
        await connection.execute(
            update(teams)
            .where(teams.c.team_id == team_id)
            .values(spend=teams.c.spend + amounts[team_id])
        )


def _settings_values(settings: TeamSettings) -> dict[str, Any]:
    return {
        "team_alias": settings.team_alias,
        "models": list(settings.models),
        "max_budget": settings.max_budget,
        "budget_duration": settings.budget_duration,
        "rpm_limit": settings.rpm_limit,
        "tpm_limit": settings.tpm_limit,
        "metadata": dict(settings.metadata),
        "blocked": settings.blocked,
    }


def team_record(row: Row[Any]) -> TeamRecord:
    """A `teams` row as a TeamRecord."""
    values = row._mapping
    settings = TeamSettings(
        team_alias=values["team_alias"],
        models=tuple(values["models"]),
        max_budget=values["max_budget"],
        budget_duration=values["budget_duration"],
        rpm_limit=values["rpm_limit"],
        tpm_limit=values["tpm_limit"],
        metadata=values["metadata"],
        blocked=values["blocked"],
    )
    return TeamRecord(
        team_id=values["team_id"],
        settings=settings,
        spend=values["spend"],
        budget_reset_at=values["budget_reset_at"],
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        revision=values["revision"],
    )
