"""What keys and teams share through RecordStore, checked on both kinds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.key_store import KeySettings, KeyStore, add_key_spend
from gemgate.proxy.storage.record_store import RecordStore
from gemgate.proxy.storage.team_store import TeamSettings, TeamStore, add_team_spend
from tests.proxy.storage.conftest import NOW


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of record as the tests drive it."""

    store: Callable[[AsyncEngine], RecordStore[Any, Any]]
    settings: Callable[..., Any]
    listed_ids: Callable[[Any], list[str]]  # the ids on a page of `list`
    add_spend: Callable[..., Any]


KINDS = {
    "keys": Kind(
        KeyStore, KeySettings, lambda page: [r.key_hash for r in page.keys], add_key_spend
    ),
    "teams": Kind(
        TeamStore, TeamSettings, lambda page: [r.team_id for r in page.teams], add_team_spend
    ),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


async def test_a_refused_create_takes_no_revision(kind: Kind, engine: AsyncEngine) -> None:
    store = kind.store(engine)
    await store.create("a", kind.settings(), NOW)
    with pytest.raises(RecordExists):
        await store.create("a", kind.settings(), NOW)
    snapshot = await store.load_all()
    assert snapshot.revision == 1 and len(snapshot.changed) == 1


async def test_deleting_a_missing_record_reports_no_deletion(
    kind: Kind, engine: AsyncEngine
) -> None:
    store = kind.store(engine)
    assert await store.delete("ghost") is False
    assert (await store.changed_since(0)).deleted == ()


async def test_an_update_numbers_the_record_anew(kind: Kind, engine: AsyncEngine) -> None:
    store = kind.store(engine)
    created = await store.create("a", kind.settings(), NOW)
    updated = await store.update("a", kind.settings(blocked=True), NOW + timedelta(hours=1))
    changes = await store.changed_since(created.revision)
    assert updated is not None and changes.changed == (updated,)
    assert updated.revision == changes.revision == created.revision + 1


async def test_records_made_in_the_same_instant_list_by_id_descending(
    kind: Kind, engine: AsyncEngine
) -> None:
    store = kind.store(engine)
    for record_id in ("b", "a", "c"):
        await store.create(record_id, kind.settings(), NOW)
    first = await store.list(limit=2)  # type: ignore[attr-defined]
    rest = await store.list(limit=2, cursor=first.next_cursor)  # type: ignore[attr-defined]
    assert kind.listed_ids(first) + kind.listed_ids(rest) == ["c", "b", "a"]
    assert rest.next_cursor is None


async def test_only_budgeted_records_report_their_spend(kind: Kind, engine: AsyncEngine) -> None:
    store = kind.store(engine)
    await store.create("budgeted", kind.settings(max_budget=Decimal(10)), NOW)
    await store.create("free", kind.settings(), NOW)
    async with engine.begin() as connection:
        await kind.add_spend(connection, {"free": Decimal(2), "budgeted": Decimal("0.5")})
    assert await store.budgeted_spend() == {"budgeted": Decimal("0.5")}
