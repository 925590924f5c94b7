"""Virtual keys: made (`generate_key`), stored only as sha256 hashes, read, changed and deleted
(`KeyStore`), with a change feed so the gateway's in-memory key cache refreshes cheaply."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gemgate.proxy.storage import change_feed
from gemgate.proxy.storage.budget_periods import BudgetDuration, first_reset
from gemgate.proxy.storage.budget_resets import reset_due_budgets, reset_time_after_change
from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.cursors import Cursor, older_than
from gemgate.proxy.storage.database import reading
from gemgate.proxy.storage.tables import virtual_keys

KEY_PREFIX = "sk-"
_KEY_BYTES = 32


def generate_key() -> str:
    """A new virtual key (`sk-` and 43 URL-safe characters); shown once, stored only hashed."""
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def hash_key(key: str) -> str:
    """The stored form of ``key``: its sha256 as 64 hex digits."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_budget(max_budget: Decimal | None, budget_duration: str | None) -> None:
    """Raise ValueError for a negative budget or an unreadable duration."""
    if max_budget is not None and (not max_budget.is_finite() or max_budget < 0):
        raise ValueError(f"max_budget must be a non-negative amount, got {max_budget}")
    if budget_duration is not None:
        BudgetDuration.parse(budget_duration)


def check_limit(name: str, value: int | None) -> None:
    """Raise ValueError unless ``value`` is None or a positive count."""
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class KeySettings:
    """What an administrator sets on a key (everything but its hash and its spend)."""

    key_alias: str | None = None
    models: tuple[str, ...] = ()  # empty: every model
    max_budget: Decimal | None = None  # USD per budget period (or ever, without one)
    budget_duration: str | None = None  # "30d", "1h", "1mo"…
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    expires_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    user_id: str | None = None
    team_id: str | None = None
    blocked: bool = False

    def __post_init__(self) -> None:
        check_budget(self.max_budget, self.budget_duration)
        check_limit("rpm_limit", self.rpm_limit)
        check_limit("tpm_limit", self.tpm_limit)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key: its settings and what the store keeps for it."""

    key_hash: str
    settings: KeySettings
    spend: Decimal
    budget_reset_at: datetime | None
    created_at: datetime
    updated_at: datetime
    revision: int

    def is_expired(self, now: datetime) -> bool:
        """Whether the key's expiry time has passed at ``now``."""
        return self.settings.expires_at is not None and self.settings.expires_at <= now


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """Keys changed (or all keys) up to `revision`, and the hashes of keys deleted."""

    revision: int
    changed: tuple[KeyRecord, ...]
    deleted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of a key listing, newest first; `next_cursor` is None on the last page."""

    keys: tuple[KeyRecord, ...]
    next_cursor: str | None


class KeyStore:
    """Virtual keys in the database; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = reading(engine)

    async def create(self, key_hash: str, settings: KeySettings, now: datetime) -> KeyRecord:
        """Store a new key; raises RecordExists when the hash or the alias is taken."""
        reset_at = None
        if settings.budget_duration is not None:
            reset_at = first_reset(BudgetDuration.parse(settings.budget_duration), now)
        try:
            async with self._engine.begin() as connection:
                revision = await change_feed.next_revision(connection, change_feed.KEYS)
                await change_feed.unbury(connection, change_feed.KEYS, key_hash)
                values = _settings_values(settings) | {
                    "key_hash": key_hash, "spend": Decimal(0), "budget_reset_at": reset_at,
                    "created_at": now, "updated_at": now, "revision": revision,
                }  # fmt: skip
                await connection.execute(virtual_keys.insert().values(values))
        except IntegrityError as error:
            raise RecordExists(_conflict(settings)) from error
        return KeyRecord(key_hash, settings, Decimal(0), reset_at, now, now, revision)

    async def get(self, key_hash: str) -> KeyRecord | None:
        """The key stored under ``key_hash``, or None."""
        async with self._reader.connect() as connection:
            result = await connection.execute(
                select(virtual_keys).where(virtual_keys.c.key_hash == key_hash)
            )
            row = result.one_or_none()
        return None if row is None else key_record(row)

    async def update(self, key_hash: str, settings: KeySettings, now: datetime) -> KeyRecord | None:
        """Replace the key's settings (spend is kept); None when there is no such key.

        A new budget_duration starts a new budget period from ``now``.
        """
        try:
            async with self._engine.begin() as connection:
                return await _update(connection, key_hash, settings, now)
        except IntegrityError as error:
            raise RecordExists(_conflict(settings)) from error

    async def delete(self, key_hash: str) -> bool:
        """Delete the key; False when there was none."""
        async with self._engine.begin() as connection:
            revision = await change_feed.next_revision(connection, change_feed.KEYS)
            result = await connection.execute(
                delete(virtual_keys).where(virtual_keys.c.key_hash == key_hash)
            )
            if not result.rowcount:
                return False
            await change_feed.bury(connection, change_feed.KEYS, key_hash, revision)
            return True

    async def list(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
    ) -> KeyPage:
        """Keys newest first, ``limit`` at a time; pass a page's `next_cursor` for the next."""
        query = _listing(user_id, team_id, cursor).limit(limit + 1)
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        keys = tuple(key_record(row) for row in rows[:limit])
        more = len(rows) > limit
        next_cursor = Cursor(keys[-1].created_at, keys[-1].key_hash).encode() if more else None
        return KeyPage(keys, next_cursor)

    async def load_all(self) -> KeyChanges:
        """Every key (blocked and expired ones too, so the gateway can say why it refuses them)."""
        return await self.changed_since(0)

    async def changed_since(self, revision: int) -> KeyChanges:
        """Keys created or changed after ``revision``, keys deleted after it, and the revision now."""
        async with self._reader.connect() as connection:
            now_at, rows, deleted = await change_feed.changed_rows(
                connection, virtual_keys, change_feed.KEYS, revision
            )
        return KeyChanges(now_at, tuple(key_record(row) for row in rows), deleted)

    async def budgeted_spend(self) -> dict[str, Decimal]:
        """Spend so far of each key that has a budget (spend is not in the change feed)."""
        query = select(virtual_keys.c.key_hash, virtual_keys.c.spend).where(
            virtual_keys.c.max_budget.is_not(None)
        )
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {key_hash: spend for key_hash, spend in rows}

    async def reset_budgets(self, now: datetime) -> tuple[str, ...]:
        """Start a new budget period for keys whose reset time has passed; returns their hashes."""
        async with self._engine.begin() as connection:
            return await reset_due_budgets(connection, virtual_keys, change_feed.KEYS, now)


async def add_key_spend(connection: AsyncConnection, amounts: Mapping[str, Decimal]) -> None:
    """Add ``amounts`` (USD by key hash) to the keys' spend, in the caller's transaction."""
    # One order everywhere, so concurrent writers lock rows alike and never deadlock.
    for key_hash in sorted(amounts):
        await connection.execute(
            update(virtual_keys)
            .where(virtual_keys.c.key_hash == key_hash)
            .values(spend=virtual_keys.c.spend + amounts[key_hash])
        )


async def _update(
    connection: AsyncConnection, key_hash: str, settings: KeySettings, now: datetime
) -> KeyRecord | None:
    # The counter first, as every change to keys takes it first: one lock order, no deadlock.
    revision = await change_feed.next_revision(connection, change_feed.KEYS)
    current = await connection.execute(
        select(virtual_keys.c.budget_duration, virtual_keys.c.budget_reset_at)
        .where(virtual_keys.c.key_hash == key_hash)
        .with_for_update()
    )
    row = current.one_or_none()
    if row is None:
        return None
    reset_at = reset_time_after_change(row[0], settings.budget_duration, row[1], now)
    result = await connection.execute(
        update(virtual_keys)
        .where(virtual_keys.c.key_hash == key_hash)
        .values(
            _settings_values(settings)
            | {"budget_reset_at": reset_at, "updated_at": now, "revision": revision}
        )
        .returning(*virtual_keys.c)
    )
    return key_record(result.one())


def _listing(user_id: str | None, team_id: str | None, cursor: str | None) -> Select[Any]:
    query = select(virtual_keys).order_by(
        virtual_keys.c.created_at.desc(), virtual_keys.c.key_hash.desc()
    )
    if user_id is not None:
        query = query.where(virtual_keys.c.user_id == user_id)
    if team_id is not None:
        query = query.where(virtual_keys.c.team_id == team_id)
    if cursor is not None:
        after = Cursor.decode(cursor)
        query = query.where(older_than(virtual_keys.c.created_at, virtual_keys.c.key_hash, after))
    return query


def _settings_values(settings: KeySettings) -> dict[str, Any]:
    return {
        "key_alias": settings.key_alias,
        "models": list(settings.models),
        "max_budget": settings.max_budget,
        "budget_duration": settings.budget_duration,
        "rpm_limit": settings.rpm_limit,
        "tpm_limit": settings.tpm_limit,
        "expires_at": settings.expires_at,
        "metadata": dict(settings.metadata),
        "tags": list(settings.tags),
        "user_id": settings.user_id,
        "team_id": settings.team_id,
        "blocked": settings.blocked,
    }


def key_record(row: Row[Any]) -> KeyRecord:
    """A `virtual_keys` row as a KeyRecord."""
    values = row._mapping
    settings = KeySettings(
        key_alias=values["key_alias"],
        models=tuple(values["models"]),
        max_budget=values["max_budget"],
        budget_duration=values["budget_duration"],
        rpm_limit=values["rpm_limit"],
        tpm_limit=values["tpm_limit"],
        expires_at=values["expires_at"],
        metadata=values["metadata"],
        tags=tuple(values["tags"]),
        user_id=values["user_id"],
        team_id=values["team_id"],
        blocked=values["blocked"],
    )
    return KeyRecord(
        key_hash=values["key_hash"],
        settings=settings,
        spend=values["spend"],
        budget_reset_at=values["budget_reset_at"],
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        revision=values["revision"],
    )


def _conflict(settings: KeySettings) -> str:
    if settings.key_alias is None:
        return "this key already exists"
    return f"a key with this value or the alias {settings.key_alias!r} already exists"
