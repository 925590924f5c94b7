"""Virtual keys: hashing, create/read/update/delete, listing, the change feed and budgets."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.key_store import (
    KeySettings,
    KeyStore,
    add_key_spend,
    generate_key,
    hash_key,
)
from gemgate.proxy.storage.tables import metadata
from tests.proxy.storage.conftest import NOW

SETTINGS = KeySettings(
    key_alias="ci-bot",
    models=("gemini-2.5-flash", "gemini-2.5-pro"),
    max_budget=Decimal("25.50"),
    budget_duration="30d",
    rpm_limit=60,
    tpm_limit=100_000,
    expires_at=NOW + timedelta(days=90),
    metadata={"owner": "platform", "nested": {"a": [1, 2]}},
    tags=("ci", "internal"),
    user_id="user-1",
    team_id="team-1",
)


@pytest.fixture
def keys(engine: AsyncEngine) -> KeyStore:
    return KeyStore(engine)


def test_generated_keys_are_sk_prefixed_and_unguessable() -> None:
    made = {generate_key() for _ in range(100)}
    assert len(made) == 100
    assert all(key.startswith("sk-") and len(key) == 46 for key in made)


def test_a_key_is_stored_as_its_sha256() -> None:
    assert hash_key("sk-1234") == hashlib.sha256(b"sk-1234").hexdigest()


async def test_created_key_reads_back_with_every_setting(keys: KeyStore) -> None:
    created = await keys.create(hash_key("sk-abc"), SETTINGS, NOW)
    assert await keys.get(hash_key("sk-abc")) == created
    assert created.settings == SETTINGS
    assert created.spend == Decimal(0)
    assert created.budget_reset_at == NOW + timedelta(days=30)


async def test_the_plain_key_is_never_stored(
    keys: KeyStore, engine: AsyncEngine, database_url: str
) -> None:
    key = generate_key()
    await keys.create(hash_key(key), SETTINGS, NOW)
    stored: list[str] = []
    async with engine.connect() as connection:
        for table in metadata.sorted_tables:
            stored.extend(str(row) for row in await connection.execute(select(table)))
    text = "\n".join(stored)
    assert hash_key(key) in text
    assert key not in text and key[3:] not in text
    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database or "")
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert key[3:].encode() not in raw


async def test_a_taken_hash_or_alias_is_refused(keys: KeyStore) -> None:
    await keys.create("h1", SETTINGS, NOW)
    with pytest.raises(RecordExists):
        await keys.create("h1", replace(SETTINGS, key_alias="other"), NOW)
    with pytest.raises(RecordExists, match="ci-bot"):
        await keys.create("h2", SETTINGS, NOW)
    assert await keys.get("h2") is None


async def test_update_replaces_settings_and_keeps_spend(
    keys: KeyStore, engine: AsyncEngine
) -> None:
    await keys.create("h1", SETTINGS, NOW)
    async with engine.begin() as connection:
        await add_key_spend(connection, {"h1": Decimal("1.25")})
    changed = replace(SETTINGS, models=(), blocked=True, metadata={}, tags=("x",))
    updated = await keys.update("h1", changed, NOW + timedelta(hours=1))
    assert updated is not None
    assert updated.settings == changed
    assert updated.spend == Decimal("1.25")
    assert updated.updated_at == NOW + timedelta(hours=1)
    assert updated.created_at == NOW
    assert await keys.get("h1") == updated


async def test_update_of_a_missing_key_finds_nothing(keys: KeyStore) -> None:
    assert await keys.update("nope", SETTINGS, NOW) is None


async def test_update_to_a_taken_alias_is_refused(keys: KeyStore) -> None:
    await keys.create("h1", SETTINGS, NOW)
    await keys.create("h2", replace(SETTINGS, key_alias="second"), NOW)
    with pytest.raises(RecordExists):
        await keys.update("h2", SETTINGS, NOW)


@pytest.mark.parametrize(
    ("duration", "expected_reset"),
    [
        ("30d", NOW + timedelta(days=30)),  # unchanged: the running period goes on
        ("1d", NOW + timedelta(days=5, hours=1)),  # changed: a new period from now
        (None, None),
    ],
)
async def test_budget_period_restarts_only_when_its_duration_changes(
    keys: KeyStore, duration: str | None, expected_reset: object
) -> None:
    await keys.create("h1", SETTINGS, NOW)
    later = NOW + timedelta(days=4, hours=1)
    updated = await keys.update("h1", replace(SETTINGS, budget_duration=duration), later)
    assert updated is not None and updated.budget_reset_at == expected_reset


async def test_deleted_key_is_gone(keys: KeyStore) -> None:
    await keys.create("h1", SETTINGS, NOW)
    assert await keys.delete("h1") is True
    assert await keys.get("h1") is None
    assert await keys.delete("h1") is False


async def test_listing_pages_newest_first_without_overlap(keys: KeyStore) -> None:
    for index in range(7):
        await keys.create(f"h{index}", KeySettings(), NOW + timedelta(minutes=index))
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        page = await keys.list(limit=3, cursor=cursor)
        seen.extend(record.key_hash for record in page.keys)
        sizes.append(len(page.keys))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sizes == [3, 3, 1]
    assert seen == [f"h{index}" for index in reversed(range(7))]


async def test_listing_pages_keys_made_in_the_same_instant(keys: KeyStore) -> None:
    for index in range(5):
        await keys.create(f"h{index}", KeySettings(), NOW)
    first = await keys.list(limit=2)
    rest = await keys.list(limit=10, cursor=first.next_cursor)
    names = [record.key_hash for record in (*first.keys, *rest.keys)]
    assert sorted(names) == [f"h{index}" for index in range(5)]
    assert len(set(names)) == 5


@pytest.mark.parametrize(
    ("user_id", "team_id", "expected"),
    [
        ("u1", None, {"a", "b"}),
        (None, "t2", {"b", "c"}),
        ("u1", "t2", {"b"}),
        (None, None, {"a", "b", "c"}),
    ],
)
async def test_listing_filters_by_user_and_team(
    keys: KeyStore, user_id: str | None, team_id: str | None, expected: set[str]
) -> None:
    await keys.create("a", KeySettings(user_id="u1", team_id="t1"), NOW)
    await keys.create("b", KeySettings(user_id="u1", team_id="t2"), NOW)
    await keys.create("c", KeySettings(user_id="u2", team_id="t2"), NOW)
    page = await keys.list(user_id=user_id, team_id=team_id)
    assert {record.key_hash for record in page.keys} == expected


async def test_change_feed_reports_creates_updates_and_deletes(keys: KeyStore) -> None:
    await keys.create("stays", KeySettings(), NOW)
    await keys.create("changes", KeySettings(), NOW)
    await keys.create("goes", KeySettings(), NOW)
    snapshot = await keys.load_all()
    assert {record.key_hash for record in snapshot.changed} == {"stays", "changes", "goes"}

    await keys.update("changes", KeySettings(blocked=True), NOW)
    await keys.delete("goes")
    await keys.create("new", KeySettings(), NOW)
    changes = await keys.changed_since(snapshot.revision)

    assert {record.key_hash for record in changes.changed} == {"changes", "new"}
    assert changes.deleted == ("goes",)
    assert changes.revision > snapshot.revision
    assert await keys.changed_since(changes.revision) == type(changes)(changes.revision, ())


async def test_a_recreated_key_is_no_longer_reported_deleted(keys: KeyStore) -> None:
    await keys.create("h", KeySettings(), NOW)
    start = (await keys.load_all()).revision
    await keys.delete("h")
    await keys.create("h", KeySettings(), NOW)
    changes = await keys.changed_since(start)
    assert [record.key_hash for record in changes.changed] == ["h"]
    assert changes.deleted == ()


async def test_spend_additions_are_exact_and_not_in_the_change_feed(
    keys: KeyStore, engine: AsyncEngine
) -> None:
    await keys.create("h", SETTINGS, NOW)
    await keys.create("free", replace(SETTINGS, key_alias=None, max_budget=None), NOW)
    revision = (await keys.load_all()).revision
    async with engine.begin() as connection:
        for _ in range(10):
            await add_key_spend(connection, {"h": Decimal("0.1"), "free": Decimal("0.2")})
    assert await keys.budgeted_spend() == {"h": Decimal(1)}
    assert (await keys.changed_since(revision)).changed == ()


async def test_due_budgets_reset_once_and_keep_their_schedule(
    keys: KeyStore, engine: AsyncEngine
) -> None:
    await keys.create("daily", replace(SETTINGS, budget_duration="1d"), NOW)
    await keys.create("monthly", replace(SETTINGS, key_alias="m", budget_duration="1mo"), NOW)
    async with engine.begin() as connection:
        await add_key_spend(connection, {"daily": Decimal(3), "monthly": Decimal(4)})
    revision = (await keys.load_all()).revision
    later = NOW + timedelta(days=2, hours=5)

    assert await keys.reset_budgets(later) == ("daily",)
    assert await keys.reset_budgets(later) == ()

    daily = await keys.get("daily")
    assert daily is not None and daily.spend == Decimal(0)
    assert daily.budget_reset_at == NOW + timedelta(days=3)
    monthly = await keys.get("monthly")
    assert monthly is not None and monthly.spend == Decimal(4)
    changed = await keys.changed_since(revision)
    assert [record.key_hash for record in changed.changed] == ["daily"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_budget": Decimal(-1)}, "max_budget"),
        ({"max_budget": Decimal("Infinity")}, "max_budget"),
        ({"budget_duration": "monthly"}, "budget duration"),
        ({"rpm_limit": 0}, "rpm_limit"),
        ({"tpm_limit": -5}, "tpm_limit"),
    ],
)
def test_settings_a_store_cannot_honour_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KeySettings(**changes)  # type: ignore[arg-type]


async def test_expiry_is_judged_at_the_given_time(keys: KeyStore) -> None:
    record = await keys.create("h", SETTINGS, NOW)
    assert not record.is_expired(NOW)
    assert record.is_expired(NOW + timedelta(days=90))
