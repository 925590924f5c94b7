"""The change feed under concurrent writers: every change numbered once, none missed."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.key_store import KeySettings, KeyStore
from gemgate.proxy.storage.team_store import TeamSettings, TeamStore
from tests.proxy.storage.conftest import NOW


async def test_concurrent_changes_get_distinct_revisions_and_none_is_missed(
    engine: AsyncEngine,
) -> None:
    keys = KeyStore(engine)
    seen: dict[str, int] = {}
    revision = 0

    async def follow() -> None:
        nonlocal revision
        changes = await keys.changed_since(revision)
        seen.update({record.key_hash: record.revision for record in changes.changed})
        revision = changes.revision

    async def create(index: int) -> None:
        await keys.create(f"k{index}", KeySettings(), NOW)
        await follow()

    await asyncio.gather(*(create(index) for index in range(30)))
    await follow()
    assert set(seen) == {f"k{index}" for index in range(30)}
    assert sorted(seen.values()) == list(range(1, 31))
    assert revision == 30


async def test_keys_and_teams_count_their_revisions_apart(engine: AsyncEngine) -> None:
    await KeyStore(engine).create("k", KeySettings(), NOW)
    await TeamStore(engine).create("t1", TeamSettings(), NOW)
    await TeamStore(engine).create("t2", TeamSettings(), NOW)
    assert (await KeyStore(engine).load_all()).revision == 1
    assert (await TeamStore(engine).load_all()).revision == 2
