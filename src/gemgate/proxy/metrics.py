"""The gateway's Prometheus metrics: requests, latencies, tokens, cost, upstream errors and the
spend log's flusher.

Every method runs on every request, so the labelled children are looked up once per label
combination and kept in dicts; `.labels()` is only called the first time a combination is seen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

PREFIX = "gemgate_"
# The classic text format every Prometheus version scrapes; our names need none of 1.0's escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a cached answer (half a millisecond) to a long generation (a minute).
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
TOKEN_KINDS = ("prompt", "completion", "cached", "reasoning")

# Prompt, completion, cached and reasoning token counters, then the cost counter.
_UsageCounters = tuple[Counter, Counter, Counter, Counter, Counter]
_Key = TypeVar("_Key", bound=tuple[object, ...])
_Child = TypeVar("_Child")
# prometheus_client's own switch: values live in files there, shared by forked workers.
SHARED_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_across_processes(folder: Path) -> None:
    """Keep every metric made from now on in ``folder``, so each worker's /metrics reports all
    workers together. Process-wide by nature: call once, before forking workers."""
    os.environ[SHARED_FOLDER_VARIABLE] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class _InFlight:
    """Counts a route's requests while they run; stateless, so one instance serves them all."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._gauge.dec()


class GatewayMetrics:
    """The gateway's metrics in their own registry (never the global one: many apps per process).

    Model labels are the configured model names (or "" when there is none); callers must not
    pass names taken from requests unchecked, or every typo would become a new time series.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self._requests = Counter(
            PREFIX + "requests", "Requests answered, by route, model and HTTP status.",
            ("route", "model", "status"), registry=self.registry,
        )  # fmt: skip
        self._request_seconds = Histogram(
            PREFIX + "request_duration_seconds", "Time from request to the end of the answer.",
            ("route", "model"), buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._upstream_seconds = Histogram(
            PREFIX + "upstream_duration_seconds", "Time Google took to answer, per deployment.",
            ("model", "deployment"), buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._tokens = Counter(
            PREFIX + "tokens", "Tokens used, by kind (prompt, completion, cached, reasoning).",
            ("model", "deployment", "kind"), registry=self.registry,
        )  # fmt: skip
        self._cost = Counter(
            PREFIX + "cost_usd", "Estimated cost in US dollars.",
            ("model", "deployment"), registry=self.registry,
        )  # fmt: skip
        self._upstream_errors = Counter(
            PREFIX + "upstream_errors", "Error answers and failures from Google, by HTTP status.",
            ("model", "deployment", "status"), registry=self.registry,
        )  # fmt: skip
        self._in_flight = Gauge(
            PREFIX + "in_flight_requests", "Requests being answered now.",
            ("route",), registry=self.registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self._spend_rows = Counter(
            PREFIX + "spend_log_rows",
            "Spend-log rows the flusher handled: stored, duplicates (already stored: a replay), "
            "unreadable (journal lines that are not rows) and rejected (refused by the database, "
            "kept in the journal's rejected/ folder).",
            ("outcome",), registry=self.registry,
        )  # fmt: skip
        self._spend_failures = Counter(
            PREFIX + "spend_log_flush_failures",
            "Spend-log batches the database did not take (retried; their rows wait in the journal).",
            registry=self.registry,
        )  # fmt: skip
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._upstream_children: dict[tuple[str, str], Histogram] = {}
        self._usage_children: dict[tuple[str, str], _UsageCounters] = {}
        self._error_children: dict[tuple[str, str, int], Counter] = {}
        self._in_flight_children: dict[str, _InFlight] = {}

    def observe_request(self, route: str, model: str | None, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        key = (route, model or "", status)
        children = self._request_children.get(key)
        if children is None:
            children = _cached(self._request_children, key, self._request_child)
        children[0].inc()
        children[1].observe(seconds)

    def observe_upstream(self, model: str | None, deployment: str, seconds: float) -> None:
        """Record how long one upstream call took."""
        key = (model or "", deployment)
        child = self._upstream_children.get(key)
        if child is None:
            child = _cached(self._upstream_children, key, self._upstream_seconds.labels)
        child.observe(seconds)

    def add_usage(
        self,
        model: str | None,
        deployment: str,
        *,
        prompt: int,
        completion: int,
        cached: int = 0,
        reasoning: int = 0,
        cost: Decimal | None,
    ) -> None:
        """Add one answer's token counts and cost (None: the price is unknown)."""
        key = (model or "", deployment)
        children = self._usage_children.get(key)
        if children is None:
            children = _cached(self._usage_children, key, self._usage_child)
        prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, dollars = children
        # Zero adds nothing; skipping it saves a lock round trip per kind.
        if prompt:
            prompt_tokens.inc(prompt)
        if completion:
            completion_tokens.inc(completion)
        if cached:
            cached_tokens.inc(cached)
        if reasoning:
            reasoning_tokens.inc(reasoning)
        if cost:
            dollars.inc(float(cost))

    def count_upstream_error(self, model: str | None, deployment: str, status: int) -> None:
        """Count one failed upstream call (status 0 or 504 for transport failures)."""
        key = (model or "", deployment, status)
        child = self._error_children.get(key)
        if child is None:
            child = _cached(self._error_children, key, self._error_child)
        child.inc()

    def count_spend_log(self, outcome: str, rows: int) -> None:
        """Count what the spend-log flusher did: ``rows`` rows of ``outcome``, or (outcome
        "failures") failed batches. Called per batch, off the request path."""
        if outcome == "failures":
            self._spend_failures.inc(rows)
        else:
            self._spend_rows.labels(outcome).inc(rows)

    def track_in_flight(self, route: str) -> _InFlight:
        """A context manager counting ``route``'s running requests."""
        tracker = self._in_flight_children.get(route)
        if tracker is None:
            tracker = self._in_flight_children[route] = _InFlight(self._in_flight.labels(route))
        return tracker

    def render(self) -> tuple[bytes, str]:
        """The exposition text for `GET /metrics` and its content type."""
        shared = os.environ.get(SHARED_FOLDER_VARIABLE)
        if shared is None:
            return generate_latest(self.registry), CONTENT_TYPE
        # Every worker's files, read afresh: what any worker answers is the whole gateway.
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE

    def _request_child(self, route: str, model: str, status: int) -> tuple[Counter, Histogram]:
        return (
            self._requests.labels(route, model, str(status)),
            self._request_seconds.labels(route, model),
        )

    def _usage_child(self, model: str, deployment: str) -> _UsageCounters:
        prompt, completion, cached, reasoning = (
            self._tokens.labels(model, deployment, kind) for kind in TOKEN_KINDS
        )
        return prompt, completion, cached, reasoning, self._cost.labels(model, deployment)

    def _error_child(self, model: str, deployment: str, status: int) -> Counter:
        return self._upstream_errors.labels(model, deployment, str(status))


def _cached(cache: dict[_Key, _Child], key: _Key, make: Callable[..., _Child]) -> _Child:
    """The child for ``key``, made by ``make(*key)`` on first use (the slow path only)."""
    child = cache[key] = make(*key)
    return child
