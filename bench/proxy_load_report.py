"""The verdicts of bench/proxy_load.py: ratios, added latency, time to first byte and memory, as
JSON (bench/proxy_load_markdown.py prints them as tables)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from bench.proxy_load_scenarios import (
    ADDED_P50_MS,
    ADDED_P99_MS,
    LATENCY_CONCURRENCY,
    LATENCY_PAIRS,
    PEER_PAIRS,
    RSS_LIMIT_MB,
    SCENARIOS_BY_NAME,
    SOAK_GROWTH_LIMIT_MB,
    TTFB_ADDED_P50_MS,
    TTFB_PAIRS,
    Measurement,
    Soak,
)


@dataclass(frozen=True, slots=True)
class ShareRow:
    scenario: str
    concurrency: int
    requests_per_second: float | None
    p50_ms: float | None
    p99_ms: float | None
    rss_max_mb: float | None
    share_of_direct: float | None
    min_share: float | None
    verdict: str


@dataclass(frozen=True, slots=True)
class PeerRow:
    scenario: str
    concurrency: int
    gemgate_rps: float | None
    litellm_rps: float | None
    factor: float | None
    min_factor: float | None
    verdict: str


@dataclass(frozen=True, slots=True)
class LatencyRow:
    scenario: str
    concurrency: int
    direct_p50_ms: float | None
    direct_p99_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    added_p50_ms: float | None
    added_p99_ms: float | None
    has_target: bool
    verdict: str


@dataclass(frozen=True, slots=True)
class TtfbRow:
    """A stream's time to first byte through gemgate against the same streams sent directly."""

    scenario: str
    connections: int
    streams: int
    direct_p50_ms: float | None
    direct_p99_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    added_p50_ms: float | None
    added_p99_ms: float | None
    max_added_p50_ms: float | None
    verdict: str
    # How long gemgate waited for its core meanwhile: above a few ms per s, other work on the
    # machine, not gemgate, shaped the figures.
    gateway_cpu_wait_ms_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class MemoryRow:
    gateway: str
    rss_max_mb: float | None
    limit_mb: float | None
    verdict: str


@dataclass(frozen=True, slots=True)
class SoakRow:
    seconds: int
    requests_per_second: float | None
    rss_start_mb: float | None
    rss_end_mb: float | None
    growth_mb: float | None
    verdict: str


@dataclass(frozen=True, slots=True)
class Report:
    environment: dict[str, object]
    shares: list[ShareRow]
    peers: list[PeerRow]
    latencies: list[LatencyRow]
    memory: list[MemoryRow]
    soak: SoakRow | None
    measurements: list[Measurement]
    ttfb: list[TtfbRow] = field(default_factory=list)
    ttfb_measurements: list[Measurement] = field(default_factory=list)

    @property
    def is_passed(self) -> bool:
        rows: list[ShareRow | PeerRow | LatencyRow | TtfbRow | MemoryRow | SoakRow] = [
            *self.shares,
            *self.peers,
            *self.latencies,
            *self.ttfb,
            *self.memory,
        ]
        if self.soak is not None:
            rows.append(self.soak)
        return all(row.verdict in ("ok", "pass") for row in rows)


def _judge(failure: str | None, *, has_target: bool, is_met: bool | None) -> str:
    if failure is not None:
        return f"FAILED: {failure}"
    if not has_target:
        return "ok"
    if is_met is None:
        return "no baseline figure"
    return "pass" if is_met else "MISSED"


def _find(
    measurements: Sequence[Measurement], scenario: str, concurrency: int
) -> Measurement | None:
    found = (m for m in measurements if m.scenario == scenario and m.concurrency == concurrency)
    return next(found, None)


def _good_rps(measured: Measurement | None) -> float | None:
    """Requests/s of a run that counts (no errors), else None."""
    if measured is None or measured.failure is not None:
        return None
    return measured.requests_per_second


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _share_row(measured: Measurement, measurements: Sequence[Measurement]) -> ShareRow:
    scenario = SCENARIOS_BY_NAME[measured.scenario]
    baseline = None
    if scenario.baseline is not None:
        baseline = _good_rps(_find(measurements, scenario.baseline, measured.concurrency))
    rps = _good_rps(measured)
    share = _ratio(rps, baseline)
    minimum = scenario.min_share
    is_met = None if share is None or minimum is None else share >= minimum
    verdict = _judge(measured.failure, has_target=minimum is not None, is_met=is_met)
    return ShareRow(
        measured.scenario, measured.concurrency, rps, measured.p50_ms, measured.p99_ms,
        measured.rss_max_mb, share, minimum, verdict,
    )  # fmt: skip


def share_rows(measurements: Sequence[Measurement]) -> list[ShareRow]:
    """Every fast-upstream scenario with its share of the direct figure and its target."""
    return [
        _share_row(measured, measurements)
        for measured in measurements
        if not SCENARIOS_BY_NAME[measured.scenario].is_slow_upstream
    ]


def _peer_row(
    measurements: Sequence[Measurement], pair: tuple[str, str, float | None], concurrency: int
) -> PeerRow:
    ours, theirs, minimum = pair
    gemgate, litellm = (
        _find(measurements, ours, concurrency),
        _find(measurements, theirs, concurrency),
    )
    failure = next((m.failure for m in (gemgate, litellm) if m is not None and m.failure), None)
    ours_rps, theirs_rps = _good_rps(gemgate), _good_rps(litellm)
    factor = _ratio(ours_rps, theirs_rps)
    is_met = None if factor is None or minimum is None else factor >= minimum
    verdict = _judge(failure, has_target=minimum is not None, is_met=is_met)
    return PeerRow(ours, concurrency, ours_rps, theirs_rps, factor, minimum, verdict)


def peer_rows(measurements: Sequence[Measurement], concurrencies: Sequence[int]) -> list[PeerRow]:
    """gemgate against the LiteLLM proxy, where LiteLLM took part in the run."""
    if not any(measured.target == "litellm" for measured in measurements):
        return []
    return [
        _peer_row(measurements, pair, concurrency)
        for pair in PEER_PAIRS
        for concurrency in concurrencies
    ]


def _added(via: float | None, direct: float | None) -> float | None:
    return via - direct if via is not None and direct is not None else None


def latency_rows(measurements: Sequence[Measurement]) -> list[LatencyRow]:
    """What each gateway adds to the 50 ms upstream's p50 and p99."""
    rows = []
    for name, baseline_name, has_target in LATENCY_PAIRS:
        via = _find(measurements, name, LATENCY_CONCURRENCY)
        direct = _find(measurements, baseline_name, LATENCY_CONCURRENCY)
        if via is None or direct is None:
            continue
        failure = via.failure or (f"direct: {direct.failure}" if direct.failure else None)
        added_p50, added_p99 = _added(via.p50_ms, direct.p50_ms), _added(via.p99_ms, direct.p99_ms)
        is_met = None
        if added_p50 is not None and added_p99 is not None:
            is_met = added_p50 <= ADDED_P50_MS and added_p99 <= ADDED_P99_MS
        verdict = _judge(failure, has_target=has_target, is_met=is_met)
        rows.append(LatencyRow(
            name, LATENCY_CONCURRENCY, direct.p50_ms, direct.p99_ms, via.p50_ms, via.p99_ms,
            added_p50, added_p99, has_target, verdict,
        ))  # fmt: skip
    return rows


def _ttfb_row(via: Measurement, direct: Measurement, *, has_target: bool) -> TtfbRow:
    failure = via.failure or (f"direct: {direct.failure}" if direct.failure else None)
    added_p50, added_p99 = _added(via.p50_ms, direct.p50_ms), _added(via.p99_ms, direct.p99_ms)
    is_met = None if added_p50 is None else added_p50 <= TTFB_ADDED_P50_MS
    return TtfbRow(
        via.scenario, via.concurrency, via.requests, direct.p50_ms, direct.p99_ms, via.p50_ms,
        via.p99_ms, added_p50, added_p99, TTFB_ADDED_P50_MS if has_target else None,
        _judge(failure, has_target=has_target, is_met=is_met), via.cpu_wait_ms_per_s,
    )  # fmt: skip


def ttfb_rows(measurements: Sequence[Measurement]) -> list[TtfbRow]:
    """What gemgate adds to a stream's time to first byte, at each connection count run."""
    connections = sorted({measured.concurrency for measured in measurements})
    rows = []
    for name, baseline_name, has_target in TTFB_PAIRS:
        for count in connections:
            via = _find(measurements, name, count)
            direct = _find(measurements, baseline_name, count)
            if via is not None and direct is not None:
                rows.append(_ttfb_row(via, direct, has_target=has_target))
    return rows


def memory_rows(measurements: Sequence[Measurement]) -> list[MemoryRow]:
    """Each gateway's largest resident memory seen under load."""
    rows = []
    for gateway, limit in (("gemgate", RSS_LIMIT_MB), ("litellm", None)):
        samples = [m.rss_max_mb for m in measurements if m.target == gateway and m.rss_max_mb]
        if not samples:
            continue
        peak = max(samples)
        is_met = None if limit is None else peak <= limit
        rows.append(
            MemoryRow(
                gateway, peak, limit, _judge(None, has_target=limit is not None, is_met=is_met)
            )
        )
    return rows


def soak_row(soak: Soak) -> SoakRow:
    """RSS at the start and end of the soak run; growth past the limit means a leak."""
    growth = _added(soak.rss_end_mb, soak.rss_start_mb)
    is_met = None if growth is None else growth <= SOAK_GROWTH_LIMIT_MB
    verdict = _judge(soak.measurement.failure, has_target=True, is_met=is_met)
    rps = _good_rps(soak.measurement)
    return SoakRow(soak.seconds, rps, soak.rss_start_mb, soak.rss_end_mb, growth, verdict)


def build_report(
    environment: dict[str, object],
    measurements: list[Measurement],
    concurrencies: Sequence[int],
    soak: Soak | None,
    ttfb: Sequence[Measurement] = (),
) -> Report:
    """Every comparison the issue's targets ask for, from the run's measurements."""
    return Report(
        environment=environment,
        shares=share_rows(measurements),
        peers=peer_rows(measurements, concurrencies),
        latencies=latency_rows(measurements),
        memory=memory_rows([*measurements, *([soak.measurement] if soak else [])]),
        soak=soak_row(soak) if soak is not None else None,
        measurements=measurements,
        ttfb=ttfb_rows(ttfb),
        ttfb_measurements=list(ttfb),
    )


def report_json(report: Report) -> bytes:
    """The report, every figure and sample included, as indented JSON."""
    document = {"passed": report.is_passed, **dataclasses.asdict(report)}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)
