"""The verdicts of bench/keys_overhead.py: each variant's median over the rounds, the throughput
ratios the virtual-keys target is judged on, and the report as markdown or JSON."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from bench.keys_overhead_variants import Variant
from bench.proxy_load_scenarios import Measurement

# The virtual-keys target: a keyed request keeps at least this share of the keyless throughput.
MIN_RATIO = 0.90
# (numerator, denominator, minimum): the variants compared; None shows the ratio without a target.
RATIOS: tuple[tuple[str, str, float | None], ...] = (
    ("c", "a", MIN_RATIO),
    ("c", "b", MIN_RATIO),
    ("b", "a", None),
    ("d", "a", None),
    ("d", "c", None),
)


@dataclass(frozen=True, slots=True)
class Run:
    """One measured load of one variant in one round."""

    round_index: int
    variant: str
    measurement: Measurement
    cpu_us_per_request: float | None = None  # the gateway process's, all threads


@dataclass(frozen=True, slots=True)
class VariantRow:
    variant: str
    label: str
    rounds_rps: tuple[float | None, ...]
    median_rps: float | None
    median_p50_ms: float | None
    median_p99_ms: float | None
    median_cpu_us: float | None
    failure: str | None


@dataclass(frozen=True, slots=True)
class RatioRow:
    numerator: str
    denominator: str
    ratio: float | None  # of the medians
    lowest: float | None  # of the per-round ratios (each pair measured in the same round)
    highest: float | None
    cpu_ratio: float | None  # the same ratio implied by CPU per request (less noisy)
    minimum: float | None
    verdict: str


@dataclass(frozen=True, slots=True)
class Report:
    environment: dict[str, object]
    variants: list[VariantRow]
    ratios: list[RatioRow]
    runs: list[Run]

    @property
    def is_passed(self) -> bool:
        return all(row.verdict in ("ok", "pass") for row in self.ratios)


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _good(measurement: Measurement, field: str) -> float | None:
    """A figure of a run that counts (no errors), else None."""
    if measurement.failure is not None:
        return None
    value: float | None = getattr(measurement, field)
    return value


def variant_row(variant: Variant, runs: Sequence[Run]) -> VariantRow:
    """``variant``'s figures: requests/s of every round, medians of throughput and latency."""
    own = sorted((run for run in runs if run.variant == variant.name), key=lambda run: run.round_index)  # fmt: skip
    measured = [run.measurement for run in own]
    rps = tuple(_good(m, "requests_per_second") for m in measured)
    return VariantRow(
        variant.name, variant.label, rps, _median(rps),
        _median([_good(m, "p50_ms") for m in measured]),
        _median([_good(m, "p99_ms") for m in measured]),
        _median([run.cpu_us_per_request for run in own if run.measurement.failure is None]),
        next((f"round {run.round_index + 1}: {run.measurement.failure}" for run in own if run.measurement.failure), None),
    )  # fmt: skip


def _paired_ratios(numerator: VariantRow, denominator: VariantRow) -> list[float]:
    pairs = zip(numerator.rounds_rps, denominator.rounds_rps, strict=False)
    return [above / below for above, below in pairs if above is not None and below]


def ratio_row(rows: Sequence[VariantRow], pair: tuple[str, str, float | None]) -> RatioRow | None:
    """The ratio of two variants' median requests/s, its per-round spread and its verdict."""
    by_name = {row.variant: row for row in rows}
    name_above, name_below, minimum = pair
    above, below = by_name.get(name_above), by_name.get(name_below)
    if above is None or below is None:
        return None  # a variant that was not run (no redis-server)
    ratio = None
    if above.median_rps is not None and below.median_rps:
        ratio = above.median_rps / below.median_rps
    paired = _paired_ratios(above, below)
    failure = above.failure or below.failure
    if failure is not None:
        verdict = f"FAILED: {failure}"
    elif minimum is None:
        verdict = "ok"
    elif ratio is None:
        verdict = "no figure"
    else:
        verdict = "pass" if ratio >= minimum else "MISSED"
    lowest, highest = (min(paired), max(paired)) if paired else (None, None)
    cpu_ratio = None
    if above.median_cpu_us and below.median_cpu_us is not None:
        cpu_ratio = below.median_cpu_us / above.median_cpu_us
    return RatioRow(name_above, name_below, ratio, lowest, highest, cpu_ratio, minimum, verdict)


def build_report(
    environment: dict[str, object], variants: Sequence[Variant], runs: list[Run]
) -> Report:
    """Every variant's medians and the ratios between them, from the run's measurements."""
    ran = {run.variant for run in runs}
    rows = [variant_row(variant, runs) for variant in variants if variant.name in ran]
    ratios = [row for pair in RATIOS if (row := ratio_row(rows, pair)) is not None]
    return Report(environment, rows, ratios, runs)


def report_json(report: Report) -> bytes:
    """The report, every run included, as indented JSON."""
    document = {"passed": report.is_passed, **dataclasses.asdict(report)}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _figure(value: float | None, spec: str, before: str = "") -> str:
    return "—" if value is None else f"{before}{value:{spec}}"


def _variant_line(row: VariantRow) -> str:
    rounds = " / ".join(_figure(rps, ",.0f") for rps in row.rounds_rps)
    cells = (
        f"({row.variant}) {row.label}", _figure(row.median_rps, ",.0f"), rounds,
        _figure(row.median_p50_ms, ".2f"), _figure(row.median_p99_ms, ".2f"),
        _figure(row.median_cpu_us, ",.0f"),
        "ok" if row.failure is None else f"FAILED: {row.failure}",
    )  # fmt: skip
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


def _ratio_line(row: RatioRow) -> str:
    spread = "—"
    if row.lowest is not None and row.highest is not None:
        spread = f"{row.lowest:.1%} – {row.highest:.1%}"
    cells = (
        f"({row.numerator}) / ({row.denominator})", _figure(row.ratio, ".1%"), spread,
        _figure(row.cpu_ratio, ".1%"),
        _figure(row.minimum, ".0%", "≥ "), row.verdict,
    )  # fmt: skip
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


def report_markdown(report: Report) -> str:
    """The report as markdown tables, ready for the README."""
    setting = ", ".join(f"{name} {value}" for name, value in report.environment.items())
    lines = ["## gemgate keys overhead: non-streaming chat", "", setting, ""]
    lines += [
        "| variant | median req/s | req/s per round | p50 ms | p99 ms | CPU µs/req | result |",
        "|---|---|---|---|---|---|---|",
        *(_variant_line(row) for row in report.variants),
        "",
        "| throughput ratio | of medians | per round | by CPU/req | target | result |",
        "|---|---|---|---|---|---|",
        *(_ratio_line(row) for row in report.ratios),
        "",
        "All targets met." if report.is_passed else "Some variants failed or missed the target.",
    ]
    return "\n".join(lines)
