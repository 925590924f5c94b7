"""What virtual keys cost on the hot path: non-streaming /v1/chat/completions through one gateway
worker, without a database, with SQLite and the master key, and with a virtual key that has a
budget and rpm/tpm limits (its counters in memory, then in Redis), all in one run.

The gateway is pinned to one core; wrk, the nginx upstream of bench/proxy_load.py and Redis share
the other. Each round starts every variant afresh (new database) in a rotated order; the report
gives each variant's median over the rounds and the ratios the 10 % target is judged on.

    python -m bench.keys_overhead [--rounds 3] [--duration 10] [--json out.json] [--profile DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.keys_overhead_report import Run, build_report, report_json, report_markdown
from bench.keys_overhead_variants import KEY_FIELDS, VARIANTS, Variant, gateway_config, round_order
from bench.proxy_load import Bench, Options, measure
from bench.proxy_load_scenarios import CHAT, MASTER_KEY, BenchError, Call, Measurement, Scenario
from bench.proxy_load_servers import (
    Cores,
    Service,
    Target,
    answer_of,
    nginx_upstream,
    pinned,
    progress,
    served,
)

ROOT = Path(__file__).resolve().parents[1]
# The spend flusher moves journal rows (and with them the key's spend) to the database each second.
KEY_SPEND_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    """The command line: how long, how often, and where to put what it writes."""

    rounds: int
    duration: int
    warmup: int
    connections: int
    json_path: Path | None
    profile_folder: Path | None
    profiler: str
    variants: str  # names of the variants to run, e.g. "bc" for an A/B of two


@dataclass(frozen=True, slots=True)
class Backends:
    """What every gateway of the run talks to: the upstream, and Redis when it is installed."""

    upstream: Target
    redis_url: str | None


# --- talking to a running gateway ----------------------------------------------------------


def _admin_call(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Send one request with the master key; its JSON answer, or BenchError."""
    headers = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}
    data = orjson.dumps(body) if body else None
    answer = answer_of(base_url, method, path, data, headers, timeout=30)
    return orjson.loads(answer)


def new_key(base_url: str) -> str:
    """A virtual key with a budget, a budget period and rpm/tpm limits, made by the gateway."""
    key: str = _admin_call(base_url, "POST", "/key/generate", KEY_FIELDS)["key"]
    return key


def key_spend(base_url: str, key: str) -> float:
    """The key's spend in the database, once the flusher stored some (0.0 if it never did)."""
    deadline = time.monotonic() + KEY_SPEND_WAIT_SECONDS
    while True:
        spend = float(_admin_call(base_url, "GET", f"/key/info?key={key}")["info"]["spend"] or 0)
        if spend > 0 or time.monotonic() > deadline:
            return spend
        time.sleep(0.5)


# --- processes -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gateway(variant: Variant, folder: Path, bench: Bench, backends: Backends, settings: Settings) -> Service:  # fmt: skip
    """``variant``'s gateway: one worker on its own core, its database (if any) in ``folder``."""
    folder.mkdir(parents=True)
    config, port = folder / "gemgate.yaml", _free_port()
    config.write_text(
        gateway_config(variant, backends.upstream.base_url, folder, backends.redis_url)
    )
    command = [sys.executable, "-m", "bench.keys_overhead_gateway", str(config), str(port)]
    if settings.profile_folder is not None:
        profile = settings.profile_folder / f"{folder.name}.pstats"
        command += ["--profile", str(profile), "--profiler", settings.profiler]
    # `-m bench.…` from any working directory: the repository root goes on the path.
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return Service(
        "gemgate", pinned(bench.cores.gateway, command), port, folder / "gemgate.log",
        "/health/readiness", env={**os.environ, "PYTHONPATH": python_path},
    )  # fmt: skip


@contextmanager
def redis_server(work: Path, core: int | None) -> Iterator[str | None]:
    """redis-server on a free loopback port, on ``core`` if given (None when it is not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        progress("redis-server not on PATH: variant (d) is not run")
        yield None
        return
    port = _free_port()
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command = [binary, *arguments, "--dir", str(work)]
    if core is not None:
        command = pinned(core, command)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url: str | None = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_port(port, process)
    except BenchError as error:
        progress(f"{error}: variant (d) is not run")
        url = None
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"redis-server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError("redis-server did not listen within 10 s")


# --- one variant, one round ----------------------------------------------------------------


def _call(variant: Variant, gateway: Target) -> tuple[Call, str | None]:
    """The chat request ``variant`` sends, with the virtual key it made (if it uses one)."""
    if not variant.has_virtual_key:
        return CHAT, None
    key = new_key(gateway.base_url)
    return Call(CHAT.path, (("Authorization", f"Bearer {key}"),), CHAT.body, CHAT.answer), key


def cpu_seconds(stat: str, ticks_per_second: int) -> float:
    """User plus system CPU time, all threads, from the text of /proc/PID/stat."""
    # The command name (2nd field) may hold spaces; utime and stime are fields 14 and 15.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def _cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except OSError:
        return None


def _load(bench: Bench, variant: Variant, gateway: Target, name: str, settings: Settings) -> Run:
    """Load the running ``gateway`` as ``variant`` does; a keyed run must have counted spend."""
    if gateway.failure is not None:
        raise BenchError(gateway.failure)
    call, key = _call(variant, gateway)
    scenario = Scenario(name, "gemgate", call)
    if settings.warmup:
        progress(f"{name}: warm-up {settings.warmup} s")
        warm = measure(bench, scenario, gateway, settings.connections, settings.warmup)
        if warm.failure is not None:
            raise BenchError(f"warm-up: {warm.failure}")
    # The gateway's CPU per request: what throughput on a core of its own would be, even when
    # other work on the machine takes turns on that core.
    before = _cpu_seconds(gateway.pid)
    measured = measure(bench, scenario, gateway, settings.connections, settings.duration)
    after = _cpu_seconds(gateway.pid)
    if key is not None and measured.failure is None and key_spend(gateway.base_url, key) <= 0:
        raise BenchError("the virtual key's spend was never counted")
    cpu_us = None
    if before is not None and after is not None and measured.requests:
        cpu_us = (after - before) * 1e6 / (measured.requests + 1)  # + the probe
    return Run(0, variant.name, measured, cpu_us)


def _measure_variant(
    bench: Bench, variant: Variant, round_index: int, backends: Backends, settings: Settings
) -> Run:
    """Start ``variant``'s gateway afresh, load it, stop it; a failure comes back as a result."""
    folder = bench.work / f"round-{round_index + 1}-{variant.name}"
    name = f"({variant.name}) round {round_index + 1}"
    service = _gateway(variant, folder, bench, backends, settings)
    with served(service, upstream=backends.upstream) as gateway:
        try:
            run = _load(bench, variant, gateway, name, settings)
        except BenchError as error:
            progress(f"{name}: FAILED: {error}")
            failed = Measurement(name, "gemgate", settings.connections, failure=str(error))
            run = Run(0, variant.name, failed)
    return dataclasses.replace(run, round_index=round_index)


def run_rounds(bench: Bench, backends: Backends, settings: Settings) -> list[Run]:
    """Every variant once per round, each round in a rotated order."""
    variants = [
        variant
        for variant in VARIANTS
        if variant.name in settings.variants and (backends.redis_url or not variant.has_redis)
    ]
    runs = []
    for round_index in range(settings.rounds):
        for variant in round_order(variants, round_index):
            progress(f"round {round_index + 1}/{settings.rounds}: ({variant.name}) {variant.label}")
            runs.append(_measure_variant(bench, variant, round_index, backends, settings))
    return runs


# --- command line --------------------------------------------------------------------------


def _cores() -> Cores:
    """The gateway alone on the first core; wrk, the upstream and Redis on the second."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        progress("only one core: gateway and load generator share it")
    return Cores(gateway=available[0], load=available[1 if len(available) > 1 else 0])


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def _environment(bench: Bench, settings: Settings, backends: Backends) -> dict[str, object]:
    return {
        "cpu": f"{_cpu_model()} ({os.cpu_count()} cores)",
        "gateway core": bench.cores.gateway,
        "wrk, upstream and Redis core": bench.cores.load,
        "python": platform.python_version(),
        "connections": settings.connections,
        "rounds": settings.rounds,
        "measured s": settings.duration,
        "warm-up s": settings.warmup,
        "redis": "yes" if backends.redis_url else "not installed",
        "load average at the end": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


def _settings(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench.keys_overhead", description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--rounds", type=_positive, default=3, help="times each variant runs")
    parser.add_argument("--duration", type=_positive, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each")
    parser.add_argument("--connections", type=_positive, default=32, help="open connections")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report here")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR",
        help="profile each gateway and write its stats here (slows it down)",
    )  # fmt: skip
    parser.add_argument(
        "--profiler", choices=("cprofile", "yappi"), default="cprofile",
        help="cProfile (stdlib; the loop's thread) or yappi (CPU time of every thread)",
    )  # fmt: skip
    parser.add_argument(
        "--variants", default="abcd", metavar="NAMES",
        help="which variants to run (default abcd; e.g. bc to compare two more often)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.variants or set(args.variants) - {variant.name for variant in VARIANTS}:
        parser.error(f"--variants: letters among {''.join(v.name for v in VARIANTS)}")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    return Settings(args.rounds, args.duration, max(0, args.warmup), args.connections, args.json, args.profile, args.profiler, args.variants)  # fmt: skip


def _missing_tools() -> list[str]:
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        missing.append("(install with: apt-get install wrk nginx-light util-linux)")
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    """Run every variant for every round and print the report; 0 when the target is met."""
    settings = _settings(argv)
    missing = _missing_tools()
    if missing:
        print(f"keys_overhead: missing {' '.join(missing)}", file=sys.stderr)
        return 2
    # Warm-up is run here, apart from the measured run, so that CPU is read around the latter.
    options = Options(settings.duration, 0, (settings.connections,), 0, None, None, False)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gemgate-keys-bench-") as work:
        bench = Bench(Path(work), _cores(), options)
        with (
            redis_server(bench.work, bench.cores.load) as redis_url,
            served(nginx_upstream(bench.work, bench.cores)) as upstream,
        ):
            backends = Backends(upstream, redis_url)
            runs = run_rounds(bench, backends, settings)
            environment = _environment(bench, settings, backends)
    report = build_report(environment, VARIANTS, runs)
    print(report_markdown(report))
    if settings.json_path is not None:
        settings.json_path.write_bytes(report_json(report) + b"\n")
    return 0 if report.is_passed else 1


if __name__ == "__main__":
    sys.exit(main())
