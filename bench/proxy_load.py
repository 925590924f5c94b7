"""Load benchmark of the gemgate gateway: wrk against a fake Gemini API, direct and through gemgate.

Measures requests/s and p50/p99 for non-streaming chat, streaming chat and native generateContent
at 32 and 128 connections, as ratios to the same load sent straight to the upstream, with the
gateway pinned to one core and one worker; the latency gemgate adds to a 50 ms upstream; the
gateway's resident memory; the time to a stream's first byte, direct and through gemgate's
pass-through, native and chat streams; and, given a LiteLLM virtual environment, the LiteLLM proxy
under the same load in the same run. How to run it and what it reports: docs/benchmarks.md.

    python bench/proxy_load.py [--duration 10] [--json out.json] [--litellm-venv /tmp/litellm-venv]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

# Run as a file (`python bench/proxy_load.py`), the repository root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.proxy_load_markdown import report_markdown
from bench.proxy_load_report import build_report, report_json
from bench.proxy_load_scenarios import (
    ANSWER_CHECKS,
    LATENCY_CONCURRENCY,
    SCENARIOS,
    SOAK_SCENARIO,
    TTFB_CONNECTIONS,
    BenchError,
    Call,
    Measurement,
    Scenario,
    Soak,
)
from bench.proxy_load_servers import (
    FILES,
    GEMGATE,
    Cores,
    Service,
    Target,
    answer_of,
    gemgate_gateway,
    litellm_gateway,
    litellm_version,
    nginx_upstream,
    paced_upstream,
    pinned,
    progress,
    rss_mb,
    served,
    setup_litellm,
    slow_upstream,
)
from bench.proxy_load_ttfb import TtfbSettings, run_ttfb_phase

INSTALL_HINT = "apt-get install wrk nginx-light"
RSS_INTERVAL_SECONDS = 0.5
# Gateways answer slowly when saturated (LiteLLM at 128 connections); only a hang is an error.
WRK_TIMEOUT = "30s"


@dataclass(frozen=True, slots=True)
class Options:
    duration: int
    warmup: int
    concurrencies: tuple[int, ...]
    soak: int
    json_path: Path | None
    litellm_venv: Path | None
    setup_litellm: bool
    ttfb_connections: tuple[int, ...] = TTFB_CONNECTIONS


@dataclass(frozen=True, slots=True)
class Bench:
    """What every step of one run shares."""

    work: Path
    cores: Cores
    options: Options


@dataclass(frozen=True, slots=True)
class LiteLLM:
    """The peer gateway's virtual environment: absent, usable, or why it is not."""

    venv: Path | None = None
    version: str | None = None
    failure: str | None = None


# --- load ----------------------------------------------------------------------------------


def _probe(base_url: str, call: Call) -> None:
    """Send the scenario's request once; raise BenchError unless the answer is a good one."""
    headers = {"Content-Type": "application/json", **dict(call.headers)}
    body = answer_of(base_url, "POST", call.path, call.body, headers, timeout=60)
    if not ANSWER_CHECKS[call.answer](body):
        raise BenchError(f"probe answered an unexpected {call.answer} body: {body[:300]!r}")


def _wrk_command(
    url: str, call: Call, body_file: Path, concurrency: int, seconds: int
) -> list[str]:
    headers = [f"{name}: {value}" for name, value in call.headers]
    return [
        "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT, "--latency",
        "-s", str(FILES / "post.lua"), url, "--", str(body_file), *headers,
    ]  # fmt: skip


def _sample_until_exit(process: subprocess.Popen[str], pid: int | None) -> list[float]:
    samples: list[float] = []
    while True:
        if pid is not None:
            samples.append(rss_mb(pid))
        try:
            process.wait(timeout=RSS_INTERVAL_SECONDS)
            return samples
        except subprocess.TimeoutExpired:
            continue


def _parse_wrk(output: str) -> dict[str, int]:
    found = re.search(r"^WRK_JSON (\{.*\})$", output, re.MULTILINE)
    if found is None:
        raise BenchError(f"wrk printed no figures: {output.strip()[-300:]}")
    figures: dict[str, int] = orjson.loads(found.group(1))
    # wrk's own summary line; counted by wrk from the status codes it saw.
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    return figures


def _run_wrk(
    bench: Bench, target: Target, call: Call, concurrency: int, seconds: int
) -> Measurement:
    body_file = bench.work / "request-body.json"
    body_file.write_bytes(call.body)
    wrk = _wrk_command(target.base_url + call.path, call, body_file, concurrency, seconds)
    process = subprocess.Popen(
        pinned(bench.cores.load, wrk), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # The upstream's memory is not under test; only a gateway's is.
    samples = _sample_until_exit(process, target.pid if target.name != "direct" else None)
    output, errors = process.communicate()
    if process.returncode != 0:
        raise BenchError(f"wrk exited with {process.returncode}: {errors.strip()[-300:]}")
    figures = _parse_wrk(output)
    requests = figures["requests"]
    return Measurement(
        scenario="", target=target.name, concurrency=concurrency,
        requests_per_second=requests / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000, p99_ms=figures["p99_us"] / 1000, requests=requests,
        non_2xx=figures["non_2xx"], socket_errors=figures["socket_errors"],
        rss_max_mb=max(samples) if samples else None, rss_samples_mb=tuple(samples),
    )  # fmt: skip


def _load_failure(measured: Measurement) -> str | None:
    """Why a finished run does not count: errors make a scenario fail, never look fast."""
    problems = []
    if measured.non_2xx:
        problems.append(f"{measured.non_2xx} non-2xx responses")
    if measured.socket_errors:
        problems.append(f"{measured.socket_errors} socket errors (connect/read/write/timeout)")
    if not measured.requests:
        problems.append("no request completed")
    return ", ".join(problems) or None


def measure(
    bench: Bench, scenario: Scenario, target: Target, concurrency: int, seconds: int
) -> Measurement:
    """Probe once, warm up, then load `target` for `seconds`; failures come back as a result."""
    label = f"{scenario.name} c{concurrency}"
    if target.failure is not None:
        return Measurement(scenario.name, target.name, concurrency, failure=target.failure)
    try:
        _probe(target.base_url, scenario.call)
        if bench.options.warmup:
            progress(f"{label}: warm-up {bench.options.warmup} s")
            _run_wrk(bench, target, scenario.call, concurrency, bench.options.warmup)
        progress(f"{label}: measuring {seconds} s")
        measured = _run_wrk(bench, target, scenario.call, concurrency, seconds)
    except (BenchError, OSError) as error:
        progress(f"{label}: FAILED: {error}")
        return Measurement(scenario.name, target.name, concurrency, failure=str(error))
    return dataclasses.replace(measured, scenario=scenario.name, failure=_load_failure(measured))


def _measure_target(bench: Bench, target: Target, *, slow: bool) -> list[Measurement]:
    concurrencies = (LATENCY_CONCURRENCY,) if slow else bench.options.concurrencies
    return [
        measure(bench, scenario, target, concurrency, bench.options.duration)
        for scenario in SCENARIOS
        if scenario.target == target.name and scenario.is_slow_upstream == slow
        for concurrency in concurrencies
    ]


def _soak(bench: Bench, gemgate: Target) -> Soak:
    """Non-streaming chat at 32 connections for --soak seconds; RSS at its start and end."""
    measured = measure(bench, SOAK_SCENARIO, gemgate, LATENCY_CONCURRENCY, bench.options.soak)
    samples = measured.rss_samples_mb
    return Soak(
        bench.options.soak,
        dataclasses.replace(measured, scenario="gemgate chat soak"),
        samples[0] if samples else None,
        samples[-1] if samples else None,
    )


def _gateways(bench: Bench, upstream_url: str, litellm: LiteLLM) -> list[Service]:
    services = [gemgate_gateway(bench.work, bench.cores, upstream_url)]
    if litellm.failure is not None:
        services.append(Service("litellm", (), 0, bench.work, "", unavailable=litellm.failure))
    elif litellm.venv is not None:
        services.append(litellm_gateway(bench.work, bench.cores, upstream_url, litellm.venv))
    return services


def run_phase(
    bench: Bench, upstream: Service, litellm: LiteLLM, *, slow: bool
) -> tuple[list[Measurement], Soak | None]:
    """Load the upstream directly, then through each gateway in turn (one at a time)."""
    measurements, soak = [], None
    with served(upstream) as direct:
        measurements += _measure_target(bench, direct, slow=slow)
        for service in _gateways(bench, direct.base_url, litellm):
            with served(service, upstream=direct) as gateway:
                measurements += _measure_target(bench, gateway, slow=slow)
                if gateway.name == "gemgate" and bench.options.soak and not slow:
                    soak = _soak(bench, gateway)
    return measurements, soak


def _ttfb_settings(bench: Bench) -> TtfbSettings:
    options = bench.options
    return TtfbSettings(
        bench.work, bench.cores, options.warmup, options.duration, options.ttfb_connections
    )


# --- command line --------------------------------------------------------------------------


def _first_line(command: Sequence[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0]


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def _gemgate_version() -> str:
    try:
        return importlib.metadata.version("gemgate")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _environment(bench: Bench, litellm: LiteLLM) -> dict[str, object]:
    """Where the figures come from, printed above the tables."""
    return {
        "cpu": f"{_cpu_model()} ({os.cpu_count()} cores)",
        "gateway core": bench.cores.gateway,
        "load and upstream core": bench.cores.load,
        "gemgate": _gemgate_version(),
        "litellm": litellm.version or "not run",
        "python": platform.python_version(),
        "wrk": _first_line(["wrk", "-v"]).split(" [")[0].removeprefix("wrk "),
        "nginx": _first_line(["nginx", "-v"]).rsplit(" ", 1)[-1],
        "measured s": bench.options.duration,
        "warm-up s": bench.options.warmup,
    }


def _cores() -> Cores:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        progress("only one core: gateway and load generator share it; ratios are not comparable")
    return Cores(gateway=available[0], load=available[1 if len(available) > 1 else 0])


def _concurrencies(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from error
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"connections must be at least 1: {text!r}")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/proxy_load.py",
        description="Load gemgate (and optionally the LiteLLM proxy) against a fake Gemini API.",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each")
    parser.add_argument(
        "--concurrency", type=_concurrencies, default=(32, 128), metavar="N[,N...]",
        help="open connections per scenario (default 32,128)",
    )  # fmt: skip
    parser.add_argument(
        "--soak", type=int, default=0, metavar="SECONDS",
        help="also run non-streaming chat at 32 connections this long; report RSS growth",
    )  # fmt: skip
    parser.add_argument(
        "--ttfb-connections", type=_concurrencies, default=TTFB_CONNECTIONS, metavar="N[,N...]",
        help="open streams per time-to-first-byte scenario (default 1,32)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report here")
    parser.add_argument(
        "--litellm-venv", type=Path, metavar="PATH",
        help="virtual environment with litellm[proxy]; its proxy runs the same chat scenarios",
    )  # fmt: skip
    parser.add_argument(
        "--setup-litellm", action="store_true",
        help="create --litellm-venv and pip install 'litellm[proxy]' into it first",
    )  # fmt: skip
    return parser


def _options(argv: Sequence[str] | None) -> Options:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.setup_litellm and args.litellm_venv is None:
        parser.error("--setup-litellm needs --litellm-venv PATH")
    if args.duration < 1 or args.warmup < 0 or args.soak < 0:
        parser.error("--duration must be at least 1 s; --warmup and --soak not negative")
    return Options(
        args.duration, args.warmup, args.concurrency, args.soak, args.json,
        args.litellm_venv, args.setup_litellm, args.ttfb_connections,
    )  # fmt: skip


def _missing_tools() -> list[str]:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if missing:
        missing.append(f"(install with: {INSTALL_HINT})")
    if shutil.which("taskset") is None:
        missing.append("taskset (install with: apt-get install util-linux)")
    if not GEMGATE.exists():
        missing.append(f"{GEMGATE} (install gemgate into this Python: pip install -e .)")
    return missing


def _prepare_litellm(options: Options) -> LiteLLM:
    venv = options.litellm_venv
    if venv is None:
        return LiteLLM()
    if options.setup_litellm:
        try:
            setup_litellm(venv)
        except (OSError, subprocess.CalledProcessError) as error:
            return LiteLLM(failure=f"setting up {venv} failed: {error}")
    version = litellm_version(venv)
    if version is None:
        return LiteLLM(failure=f"no litellm in {venv} (add --setup-litellm to install it there)")
    return LiteLLM(venv, version)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every scenario, print the markdown report; 0 when all ran and met their targets."""
    options = _options(argv)
    missing = _missing_tools()
    if missing:
        print(f"proxy_load: missing {' '.join(missing)}", file=sys.stderr)
        return 2
    litellm = _prepare_litellm(options)
    with tempfile.TemporaryDirectory(prefix="gemgate-bench-") as work:
        bench = Bench(Path(work), _cores(), options)
        fast, soak = run_phase(bench, nginx_upstream(bench.work, bench.cores), litellm, slow=False)
        slow, _ = run_phase(bench, slow_upstream(bench.work, bench.cores), litellm, slow=True)
        ttfb = run_ttfb_phase(_ttfb_settings(bench), paced_upstream(bench.work, bench.cores))
        environment = _environment(bench, litellm)
    report = build_report(environment, [*fast, *slow], options.concurrencies, soak, ttfb)
    print(report_markdown(report))
    if options.json_path is not None:
        options.json_path.write_bytes(report_json(report) + b"\n")
    return 0 if report.is_passed else 1


if __name__ == "__main__":
    sys.exit(main())
