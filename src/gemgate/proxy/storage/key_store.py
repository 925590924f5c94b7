"""Virtual keys: made (`generate_key`), stored only as sha256 hashes, read, changed and deleted
(`KeyStore`), with a change feed so the gateway's in-memory key cache refreshes cheaply."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gemgate.proxy.storage import change_feed
from gemgate.proxy.storage.record_kinds import RecordKind, check_settings
from gemgate.proxy.storage.record_store import Changes, RecordStore, add_spend
from gemgate.proxy.storage.tables import virtual_keys

KEY_PREFIX = "sk-"
_KEY_BYTES = 32


def generate_key() -> str:
    """A new virtual key (`sk-` and 43 URL-safe characters); shown once, stored only hashed."""
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def hash_key(key: str) -> str:
    """The stored form of ``key``: its sha256 as 64 hex digits."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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
        check_settings(self)


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


# Keys changed (or all keys) up to `revision`, and the hashes of keys deleted.
KeyChanges = Changes[KeyRecord]


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of a key listing, newest first; `next_cursor` is None on the last page."""

    keys: tuple[KeyRecord, ...]
    next_cursor: str | None


def _conflict(key_hash: str, settings: KeySettings) -> str:
    # The hash stays out of the message: it is what a caller presents, hashed.
    if settings.key_alias is None:
        return "this key already exists"
    return f"a key with this value or the alias {settings.key_alias!r} already exists"


# Keys in storage: `virtual_keys` rows, by hash.
KEY_KIND = RecordKind(
    table=virtual_keys,
    identity=virtual_keys.c.key_hash,
    feed=change_feed.KEYS,
    settings=KeySettings,
    record=KeyRecord,
    conflict=_conflict,
)


class KeyStore(RecordStore[KeySettings, KeyRecord]):
    """Virtual keys in the database, by hash; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, KEY_KIND)

    async def list(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
    ) -> KeyPage:
        """Keys newest first, ``limit`` at a time; pass a page's `next_cursor` for the next."""
        found, next_cursor = await self._page(limit, cursor, _owned_by(user_id, team_id))
        return KeyPage(found, next_cursor)


async def add_key_spend(connection: AsyncConnection, amounts: Mapping[str, Decimal]) -> None:
    """Add ``amounts`` (USD by key hash) to the keys' spend, in the caller's transaction."""
    await add_spend(connection, KEY_KIND, amounts)


def key_record(row: Row[Any]) -> KeyRecord:
    """A `virtual_keys` row as a KeyRecord."""
    return KEY_KIND.read(row)


def _owned_by(user_id: str | None, team_id: str | None) -> Iterator[ColumnElement[bool]]:
    if user_id is not None:
        yield virtual_keys.c.user_id == user_id
    if team_id is not None:
        yield virtual_keys.c.team_id == team_id
