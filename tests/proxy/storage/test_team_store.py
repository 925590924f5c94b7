"""Teams: create/read/update/delete, listing, the change feed and budgets."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.team_store import TeamSettings, TeamStore, add_team_spend
from tests.proxy.storage.conftest import NOW

SETTINGS = TeamSettings(
    team_alias="Platform",
    models=("gemini-2.5-flash",),
    max_budget=Decimal("500"),
    budget_duration="1mo",
    rpm_limit=600,
    tpm_limit=1_000_000,
    metadata={"cost_center": "42"},
)


@pytest.fixture
def teams(engine: AsyncEngine) -> TeamStore:
    return TeamStore(engine)


async def test_created_team_reads_back_with_every_setting(teams: TeamStore) -> None:
    created = await teams.create("platform", SETTINGS, NOW)
    assert await teams.get("platform") == created
    assert created.settings == SETTINGS
    assert created.budget_reset_at == NOW.replace(month=4)


async def test_a_taken_team_id_is_refused(teams: TeamStore) -> None:
    await teams.create("platform", SETTINGS, NOW)
    with pytest.raises(RecordExists, match="platform"):
        await teams.create("platform", TeamSettings(), NOW)


async def test_update_replaces_settings_and_keeps_spend(
    teams: TeamStore, engine: AsyncEngine
) -> None:
    await teams.create("platform", SETTINGS, NOW)
    async with engine.begin() as connection:
        await add_team_spend(connection, {"platform": Decimal("7.5"), "unknown": Decimal(1)})
    updated = await teams.update("platform", replace(SETTINGS, blocked=True), NOW)
    assert updated is not None and updated.settings.blocked and updated.spend == Decimal("7.5")
    assert await teams.update("unknown", SETTINGS, NOW) is None


async def test_deleted_team_is_gone_and_reported(teams: TeamStore) -> None:
    await teams.create("platform", SETTINGS, NOW)
    revision = (await teams.load_all()).revision
    assert await teams.delete("platform") is True
    assert await teams.delete("platform") is False
    assert await teams.get("platform") is None
    assert (await teams.changed_since(revision)).deleted == ("platform",)


async def test_listing_pages_newest_first(teams: TeamStore) -> None:
    for index in range(5):
        await teams.create(f"t{index}", TeamSettings(), NOW + timedelta(seconds=index))
    first = await teams.list(limit=2)
    second = await teams.list(limit=2, cursor=first.next_cursor)
    last = await teams.list(limit=2, cursor=second.next_cursor)
    order = [team.team_id for page in (first, second, last) for team in page.teams]
    assert order == ["t4", "t3", "t2", "t1", "t0"]
    assert last.next_cursor is None


async def test_due_team_budgets_reset(teams: TeamStore, engine: AsyncEngine) -> None:
    await teams.create("platform", SETTINGS, NOW)
    async with engine.begin() as connection:
        await add_team_spend(connection, {"platform": Decimal("99.99")})
    assert await teams.budgeted_spend() == {"platform": Decimal("99.99")}
    assert await teams.reset_budgets(NOW.replace(month=4, day=20)) == ("platform",)
    team = await teams.get("platform")
    assert team is not None and team.spend == Decimal(0)
    assert team.budget_reset_at == NOW.replace(month=5)
