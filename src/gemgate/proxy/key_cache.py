"""The gateway's in-memory copy of virtual keys and teams: read on every request without a database
round trip, kept current from the stores' change feed (polled, and at once on a Redis notice).

A key the cache does not know (made a moment ago on another instance) is looked up once in the
database; a key the database does not know either is remembered as unknown for a short while,
so a stream of made-up keys costs one query per key and second, not one per request. While the
database is down the cached keys keep working; other keys are refused (503), and the outage is
logged once (with reminders), not once per lookup: made-up keys arrive at request rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from gemgate import errors
from gemgate.proxy.failure_streak import FailureStreak
from gemgate.proxy.storage.key_store import KeyChanges, KeyRecord, KeyStore
from gemgate.proxy.storage.team_store import TeamChanges, TeamRecord, TeamStore

logger = logging.getLogger(__name__)

# How long a key unknown to the database is answered from memory; at most this many are kept.
UNKNOWN_KEY_SECONDS = 1.0
MAX_UNKNOWN_KEYS = 10_000


@dataclass(slots=True)
class KeyCache:
    """Keys by hash and teams by id, as of the stores' latest revisions seen."""

    keys: KeyStore
    teams: TeamStore
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, KeyRecord] = field(default_factory=dict)
    _teams: dict[str, TeamRecord] = field(default_factory=dict)
    _unknown: dict[str, float] = field(default_factory=dict)
    _key_revision: int = 0
    _team_revision: int = 0
    _refreshing: asyncio.Lock = field(default_factory=asyncio.Lock)
    _lookup_failures: FailureStreak = field(init=False)

    def __post_init__(self) -> None:
        self._lookup_failures = FailureStreak(
            "key lookup", logger, clock=self.clock, tally="lookups refused",
            meanwhile="keys not in memory get 503 until the database is back",
        )  # fmt: skip

    def team(self, team_id: str | None) -> TeamRecord | None:
        """The cached team ``team_id`` (None for no team or an unknown one)."""
        return None if team_id is None else self._teams.get(team_id)

    def cached_key(self, key_hash: str) -> KeyRecord | None:
        """The cached key, without asking the database."""
        return self._keys.get(key_hash)

    async def key(self, key_hash: str) -> KeyRecord | None:
        """The key stored under ``key_hash``: from memory, else (once) from the database."""
        record = self._keys.get(key_hash)
        if record is not None:
            return record
        now = self.clock()
        if self._unknown.get(key_hash, 0.0) > now:
            return None
        try:
            record = await self.keys.get(key_hash)
        except (SQLAlchemyError, OSError) as error:
            self._lookup_failures.failed(error)
            raise errors.ServiceUnavailableError(
                "The key cannot be checked right now; try again shortly."
            ) from error
        self._lookup_failures.succeeded()
        if record is None:
            self._remember_unknown(key_hash, now)
        else:
            self._keys[key_hash] = record
        return record

    def _remember_unknown(self, key_hash: str, now: float) -> None:
        if len(self._unknown) >= MAX_UNKNOWN_KEYS:
            self._unknown = {hash_: until for hash_, until in self._unknown.items() if until > now}
            if len(self._unknown) >= MAX_UNKNOWN_KEYS:
                self._unknown.clear()
        self._unknown[key_hash] = now + UNKNOWN_KEY_SECONDS

    async def load(self) -> tuple[KeyChanges, TeamChanges]:
        """Read every key and team (at start-up); returns what was read."""
        async with self._refreshing:
            keys, teams = await self.keys.load_all(), await self.teams.load_all()
            self._keys = {record.key_hash: record for record in keys.changed}
            self._teams = {record.team_id: record for record in teams.changed}
            self._key_revision, self._team_revision = keys.revision, teams.revision
            self._unknown.clear()
        return keys, teams

    async def refresh(self) -> tuple[KeyChanges, TeamChanges]:
        """Apply what changed since the last refresh; returns the changes."""
        async with self._refreshing:
            keys = await self.keys.changed_since(self._key_revision)
            teams = await self.teams.changed_since(self._team_revision)
            self._apply_keys(keys)
            self._apply_teams(teams)
        # The database answers again: end a lookup outage even if no unknown key came since.
        self._lookup_failures.succeeded()
        return keys, teams

    def _apply_keys(self, changes: KeyChanges) -> None:
        for record in changes.changed:
            self._keys[record.key_hash] = record
            self._unknown.pop(record.key_hash, None)
        for key_hash in changes.deleted:
            self._keys.pop(key_hash, None)
        self._key_revision = max(self._key_revision, changes.revision)

    def _apply_teams(self, changes: TeamChanges) -> None:
        for record in changes.changed:
            self._teams[record.team_id] = record
        for team_id in changes.deleted:
            self._teams.pop(team_id, None)
        self._team_revision = max(self._team_revision, changes.revision)

    def forget(self, key_hash: str) -> None:
        """Drop a key from memory at once (deleted here; the change feed tells the others)."""
        self._keys.pop(key_hash, None)

    def remember(self, record: KeyRecord) -> None:
        """Put a key made or changed here into memory at once."""
        self._keys[record.key_hash] = record
        self._unknown.pop(record.key_hash, None)
