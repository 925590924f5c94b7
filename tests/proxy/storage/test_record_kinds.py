"""Record kinds: settings stored column by column, rows read back as records, shared checks."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from types import MappingProxyType

import pytest
from sqlalchemy import Table

from gemgate.proxy.storage.key_store import KEY_KIND, KeySettings
from gemgate.proxy.storage.record_kinds import Settings
from gemgate.proxy.storage.tables import teams, virtual_keys
from gemgate.proxy.storage.team_store import TEAM_KIND, TeamRecord, TeamSettings
from tests.proxy.storage.conftest import NOW


@pytest.mark.parametrize(
    ("settings", "table"), [(KeySettings, virtual_keys), (TeamSettings, teams)]
)
def test_every_setting_has_a_column_of_its_name(settings: type[Settings], table: Table) -> None:
    # The stores write and read settings field by field, by name.
    names = {item.name for item in fields(settings)}
    assert names <= set(table.c.keys())


def test_settings_are_stored_as_json_ready_columns() -> None:
    settings = TeamSettings(
        team_alias="Platform",
        models=("gemini-2.5-flash",),
        max_budget=Decimal("5"),
        metadata=MappingProxyType({"cost_center": "42"}),
    )
    columns = TEAM_KIND.columns(settings)
    assert columns["models"] == ["gemini-2.5-flash"]
    assert type(columns["metadata"]) is dict and columns["metadata"] == {"cost_center": "42"}
    assert columns["team_alias"] == "Platform" and columns["max_budget"] == Decimal("5")
    assert set(columns) == {item.name for item in fields(TeamSettings)}


def test_a_key_stores_its_tags_as_a_list() -> None:
    assert KEY_KIND.columns(KeySettings(tags=("ci", "internal")))["tags"] == ["ci", "internal"]


def test_stored_values_make_a_record_with_the_settings_given() -> None:
    settings = TeamSettings(team_alias="Platform")
    values = {
        "team_id": "platform", "spend": Decimal("1.5"), "budget_reset_at": None,
        "created_at": NOW, "updated_at": NOW, "revision": 7,
    }  # fmt: skip
    record = TEAM_KIND.stored(values, settings)
    assert record == TeamRecord("platform", settings, Decimal("1.5"), None, NOW, NOW, 7)
    assert record.settings is settings


@pytest.mark.parametrize("settings", [KeySettings, TeamSettings])
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_budget": Decimal("NaN")}, "max_budget"),
        ({"budget_duration": "0d"}, "budget duration"),
        ({"rpm_limit": -1}, "rpm_limit"),
        ({"tpm_limit": 0}, "tpm_limit"),
    ],
)
def test_keys_and_teams_refuse_the_same_settings(
    settings: type[object], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        settings(**changes)
