"""The time-to-first-byte phase of bench/proxy_load.py: the client's command line and figures,
and short real runs against the paced upstream, directly and through gemgate."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.proxy_load_scenarios import (
    ANSWER_CHECKS,
    DIRECT_STREAM,
    TTFB_SCENARIOS,
    BenchError,
    Call,
    Scenario,
)
from bench.proxy_load_servers import (
    STREAM_EVENT_GAP_SECONDS,
    Cores,
    Target,
    gemgate_config,
    paced_stream_seconds,
    paced_upstream,
    served,
)
from bench.proxy_load_ttfb import (
    TtfbSettings,
    client_command,
    measure_ttfb,
    parse_client_output,
    ttfb_measurement,
)
from bench.proxy_load_ttfb_client import Plan, build_request, measure

from gemgate.proxy import create_app
from gemgate.proxy.config import parse_config
from tests.servers import serve

_CPUS = sorted(os.sched_getaffinity(0))
CORES = Cores(gateway=_CPUS[0], load=_CPUS[-1])
FIGURES: dict[str, Any] = {
    "streams": 500, "seconds": 2.0, "p50_us": 1250.0, "p99_us": 4000.0, "max_us": 9000.0,
    "non_200": 0, "bad_answers": 0, "socket_errors": 0,
}  # fmt: skip
DIRECT = next(scenario for scenario in TTFB_SCENARIOS if scenario.target == "direct")
THROUGH_GEMGATE = [scenario for scenario in TTFB_SCENARIOS if scenario.target == "gemgate"]


def _settings(work: Path, seconds: float = 0.5) -> TtfbSettings:
    return TtfbSettings(work, CORES, warmup=0.0, seconds=seconds, connections=(2,))


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The paced upstream, started as the benchmark starts it."""
    with served(paced_upstream(tmp_path_factory.mktemp("paced"), CORES)) as target:
        assert target.failure is None
        yield target


@pytest.fixture(scope="module")
def gateway_url(paced: Target) -> Iterator[str]:
    """gemgate with the benchmark's config in front of the paced upstream."""
    with serve(create_app(parse_config(gemgate_config(paced.base_url), {}))) as url:
        yield url


# --- pure parts ----------------------------------------------------------------------------


def test_the_client_runs_on_the_load_core_with_the_call_s_headers(tmp_path: Path) -> None:
    command = client_command(_settings(tmp_path), "http://u/p", DIRECT_STREAM, tmp_path / "b", 32)
    assert command[:3] == ["taskset", "-c", str(CORES.load)]
    assert command[command.index("--header") + 1] == "x-goog-api-key: bench-upstream-key"
    assert command[command.index("--connections") + 1] == "32"
    assert command[command.index("--answer") + 1] == "sse"


def test_connections_are_spread_over_one_paced_stream() -> None:
    assert paced_stream_seconds() == pytest.approx(4 * STREAM_EVENT_GAP_SECONDS)


def test_the_figures_are_read_from_the_client_s_line_among_others() -> None:
    output = 'starting\nTTFB_JSON {"streams": 3, "p50_us": null}\nbye\n'
    assert parse_client_output(output) == {"streams": 3, "p50_us": None}


def test_output_without_figures_is_a_bench_error() -> None:
    with pytest.raises(BenchError, match="printed no figures: Traceback"):
        parse_client_output("Traceback (most recent call last): ...")


def test_figures_become_a_measurement_in_milliseconds_and_streams_per_second() -> None:
    measured = ttfb_measurement("s", "gemgate", 32, FIGURES)
    assert (measured.p50_ms, measured.p99_ms) == (1.25, 4.0)
    assert measured.requests == 500 and measured.requests_per_second == 250.0
    assert measured.failure is None


@pytest.mark.parametrize(
    ("counts", "failure"),
    [
        ({"non_200": 3}, "3 non-200 responses"),
        ({"bad_answers": 2}, "2 answers without the expected stream"),
        ({"socket_errors": 1}, "1 socket errors (connect/read/timeout)"),
        ({"streams": 0, "p50_us": None, "p99_us": None}, "no stream completed"),
        ({"non_200": 1, "socket_errors": 4}, "1 non-200 responses, 4 socket errors (connect/read/timeout)"),
    ],
)  # fmt: skip
def test_a_run_with_errors_fails_however_fast_it_was(counts: dict[str, Any], failure: str) -> None:
    assert ttfb_measurement("s", "gemgate", 1, {**FIGURES, **counts}).failure == failure


# --- real runs -----------------------------------------------------------------------------


def test_a_gateway_that_did_not_start_fails_without_a_run(tmp_path: Path) -> None:
    measured = measure_ttfb(_settings(tmp_path), DIRECT, Target("gemgate", failure="exited"), 2)
    assert measured.failure == "exited" and measured.requests == 0


def test_the_paced_upstream_s_first_byte_comes_before_its_second_event(
    tmp_path: Path, paced: Target
) -> None:
    measured = measure_ttfb(_settings(tmp_path), DIRECT, paced, 2)
    assert measured.failure is None and measured.requests >= 2
    assert measured.p50_ms is not None and measured.p50_ms < STREAM_EVENT_GAP_SECONDS * 1000
    assert measured.cpu_wait_ms_per_s is not None and measured.cpu_wait_ms_per_s >= 0


def test_a_probe_refused_by_the_upstream_fails_the_scenario(tmp_path: Path, paced: Target) -> None:
    call = Call(DIRECT_STREAM.path, (("x-goog-api-key", "wrong"),), DIRECT_STREAM.body, "sse")
    scenario = Scenario("direct stream, wrong key", "direct", call)
    measured = measure_ttfb(_settings(tmp_path), scenario, paced, 2)
    assert measured.failure is not None
    assert measured.failure.startswith("TTFB client: probe answered HTTP 403")


@pytest.mark.parametrize("scenario", THROUGH_GEMGATE, ids=lambda scenario: scenario.name)
async def test_gemgate_streams_reach_the_first_byte_before_the_second_event(
    gateway_url: str, scenario: Scenario
) -> None:
    url, call = gateway_url + scenario.call.path, scenario.call
    plan = Plan(
        url, build_request(url, call.body, call.headers), ANSWER_CHECKS[call.answer], 2, 0.5
    )
    figures = await measure(plan)
    assert (figures["non_200"], figures["bad_answers"], figures["socket_errors"]) == (0, 0, 0)
    p50_us = figures["p50_us"]
    assert figures["streams"] and p50_us is not None
    assert p50_us < STREAM_EVENT_GAP_SECONDS * 1e6
