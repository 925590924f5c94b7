"""Callers: keys identified from the in-memory cache (one database look-up for a new key), model
lists, limits and budgets of key and team, on a real (SQLite) database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate import errors
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.callers import ADMIN, ANONYMOUS, Caller, admit, check_model, identify, key_scope
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.limits import Limit, MemoryCounters
from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.key_store import KeySettings, KeyStore, generate_key, hash_key
from gemgate.proxy.storage.team_store import TeamSettings, TeamStore

NOW = datetime(2026, 3, 15, 12, 0, 10, tzinfo=UTC)
MASTER = MasterKey("sk-master-1234")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with open_database(f"sqlite:///{tmp_path / 'gemgate.db'}") as opened:
        yield opened


@pytest.fixture
async def cache(engine: AsyncEngine) -> KeyCache:
    made = KeyCache(KeyStore(engine), TeamStore(engine))
    await made.load()
    return made


async def new_key(cache: KeyCache, settings: KeySettings | None = None) -> str:
    key = generate_key()
    await cache.keys.create(hash_key(key), settings or KeySettings(), NOW)
    return key


async def test_the_master_key_is_the_admin(cache: KeyCache) -> None:
    assert await identify("sk-master-1234", MASTER, cache, NOW) is ADMIN


async def test_a_virtual_key_made_elsewhere_is_found_in_the_database(cache: KeyCache) -> None:
    key = await new_key(cache, KeySettings(key_alias="app-1"))
    caller = await identify(key, MASTER, cache, NOW)
    assert caller.key is not None and caller.key.settings.key_alias == "app-1"
    assert caller.label == "app-1" and key not in repr(caller)


@pytest.mark.parametrize("presented", [None, "", "sk-made-up", "sk-master-12345"])
async def test_missing_or_unknown_keys_are_refused(cache: KeyCache, presented: str | None) -> None:
    with pytest.raises(errors.AuthenticationError):
        await identify(presented, MASTER, cache, NOW)


async def test_an_open_gateway_lets_unknown_callers_in_unattributed(cache: KeyCache) -> None:
    assert await identify("anything", None, cache, NOW) is ANONYMOUS
    key = await new_key(cache)
    assert (await identify(key, None, cache, NOW)).key_hash == hash_key(key)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (KeySettings(blocked=True), "blocked"),
        (KeySettings(expires_at=NOW - timedelta(seconds=1)), "expired"),
    ],
)
async def test_blocked_and_expired_keys_are_refused(cache: KeyCache, settings: KeySettings, message: str) -> None:  # fmt: skip
    key = await new_key(cache, settings)
    with pytest.raises(errors.AuthenticationError, match=message):
        await identify(key, MASTER, cache, NOW)


async def test_a_deleted_key_stops_working_after_a_refresh(cache: KeyCache) -> None:
    key = await new_key(cache)
    await identify(key, MASTER, cache, NOW)
    assert await cache.keys.delete(hash_key(key))
    await cache.refresh()
    with pytest.raises(errors.AuthenticationError):
        await identify(key, MASTER, cache, NOW)


async def test_an_unknown_key_is_looked_up_once_per_interval(tmp_path: Path) -> None:
    clock = [100.0]
    async with open_database(f"sqlite:///{tmp_path / 'db.sqlite'}") as engine:
        cache = KeyCache(KeyStore(engine), TeamStore(engine), clock=lambda: clock[0])
        assert await cache.key(hash_key("sk-unknown")) is None
        (tmp_path / "db.sqlite").unlink()
        (tmp_path / "db.sqlite").mkdir()  # any look-up in the database fails from here on
        await engine.dispose()
        assert await cache.key(hash_key("sk-unknown")) is None  # answered from memory
        clock[0] += 1.5
        with pytest.raises(errors.ServiceUnavailableError):
            await cache.key(hash_key("sk-unknown"))


async def test_known_keys_keep_working_while_the_database_is_down(tmp_path: Path) -> None:
    async with open_database(f"sqlite:///{tmp_path / 'db.sqlite'}") as engine:
        cache = KeyCache(KeyStore(engine), TeamStore(engine))
        key = await new_key(cache)
        await cache.load()
    (tmp_path / "db.sqlite").unlink()
    (tmp_path / "db.sqlite").mkdir()  # nothing can open it any more
    assert (await identify(key, MASTER, cache, NOW)).key_hash == hash_key(key)
    with pytest.raises(errors.ServiceUnavailableError):
        await identify("sk-never-seen", MASTER, cache, NOW)


async def test_models_are_checked_against_key_and_team(cache: KeyCache) -> None:
    await cache.teams.create("team-a", TeamSettings(models=("gemini-flash", "embedder")), NOW)
    key = await new_key(cache, KeySettings(models=("gemini-flash", "gemini-pro"), team_id="team-a"))
    await cache.refresh()
    caller = await identify(key, MASTER, cache, NOW)
    check_model(caller, "gemini-flash")
    with pytest.raises(errors.PermissionDeniedError, match="key may not use model 'embedder'"):
        check_model(caller, "embedder")
    with pytest.raises(errors.PermissionDeniedError, match="team may not use model 'gemini-pro'"):
        check_model(caller, "gemini-pro")
    check_model(ADMIN, "anything")


async def test_the_rpm_limit_refuses_with_retry_after(cache: KeyCache) -> None:
    key = await new_key(cache, KeySettings(rpm_limit=2))
    caller, counters = await identify(key, MASTER, cache, NOW), MemoryCounters()
    await admit(counters, caller, [], NOW)
    await admit(counters, caller, [], NOW)
    with pytest.raises(errors.RateLimitError) as refused:
        await admit(counters, caller, [], NOW)
    assert refused.value.retry_after == 50.0 and refused.value.code == "rpm_limit_exceeded"


async def test_a_deployment_limit_counts_with_the_callers(cache: KeyCache) -> None:
    counters, deployment = MemoryCounters(), Limit("deployment:flash-1", rpm=1)
    await admit(counters, ANONYMOUS, [deployment], NOW)
    with pytest.raises(errors.RateLimitError, match="deployment is over its limit"):
        await admit(counters, ADMIN, [deployment], NOW)


async def test_a_spent_team_budget_refuses_until_it_resets(cache: KeyCache) -> None:
    await cache.teams.create(
        "team-b", TeamSettings(max_budget=Decimal("1"), budget_duration="1d"), NOW
    )
    key = await new_key(cache, KeySettings(team_id="team-b"))
    await cache.refresh()
    caller, counters = await identify(key, MASTER, cache, NOW), MemoryCounters()
    assert caller.team is not None and caller.team.budget_reset_at is not None
    await counters.record([f"team:{caller.team.team_id}"], 10, Decimal("1"), NOW.timestamp())
    with pytest.raises(errors.BudgetExceededError) as refused:
        await admit(counters, caller, [], NOW)
    assert refused.value.status_code == 429 and refused.value.type == "insufficient_quota"
    expected = (caller.team.budget_reset_at - NOW).total_seconds()
    assert refused.value.retry_after == pytest.approx(expected)


async def test_only_keys_with_limits_are_counted(cache: KeyCache) -> None:
    record = await cache.keys.create("h" * 64, KeySettings(), NOW)
    assert Caller(key=record).limits() == []
    limited = replace(record, settings=KeySettings(tpm_limit=5))
    assert Caller(key=limited).limits() == [Limit(key_scope("h" * 64), tpm=5)]
