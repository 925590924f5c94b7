"""Who is calling (the master key, a virtual key, or anyone on an open gateway) and whether this
request may go ahead: key valid, model allowed, rpm/tpm and budgets of key, team and deployment.

Refusals: 401 for a missing, unknown, blocked or expired key; 403 for a model the key or its team
may not use; 429 with Retry-After for rpm/tpm; 429 `insufficient_quota` for a spent budget (as
OpenAI answers a spent quota), with Retry-After when the budget resets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gemgate import errors
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.key_cache import KeyCache
from gemgate.proxy.limits import Counters, Limit, Refusal
from gemgate.proxy.storage.key_store import KeyRecord, hash_key
from gemgate.proxy.storage.team_store import TeamRecord

_LIMIT_NAMES = {"rpm": "requests per minute", "tpm": "tokens per minute"}


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity a request runs under; spend and limits attach to its key and team."""

    key: KeyRecord | None = None
    team: TeamRecord | None = None
    is_admin: bool = False

    @property
    def key_hash(self) -> str | None:
        return None if self.key is None else self.key.key_hash

    @property
    def label(self) -> str:
        """How logs name the caller (never the key itself)."""
        if self.key is not None:
            return self.key.settings.key_alias or f"key:{self.key.key_hash[:12]}"
        return "master" if self.is_admin else "anonymous"

    def limits(self) -> list[Limit]:
        """The limits this caller's requests count against (key first, then team)."""
        found: list[Limit] = []
        if self.key is not None:
            settings = self.key.settings
            found.append(Limit(key_scope(self.key.key_hash), settings.rpm_limit, settings.tpm_limit, settings.max_budget))  # fmt: skip
        if self.team is not None:
            settings_ = self.team.settings
            found.append(Limit(team_scope(self.team.team_id), settings_.rpm_limit, settings_.tpm_limit, settings_.max_budget))  # fmt: skip
        return [limit for limit in found if _is_limited(limit)]

    def budget_reset_at(self, scope: str) -> datetime | None:
        """When the budget of ``scope`` (this caller's key or team) starts over, if it does."""
        if self.key is not None and scope == key_scope(self.key.key_hash):
            return self.key.budget_reset_at
        if self.team is not None and scope == team_scope(self.team.team_id):
            return self.team.budget_reset_at
        return None


def _is_limited(limit: Limit) -> bool:
    return limit.rpm is not None or limit.tpm is not None or limit.max_budget is not None


ANONYMOUS = Caller()
ADMIN = Caller(is_admin=True)


def key_scope(key_hash: str) -> str:
    return f"key:{key_hash}"


def team_scope(team_id: str) -> str:
    return f"team:{team_id}"


def deployment_scope(deployment_id: str) -> str:
    return f"deployment:{deployment_id}"


async def identify(
    presented: str | None, master_key: MasterKey | None, cache: KeyCache | None, now: datetime
) -> Caller:
    """The caller ``presented`` (a key from the request) stands for; raises AuthenticationError."""
    if master_key is not None and master_key.matches(presented):
        return ADMIN
    record = await cache.key(hash_key(presented)) if presented and cache is not None else None
    if record is None:
        if master_key is None:
            return ANONYMOUS  # an open gateway: anyone may call, unattributed
        raise errors.AuthenticationError(
            "Missing or invalid API key: send it as `Authorization: Bearer <key>`, "
            "`x-gemgate-api-key: <key>`, `x-goog-api-key: <key>` or `?key=<key>`.",
            code="invalid_api_key",
        )
    _check_usable(record, now)
    team = cache.team(record.settings.team_id) if cache is not None else None
    if team is not None and team.settings.blocked:
        raise errors.AuthenticationError("This key's team is blocked.")
    return Caller(key=record, team=team)


def _check_usable(record: KeyRecord, now: datetime) -> None:
    if record.settings.blocked:
        raise errors.AuthenticationError("This key is blocked.")
    if record.is_expired(now):
        raise errors.AuthenticationError("This key has expired.")


def check_model(caller: Caller, model: str) -> None:
    """Raise PermissionDeniedError unless the caller's key and team may use ``model``."""
    for owner, allowed in _model_lists(caller):
        if allowed and model not in allowed:
            raise errors.PermissionDeniedError(
                f"This {owner} may not use model {model!r}; allowed: {', '.join(sorted(allowed))}.",
                model=model,
            )


def _model_lists(caller: Caller) -> list[tuple[str, Sequence[str]]]:
    lists: list[tuple[str, Sequence[str]]] = []
    if caller.key is not None:
        lists.append(("key", caller.key.settings.models))
    if caller.team is not None:
        lists.append(("team", caller.team.settings.models))
    return lists


async def admit(counters: Counters, caller: Caller, more: Sequence[Limit], now: datetime) -> None:
    """Count the request against the caller's limits and ``more`` (a deployment's); raises
    RateLimitError or BudgetExceededError."""
    limits = [*caller.limits(), *more]
    if not limits:
        return
    refusal = await counters.admit(limits, now.timestamp())
    if refusal is not None:
        raise refusal_error(refusal, caller, limits, now)


def refusal_error(
    refusal: Refusal, caller: Caller, limits: Sequence[Limit], now: datetime
) -> errors.RateLimitError:
    """The error a client gets for ``refusal``."""
    owner = refusal.scope.partition(":")[0]
    if refusal.reason == "budget":
        limit = next(limit for limit in limits if limit.scope == refusal.scope)
        reset_at = caller.budget_reset_at(refusal.scope)
        wait = max(1.0, (reset_at - now).total_seconds()) if reset_at is not None else None
        return errors.BudgetExceededError(
            f"This {owner}'s budget of ${limit.max_budget} is spent.",
            retry_after=wait, code="budget_exceeded",
        )  # fmt: skip
    return errors.RateLimitError(
        f"This {owner} is over its limit of {_LIMIT_NAMES[refusal.reason]}.",
        retry_after=refusal.retry_after, code=f"{refusal.reason}_limit_exceeded",
    )  # fmt: skip
