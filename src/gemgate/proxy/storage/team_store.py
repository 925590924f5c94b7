"""Teams: budgets and limits shared by the keys that name them (`TeamStore`), with the same
change feed as keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gemgate.proxy.storage import change_feed
from gemgate.proxy.storage.record_kinds import RecordKind, check_settings
from gemgate.proxy.storage.record_store import Changes, RecordStore, add_spend
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
        check_settings(self)


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


# Teams changed (or all teams) up to `revision`, and the ids of teams deleted.
TeamChanges = Changes[TeamRecord]


@dataclass(frozen=True, slots=True)
class TeamPage:
    """One page of a team listing, newest first; `next_cursor` is None on the last page."""

    teams: tuple[TeamRecord, ...]
    next_cursor: str | None


def _conflict(team_id: str, settings: TeamSettings) -> str:
    return f"team {team_id!r} already exists"


# Teams in storage: `teams` rows, by id.
TEAM_KIND = RecordKind(
    table=teams,
    identity=teams.c.team_id,
    feed=change_feed.TEAMS,
    settings=TeamSettings,
    record=TeamRecord,
    conflict=_conflict,
)


class TeamStore(RecordStore[TeamSettings, TeamRecord]):
    """Teams in the database, by id (deleting one leaves its keys' team_id as it was)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, TEAM_KIND)

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> TeamPage:
        """Teams newest first, ``limit`` at a time; pass a page's `next_cursor` for the next."""
        found, next_cursor = await self._page(limit, cursor, ())
        return TeamPage(found, next_cursor)


async def add_team_spend(connection: AsyncConnection, amounts: Mapping[str, Decimal]) -> None:
    """Add ``amounts`` (USD by team id) to the teams' spend, in the caller's transaction."""
    await add_spend(connection, TEAM_KIND, amounts)


def team_record(row: Row[Any]) -> TeamRecord:
    """A `teams` row as a TeamRecord."""
    return TEAM_KIND.read(row)
