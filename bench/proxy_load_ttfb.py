"""The time-to-first-byte phase of bench/proxy_load.py: streams from the paced upstream, timed to
their first body byte by the same pinned client, directly and through gemgate."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.proxy_load_scenarios import TTFB_SCENARIOS, BenchError, Call, Measurement, Scenario
from bench.proxy_load_servers import (
    Cores,
    Service,
    Target,
    cpu_wait_seconds,
    gemgate_gateway,
    paced_stream_seconds,
    pinned,
    progress,
    served,
)

ROOT = Path(__file__).resolve().parents[1]
CLIENT = "bench.proxy_load_ttfb_client"
# Past warm-up and measuring: the probe, the last streams and the interpreter's start.
CLIENT_GRACE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class TtfbSettings:
    """What every TTFB run shares: where files go, the cores, how long, how many connections."""

    work: Path
    cores: Cores
    warmup: float
    seconds: float
    connections: tuple[int, ...]


def client_command(
    settings: TtfbSettings, url: str, call: Call, body_file: Path, connections: int
) -> list[str]:
    """The client's command line, pinned to the load core like wrk."""
    headers = [part for name, value in call.headers for part in ("--header", f"{name}: {value}")]
    client = [
        sys.executable, "-m", CLIENT, url, "--body", str(body_file), "--answer", call.answer,
        "--connections", str(connections), "--seconds", str(settings.seconds),
        "--warmup", str(settings.warmup), "--spread", str(paced_stream_seconds()), *headers,
    ]  # fmt: skip
    return pinned(settings.cores.load, client)


def parse_client_output(output: str) -> dict[str, Any]:
    """The figures of the client's `TTFB_JSON {...}` line; BenchError when there is none."""
    found = re.search(r"^TTFB_JSON (\{.*\})$", output, re.MULTILINE)
    if found is None:
        raise BenchError(f"the TTFB client printed no figures: {output.strip()[-300:]}")
    figures: dict[str, Any] = orjson.loads(found.group(1))
    return figures


def _milliseconds(microseconds: float | None) -> float | None:
    return None if microseconds is None else microseconds / 1000


def _failure(figures: dict[str, Any]) -> str | None:
    """Why a finished run does not count: errors make a scenario fail, never look fast."""
    problems = []
    if figures["non_200"]:
        problems.append(f"{figures['non_200']} non-200 responses")
    if figures["bad_answers"]:
        problems.append(f"{figures['bad_answers']} answers without the expected stream")
    if figures["socket_errors"]:
        problems.append(f"{figures['socket_errors']} socket errors (connect/read/timeout)")
    if not figures["streams"]:
        problems.append("no stream completed")
    return ", ".join(problems) or None


def ttfb_measurement(
    scenario: str, target: str, connections: int, figures: dict[str, Any]
) -> Measurement:
    """The client's figures as a Measurement: p50/p99 are TTFB, req/s are streams begun per s."""
    return Measurement(
        scenario, target, connections,
        requests_per_second=figures["streams"] / figures["seconds"],
        p50_ms=_milliseconds(figures["p50_us"]), p99_ms=_milliseconds(figures["p99_us"]),
        requests=figures["streams"], non_2xx=figures["non_200"],
        socket_errors=figures["socket_errors"], failure=_failure(figures),
    )  # fmt: skip


def _run_client(
    settings: TtfbSettings, target: Target, call: Call, connections: int
) -> dict[str, Any]:
    body_file = settings.work / "ttfb-request-body.json"
    body_file.write_bytes(call.body)
    command = client_command(settings, target.base_url + call.path, call, body_file, connections)
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, check=False,
        timeout=settings.warmup + settings.seconds + CLIENT_GRACE_SECONDS,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exited with {done.returncode}"])[-1]
        raise BenchError(f"TTFB client: {last.removeprefix('TTFB_ERROR ')}")
    return parse_client_output(done.stdout)


def measure_ttfb(
    settings: TtfbSettings, scenario: Scenario, target: Target, connections: int
) -> Measurement:
    """Probe, warm up and time streams to `target`; failures come back as a result."""
    if target.failure is not None:
        return Measurement(scenario.name, target.name, connections, failure=target.failure)
    label = f"{scenario.name} c{connections}"
    progress(f"{label}: warm-up {settings.warmup:g} s, measuring {settings.seconds:g} s")
    started, waited = time.monotonic(), _cpu_wait(target)
    try:
        figures = _run_client(settings, target, scenario.call, connections)
    except (BenchError, OSError, subprocess.TimeoutExpired) as error:
        progress(f"{label}: FAILED: {error}")
        return Measurement(scenario.name, target.name, connections, failure=str(error))
    measured = ttfb_measurement(scenario.name, target.name, connections, figures)
    wait_ms_per_s = (_cpu_wait(target) - waited) * 1000 / (time.monotonic() - started)
    return dataclasses.replace(measured, cpu_wait_ms_per_s=wait_ms_per_s)


def _cpu_wait(target: Target) -> float:
    return cpu_wait_seconds(target.pid) if target.pid is not None else 0.0


def _measure_target(settings: TtfbSettings, target: Target) -> list[Measurement]:
    return [
        measure_ttfb(settings, scenario, target, connections)
        for scenario in TTFB_SCENARIOS
        if scenario.target == target.name
        for connections in settings.connections
    ]


def run_ttfb_phase(settings: TtfbSettings, upstream: Service) -> list[Measurement]:
    """Time streams from `upstream` directly, then through gemgate (its pass-through, native
    and chat streams)."""
    with served(upstream) as direct:
        measurements = _measure_target(settings, direct)
        gateway = gemgate_gateway(settings.work, settings.cores, direct.base_url)
        with served(gateway, upstream=direct) as target:
            measurements += _measure_target(settings, target)
    return measurements
