"""The markdown of bench/proxy_load.py's report: one table per section, ready for the README."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.proxy_load_report import (
    LatencyRow,
    MemoryRow,
    PeerRow,
    Report,
    ShareRow,
    SoakRow,
    TtfbRow,
)
from bench.proxy_load_scenarios import (
    ADDED_P50_MS,
    ADDED_P99_MS,
    LATENCY_CONCURRENCY,
    SOAK_GROWTH_LIMIT_MB,
)


def _figure(value: float | None, spec: str, before: str = "", after: str = "") -> str:
    return "—" if value is None else f"{before}{value:{spec}}{after}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        # A failure reason carries the server's last log lines; the JSON keeps them whole.
        cleaned = (cell.replace("|", "/").replace("\n", " ")[:240] for cell in cells)
        return "| " + " | ".join(cleaned) + " |"

    return [line(headers), "|" + "---|" * len(headers), *(line(row) for row in rows), ""]


def _share_lines(rows: Sequence[ShareRow]) -> list[str]:
    headers = ("scenario", "conns", "req/s", "p50 ms", "p99 ms", "vs direct", "target", "RSS MB")
    return _table(
        (*headers, "result"),
        (
            (
                row.scenario,
                str(row.concurrency),
                _figure(row.requests_per_second, ",.0f"),
                _figure(row.p50_ms, ".2f"),
                _figure(row.p99_ms, ".2f"),
                _figure(row.share_of_direct, ".1%"),
                _figure(row.min_share, ".0%", "≥ "),
                _figure(row.rss_max_mb, ".0f"),
                row.verdict,
            )  # fmt: skip
            for row in rows
        ),
    )


def _peer_lines(rows: Sequence[PeerRow]) -> list[str]:
    headers = ("scenario", "conns", "gemgate req/s", "LiteLLM req/s", "gemgate/LiteLLM", "target")
    return _table(
        (*headers, "result"),
        (
            (
                row.scenario,
                str(row.concurrency),
                _figure(row.gemgate_rps, ",.0f"),
                _figure(row.litellm_rps, ",.1f"),
                _figure(row.factor, ".1f", after="×"),
                _figure(row.min_factor, ".0f", "≥ ", "×"),
                row.verdict,
            )  # fmt: skip
            for row in rows
        ),
    )


def _latency_lines(rows: Sequence[LatencyRow]) -> list[str]:
    target = f"p50 ≤ {ADDED_P50_MS:g} ms, p99 ≤ {ADDED_P99_MS:g} ms"
    headers = ("scenario", "direct p50", "direct p99", "p50", "p99", "added p50", "added p99")
    return _table(
        (*headers, "target", "result"),
        (
            (
                row.scenario,
                _figure(row.direct_p50_ms, ".2f"),
                _figure(row.direct_p99_ms, ".2f"),
                _figure(row.p50_ms, ".2f"),
                _figure(row.p99_ms, ".2f"),
                _figure(row.added_p50_ms, "+.2f"),
                _figure(row.added_p99_ms, "+.2f"),
                target if row.has_target else "—",
                row.verdict,
            )  # fmt: skip
            for row in rows
        ),
    )


def _ttfb_lines(rows: Sequence[TtfbRow]) -> list[str]:
    headers = ("scenario", "conns", "streams", "direct p50", "direct p99", "p50", "p99")
    return _table(
        (*headers, "added p50", "added p99", "gemgate CPU wait ms/s", "target", "result"),
        (
            (
                row.scenario,
                str(row.connections),
                f"{row.streams:,}",
                _figure(row.direct_p50_ms, ".2f"),
                _figure(row.direct_p99_ms, ".2f"),
                _figure(row.p50_ms, ".2f"),
                _figure(row.p99_ms, ".2f"),
                _figure(row.added_p50_ms, "+.2f"),
                _figure(row.added_p99_ms, "+.2f"),
                _figure(row.gateway_cpu_wait_ms_per_s, ".0f"),
                _figure(row.max_added_p50_ms, "g", "added p50 ≤ ", " ms"),
                row.verdict,
            )  # fmt: skip
            for row in rows
        ),
    )


def _memory_lines(rows: Sequence[MemoryRow]) -> list[str]:
    return _table(
        ("gateway", "max RSS MB under load", "target", "result"),
        (
            (
                row.gateway,
                _figure(row.rss_max_mb, ".1f"),
                _figure(row.limit_mb, ".0f", "≤ "),
                row.verdict,
            )
            for row in rows
        ),
    )


def _soak_lines(row: SoakRow) -> list[str]:
    return _table(
        ("seconds", "req/s", "RSS start MB", "RSS end MB", "growth MB", "target", "result"),
        [
            (
                str(row.seconds),
                _figure(row.requests_per_second, ",.0f"),
                _figure(row.rss_start_mb, ".1f"),
                _figure(row.rss_end_mb, ".1f"),
                _figure(row.growth_mb, "+.1f"),
                f"≤ {SOAK_GROWTH_LIMIT_MB:g} MB",
                row.verdict,
            )  # fmt: skip
        ],
    )


def report_markdown(report: Report) -> str:
    """The report as markdown tables, ready for the README."""
    setting = ", ".join(f"{name} {value}" for name, value in report.environment.items())
    lines = ["## gemgate load benchmark", "", setting, ""]
    lines += ["### Throughput, as a share of the upstream served directly", ""]
    lines += _share_lines(report.shares)
    if report.peers:
        lines += ["### gemgate against the LiteLLM proxy, same run", "", *_peer_lines(report.peers)]
    if report.latencies:
        title = f"### Latency added to a 50 ms upstream, {LATENCY_CONCURRENCY} connections (ms)"
        lines += [title, "", *_latency_lines(report.latencies)]
    if report.ttfb:
        title = "### Time to the first byte of a stream, paced upstream (ms)"
        lines += [title, "", *_ttfb_lines(report.ttfb)]
    if report.memory:
        lines += ["### Resident memory", "", *_memory_lines(report.memory)]
    if report.soak is not None:
        lines += ["### Soak: non-streaming chat, 32 connections", "", *_soak_lines(report.soak)]
    lines.append(
        "All targets met." if report.is_passed else "Some scenarios failed or missed a target."
    )
    return "\n".join(lines)
