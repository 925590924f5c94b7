"""The time-to-first-byte verdicts of bench/proxy_load.py's report: added p50/p99 against the
direct streams at each connection count, the 1 ms target, the table and the JSON."""

from __future__ import annotations

import orjson
import pytest
from bench.proxy_load_markdown import report_markdown
from bench.proxy_load_report import build_report, report_json, ttfb_rows
from bench.proxy_load_scenarios import TTFB_ADDED_P50_MS, Measurement

DIRECT = "direct stream, first byte"
PASS_THROUGH = "gemgate pass-through stream, first byte"
NATIVE = "gemgate native stream, first byte"
CHAT = "gemgate chat stream, first byte"


def _ttfb(
    scenario: str, connections: int, p50_ms: float, p99_ms: float, failure: str | None = None
) -> Measurement:
    is_direct = scenario == DIRECT
    return Measurement(
        scenario, "direct" if is_direct else "gemgate", connections, requests_per_second=100.0,
        p50_ms=p50_ms, p99_ms=p99_ms, requests=1000 + connections,
        cpu_wait_ms_per_s=400.0 if is_direct else 12.4, failure=failure,
    )  # fmt: skip


def _run(added_p50_ms: float, connections: int = 32) -> list[Measurement]:
    return [
        _ttfb(DIRECT, connections, 0.5, 2.0),
        _ttfb(PASS_THROUGH, connections, 0.5 + added_p50_ms, 3.5),
    ]


@pytest.mark.parametrize(
    ("added_p50_ms", "verdict"),
    [(0.4, "pass"), (TTFB_ADDED_P50_MS, "pass"), (1.3, "MISSED")],
)
def test_the_pass_through_passes_when_it_adds_at_most_a_millisecond_at_p50(
    added_p50_ms: float, verdict: str
) -> None:
    [row] = ttfb_rows(_run(added_p50_ms))
    assert row.added_p50_ms == pytest.approx(added_p50_ms) and row.verdict == verdict


def test_the_added_p99_is_reported_but_not_judged() -> None:
    [row] = ttfb_rows([_ttfb(DIRECT, 32, 0.5, 2.0), _ttfb(PASS_THROUGH, 32, 0.9, 60.0)])
    assert row.added_p99_ms == 58.0 and row.verdict == "pass"


def test_native_and_chat_streams_are_reported_without_a_target() -> None:
    rows = ttfb_rows([*_run(0.2), _ttfb(NATIVE, 32, 9.0, 20.0), _ttfb(CHAT, 32, 9.0, 20.0)])
    assert [(row.scenario, row.max_added_p50_ms, row.verdict) for row in rows] == [
        (PASS_THROUGH, TTFB_ADDED_P50_MS, "pass"),
        (NATIVE, None, "ok"),
        (CHAT, None, "ok"),
    ]


def test_each_connection_count_is_compared_with_direct_at_the_same_count() -> None:
    rows = ttfb_rows([*_run(0.3, connections=1), *_run(2.0, connections=32)])
    assert [(row.connections, row.verdict) for row in rows] == [(1, "pass"), (32, "MISSED")]
    assert [row.streams for row in rows] == [1001, 1032]


def test_the_row_shows_how_long_gemgate_not_the_upstream_waited_for_its_core() -> None:
    [row] = ttfb_rows(_run(0.5))
    assert row.gateway_cpu_wait_ms_per_s == 12.4


def test_a_failed_direct_run_fails_the_comparison() -> None:
    measurements = [_ttfb(DIRECT, 1, 0.5, 2.0, failure="3 non-200 responses"), _run(0.1, 1)[1]]
    [row] = ttfb_rows(measurements)
    assert row.verdict == "FAILED: direct: 3 non-200 responses"


def test_a_scenario_without_its_direct_run_has_no_row() -> None:
    assert ttfb_rows([_ttfb(PASS_THROUGH, 32, 1.0, 2.0)]) == []


def test_a_missed_first_byte_target_fails_the_whole_report() -> None:
    assert build_report({}, [], (32,), None, _run(0.5)).is_passed
    assert not build_report({}, [], (32,), None, _run(1.5)).is_passed


def test_the_markdown_has_a_first_byte_table_with_the_target() -> None:
    text = report_markdown(build_report({"cpu": "test"}, [], (32,), None, _run(0.75)))
    assert "### Time to the first byte of a stream, paced upstream (ms)" in text
    assert (
        f"| {PASS_THROUGH} | 32 | 1,032 | 0.50 | 2.00 | 1.25 | 3.50 | +0.75 | +1.50 | 12 "
        "| added p50 ≤ 1 ms | pass |"
    ) in text


def test_a_run_without_first_byte_figures_has_no_such_table() -> None:
    text = report_markdown(build_report({"cpu": "test"}, [], (32,), None))
    assert "first byte" not in text


def test_the_json_has_the_rows_and_every_measurement() -> None:
    document = orjson.loads(report_json(build_report({}, [], (32,), None, _run(0.5))))
    assert document["ttfb"][0]["added_p50_ms"] == 0.5
    assert [m["scenario"] for m in document["ttfb_measurements"]] == [DIRECT, PASS_THROUGH]
