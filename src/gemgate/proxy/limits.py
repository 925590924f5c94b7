"""Per-minute request and token limits and spend budgets: what every request is counted against.

A scope is a virtual key, a team or a deployment. Requests and tokens are counted in fixed
one-minute windows (the rpm/tpm convention of Google's own quotas); spend is counted in integer
nano-dollars so that every backend adds exactly. Admission is all-or-nothing: a request refused
by one scope is counted by none. `MemoryCounters` serves one process; `redis_counters.py` holds
the same counters in Redis for many gateway instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Literal, Protocol

WINDOW_SECONDS = 60
# Every key gemgate keeps in Redis (counters, the key-change channel) starts with this.
REDIS_PREFIX = "gemgate:"
NANOS_PER_DOLLAR = Decimal(1_000_000_000)

Reason = Literal["rpm", "tpm", "budget"]


@dataclass(frozen=True, slots=True)
class Limit:
    """The limits of one scope (None: not limited)."""

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    max_budget: Decimal | None = None

    @property
    def budget_nanos(self) -> int | None:
        return None if self.max_budget is None else as_nanos(self.max_budget)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request may not go ahead, and when it may (None: not by waiting a minute)."""

    scope: str
    reason: Reason
    retry_after: float | None


def as_nanos(amount: Decimal) -> int:
    """Dollars as whole nano-dollars, rounded up so that no spend is ever under-counted."""
    return int((amount * NANOS_PER_DOLLAR).to_integral_value(rounding=ROUND_CEILING))


def window_of(now: float) -> int:
    """The one-minute window ``now`` (seconds since the epoch) falls in."""
    return int(now // WINDOW_SECONDS)


def seconds_left(now: float) -> float:
    """Seconds until the window of ``now`` ends (a Retry-After for rpm and tpm refusals)."""
    return WINDOW_SECONDS - now % WINDOW_SECONDS


def refusal_for(limit: Limit, reason: Reason, now: float) -> Refusal:
    """The refusal of ``limit`` for ``reason`` at ``now``."""
    return Refusal(limit.scope, reason, None if reason == "budget" else seconds_left(now))


class Counters(Protocol):
    """Counts requests, tokens and spend per scope; shared by every request of a gateway."""

    async def admit(self, limits: Sequence[Limit], now: float) -> Refusal | None:
        """Count one request against every scope, or none of them when one refuses."""
        ...

    async def record(self, scopes: Sequence[str], tokens: int, cost: Decimal, now: float) -> None:
        """Add a finished request's tokens (to ``now``'s window) and cost to its scopes."""
        ...

    async def set_spend(self, scope: str, spend: Decimal, *, only_if_unset: bool) -> None:
        """Set a scope's spend (seeded from the database, or zero after a budget reset)."""
        ...

    async def spend(self, scope: str) -> Decimal:
        """The spend counted for ``scope``."""
        ...

    async def aclose(self) -> None:
        """Release what the counters hold (connections)."""
        ...


@dataclass(slots=True)
class _Window:
    index: int = -1
    requests: int = 0
    tokens: int = 0

    def at(self, index: int) -> _Window:
        if index != self.index:
            self.index, self.requests, self.tokens = index, 0, 0
        return self


@dataclass(slots=True)
class MemoryCounters:
    """Counters of one process: exact, as each admission runs without yielding to the loop."""

    _windows: dict[str, _Window] = field(default_factory=dict)
    _spend_nanos: dict[str, int] = field(default_factory=dict)

    async def admit(self, limits: Sequence[Limit], now: float) -> Refusal | None:
        index = window_of(now)
        for limit in limits:
            reason = self._refused(limit, index)
            if reason is not None:
                return refusal_for(limit, reason, now)
        for limit in limits:
            if limit.rpm is not None:
                self._window(limit.scope, index).requests += 1
        return None

    def _refused(self, limit: Limit, index: int) -> Reason | None:
        window = self._windows.get(limit.scope)
        current = window.at(index) if window is not None else _Window()
        if limit.rpm is not None and current.requests >= limit.rpm:
            return "rpm"
        if limit.tpm is not None and current.tokens >= limit.tpm:
            return "tpm"
        budget = limit.budget_nanos
        if budget is not None and self._spend_nanos.get(limit.scope, 0) >= budget:
            return "budget"
        return None

    def _window(self, scope: str, index: int) -> _Window:
        window = self._windows.get(scope)
        if window is None:
            window = self._windows[scope] = _Window()
        return window.at(index)

    async def record(self, scopes: Sequence[str], tokens: int, cost: Decimal, now: float) -> None:
        index, nanos = window_of(now), as_nanos(cost)
        for scope in scopes:
            self._window(scope, index).tokens += tokens
            self._spend_nanos[scope] = self._spend_nanos.get(scope, 0) + nanos

    async def set_spend(self, scope: str, spend: Decimal, *, only_if_unset: bool) -> None:
        if only_if_unset and scope in self._spend_nanos:
            return
        self._spend_nanos[scope] = as_nanos(spend)

    async def spend(self, scope: str) -> Decimal:
        return Decimal(self._spend_nanos.get(scope, 0)) / NANOS_PER_DOLLAR

    async def aclose(self) -> None:
        self._windows.clear()
