"""The bodies of /key/* and /team/* (pydantic, validated once at the edge) and the JSON the gateway
answers with; stored records never carry the plain key, so no answer can leak one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gemgate import errors
from gemgate.proxy.storage.key_store import KeyRecord, KeySettings
from gemgate.proxy.storage.team_store import TeamRecord, TeamSettings

_EXPIRY = re.compile(r"(\d+)(s|m|h|d|w)")
_EXPIRY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
Body = TypeVar("Body", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyFields(_Body):
    """What /key/generate and /key/update may set (None: not given)."""

    key_alias: str | None = Field(default=None, max_length=256)
    models: list[str] | None = None
    max_budget: Decimal | None = Field(default=None, ge=0)
    budget_duration: str | None = None
    rpm_limit: int | None = Field(default=None, gt=0)
    tpm_limit: int | None = Field(default=None, gt=0)
    duration: str | None = None  # how long until the key expires, e.g. "30d"
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    user_id: str | None = Field(default=None, max_length=256)
    team_id: str | None = Field(default=None, max_length=256)
    blocked: bool | None = None

    @field_validator("duration")
    @classmethod
    def _is_duration(cls, value: str | None) -> str | None:
        if value is not None:
            expiry_after(value)
        return value


class KeyUpdate(KeyFields):
    key: str = Field(min_length=1)


class KeyDeletion(_Body):
    keys: list[str] = Field(min_length=1, max_length=1000)


class TeamFields(_Body):
    team_id: str | None = Field(default=None, min_length=1, max_length=256)
    team_alias: str | None = Field(default=None, max_length=256)
    models: list[str] | None = None
    max_budget: Decimal | None = Field(default=None, ge=0)
    budget_duration: str | None = None
    rpm_limit: int | None = Field(default=None, gt=0)
    tpm_limit: int | None = Field(default=None, gt=0)
    metadata: dict[str, Any] | None = None
    blocked: bool | None = None


def parsed(model: type[Body], body: dict[str, Any]) -> Body:
    """``body`` validated as ``model``; a 400 naming the first wrong field otherwise."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise errors.BadRequestError(f"{where}: {first['msg']}") from None


def expiry_after(duration: str) -> timedelta:
    """ "30d", "12h", "15m", "45s" or "2w" as a time span; ValueError otherwise."""
    match = _EXPIRY.fullmatch(duration.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"duration must be a count and one of s, m, h, d, w (e.g. '30d'), got {duration!r}")  # fmt: skip
    return timedelta(seconds=int(match.group(1)) * _EXPIRY_UNITS[match.group(2)])


def key_settings(fields: KeyFields, now: datetime, base: KeySettings | None = None) -> KeySettings:
    """The settings ``fields`` describe, over ``base`` (a key being updated) when given."""
    given = fields.model_dump(exclude_unset=True, exclude={"key", "duration"})
    current = base or KeySettings()
    values: dict[str, Any] = {name: getattr(current, name) for name in KeySettings.__dataclass_fields__}  # fmt: skip
    for name, value in given.items():
        values[name] = tuple(value) if name in ("models", "tags") and value is not None else value
    values["models"], values["tags"] = values["models"] or (), values["tags"] or ()
    values["metadata"] = values["metadata"] or {}
    values["blocked"] = bool(values["blocked"])
    if fields.duration is not None:
        values["expires_at"] = now + expiry_after(fields.duration)
    try:
        return KeySettings(**values)
    except ValueError as error:
        raise errors.BadRequestError(str(error)) from None


def team_settings(fields: TeamFields, base: TeamSettings | None = None) -> TeamSettings:
    """The team settings ``fields`` describe, over ``base`` when given."""
    given = fields.model_dump(exclude_unset=True, exclude={"team_id"})
    current = base or TeamSettings()
    values: dict[str, Any] = {name: getattr(current, name) for name in TeamSettings.__dataclass_fields__}  # fmt: skip
    values.update(given)
    values["models"] = tuple(values["models"] or ())
    values["metadata"] = values["metadata"] or {}
    values["blocked"] = bool(values["blocked"])
    try:
        return TeamSettings(**values)
    except ValueError as error:
        raise errors.BadRequestError(str(error)) from None


def key_json(record: KeyRecord) -> dict[str, Any]:
    """A stored key as the API shows it: identified by its hash (`token`), never by the key."""
    settings = record.settings
    return {
        "token": record.key_hash,
        "key_alias": settings.key_alias,
        **_allowance_json(record),
        "expires": _time(settings.expires_at),
        "tags": list(settings.tags),
        "user_id": settings.user_id,
        "team_id": settings.team_id,
        "updated_at": _time(record.updated_at),
    }


def team_json(record: TeamRecord) -> dict[str, Any]:
    return {"team_id": record.team_id, "team_alias": record.settings.team_alias, **_allowance_json(record)}  # fmt: skip


def _allowance_json(record: KeyRecord | TeamRecord) -> dict[str, Any]:
    """What keys and teams share: models, budget, spend, limits, metadata, state."""
    settings = record.settings
    return {
        "models": list(settings.models),
        "max_budget": _money(settings.max_budget),
        "budget_duration": settings.budget_duration,
        "budget_reset_at": _time(record.budget_reset_at),
        "spend": _money(record.spend),
        "rpm_limit": settings.rpm_limit,
        "tpm_limit": settings.tpm_limit,
        "metadata": dict(settings.metadata),
        "blocked": settings.blocked,
        "created_at": _time(record.created_at),
    }


def _money(amount: Decimal | None) -> float | None:
    # JSON clients read numbers; the exact amount stays in the database.
    return None if amount is None else float(amount)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
