"""The verdicts of bench/keys_overhead.py: medians over rounds, paired ratios, the 10 % target."""

from __future__ import annotations

import pytest
from bench.keys_overhead_report import MIN_RATIO, Run, build_report, report_markdown
from bench.keys_overhead_variants import VARIANTS
from bench.proxy_load_scenarios import Measurement


def _run(
    round_index: int,
    variant: str,
    rps: float,
    failure: str | None = None,
    cpu_us: float | None = None,
) -> Run:
    measured = Measurement(
        f"({variant})", "gemgate", 32, requests_per_second=rps, p50_ms=rps / 100,
        p99_ms=rps / 10, requests=int(rps * 10), failure=failure,
    )  # fmt: skip
    return Run(round_index, variant, measured, cpu_us)


def _runs(figures: dict[str, list[float]]) -> list[Run]:
    return [
        _run(round_index, variant, rps)
        for variant, per_round in figures.items()
        for round_index, rps in enumerate(per_round)
    ]


def _ratio(runs: list[Run], numerator: str, denominator: str) -> tuple[float | None, str]:
    report = build_report({}, VARIANTS, runs)
    row = next(r for r in report.ratios if (r.numerator, r.denominator) == (numerator, denominator))
    return row.ratio, row.verdict


def test_a_variant_s_figure_is_its_median_over_the_rounds() -> None:
    report = build_report({}, VARIANTS, _runs({"a": [1000, 3000, 1200]}))
    [row] = report.variants
    assert (
        row.median_rps == 1200 and row.median_p50_ms == 12 and row.rounds_rps == (1000, 3000, 1200)
    )


@pytest.mark.parametrize(
    ("keyed", "verdict"), [(950.0, "pass"), (1000 * MIN_RATIO, "pass"), (899.0, "MISSED")]
)
def test_the_keyed_variant_passes_at_ninety_percent_of_the_keyless_one(keyed: float, verdict: str) -> None:  # fmt: skip
    ratio, found = _ratio(_runs({"a": [1000], "b": [1000], "c": [keyed]}), "c", "a")
    assert ratio == pytest.approx(keyed / 1000) and found == verdict


def test_the_spread_pairs_variants_measured_in_the_same_round() -> None:
    report = build_report({}, VARIANTS, _runs({"a": [1000, 2000], "c": [900, 1000]}))
    row = next(r for r in report.ratios if (r.numerator, r.denominator) == ("c", "a"))
    assert (row.lowest, row.highest) == (0.5, 0.9)


def test_a_failed_round_is_left_out_of_the_median_and_fails_the_verdict() -> None:
    runs = [*_runs({"a": [1000, 1000], "c": [950, 960]}), _run(2, "c", 5000, failure="9 non-2xx")]
    report = build_report({}, VARIANTS, runs)
    keyed = next(row for row in report.variants if row.variant == "c")
    assert keyed.median_rps == 955 and keyed.failure == "round 3: 9 non-2xx"
    assert _ratio(runs, "c", "a")[1] == "FAILED: round 3: 9 non-2xx"
    assert not report.is_passed


def test_a_variant_that_did_not_run_has_no_row_and_no_ratio() -> None:
    report = build_report({}, VARIANTS, _runs({"a": [1000], "b": [1000], "c": [990]}))
    assert [row.variant for row in report.variants] == ["a", "b", "c"]
    assert all("d" not in (row.numerator, row.denominator) for row in report.ratios)
    assert report.is_passed


def test_the_markdown_names_each_ratio_with_its_verdict() -> None:
    text = report_markdown(
        build_report({"cpu": "test"}, VARIANTS, _runs({"a": [1000], "c": [800]}))
    )
    assert "| (c) / (a) | 80.0% | 80.0% – 80.0% | — | ≥ 90% | MISSED |" in text
    assert text.endswith("Some variants failed or missed the target.")


def test_the_cpu_ratio_is_the_throughput_that_cpu_per_request_implies() -> None:
    runs = [_run(0, "a", 1000, cpu_us=300), _run(0, "c", 700, cpu_us=330)]
    report = build_report({}, VARIANTS, runs)
    row = next(r for r in report.ratios if (r.numerator, r.denominator) == ("c", "a"))
    assert row.cpu_ratio == pytest.approx(300 / 330) and row.verdict == "MISSED"
