"""The processes under load: the fake Gemini upstreams, the gateways, and their memory."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.proxy_load_scenarios import (
    ALIAS,
    MASTER_KEY,
    UPSTREAM_KEY,
    UPSTREAM_MODEL,
    BenchError,
)

FILES = Path(__file__).resolve().parent / "proxy_load"
GEMGATE = Path(sys.executable).parent / "gemgate"
SLOW_UPSTREAM_SECONDS = 0.05
# The paced upstream's gap between stream events: short enough for many streams per connection,
# long enough that a relay holding events back shows in the time to first byte.
STREAM_EVENT_GAP_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Cores:
    """Where things run: the gateway alone on one core, load generator and upstream on another."""

    gateway: int
    load: int


@dataclass(frozen=True, slots=True)
class Target:
    """A server under load: where it listens, which process to sample, or why it is missing."""

    name: str
    base_url: str = ""
    pid: int | None = None
    failure: str | None = None


def progress(message: str) -> None:
    """One line of progress on stderr (the report itself goes to stdout)."""
    print(f"[proxy_load] {message}", file=sys.stderr, flush=True)


# --- answers the fake upstreams give -------------------------------------------------------


def answer_json() -> bytes:
    """The generateContent answer, compact as Google sends it."""
    return orjson.dumps(orjson.loads((FILES / "generate_content.json").read_bytes()))


def answer_sse() -> bytes:
    """Google's alt=sse framing: one `data: {json}` per chunk, events separated by CRLF CRLF."""
    chunks = orjson.loads((FILES / "stream_chunks.json").read_bytes())
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)


def paced_stream_seconds() -> float:
    """How long the paced upstream takes from a stream's first event to its last."""
    return (answer_sse().count(b"\r\n\r\n") - 1) * STREAM_EVENT_GAP_SECONDS


def _nginx_text(body: bytes) -> str:
    """`body` as the inside of a single-quoted nginx string, which unescapes \\\\ \\' \\r \\n."""
    text = body.decode()
    if "$" in text:
        raise BenchError("nginx would read `$` in a fixed answer as a variable")
    text = text.replace("\\", "\\\\").replace("'", "\\'")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _nginx_config(work: Path, port: int) -> str:
    values = {
        "@PREFIX@": str(work),
        "@PORT@": str(port),
        "@API_KEY@": UPSTREAM_KEY,
        "@GENERATE_BODY@": _nginx_text(answer_json()),
        "@STREAM_BODY@": _nginx_text(answer_sse()),
    }
    text = (FILES / "nginx.conf").read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


# --- processes -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(core: int, command: Sequence[str]) -> list[str]:
    """`command` run on one CPU core only."""
    return ["taskset", "-c", str(core), *command]


@contextmanager
def _process(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` with its output in `log`; terminate it (then kill it) on the way out."""
    with log.open("wb") as output:
        # Its own session: a Ctrl-C reaches this script, which then stops the child in order.
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def answer_of(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    timeout: float,
) -> bytes:
    """One request's body when it answers 200; else BenchError naming the request."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        status, answer = response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        raise BenchError(f"{method} {path} failed: {error}") from error
    finally:
        connection.close()
    if status != 200:
        raise BenchError(f"{method} {path} answered HTTP {status}: {answer[:300]!r}")
    return answer


def _get_status(url: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
    try:
        connection.request("GET", parts.path)
        return connection.getresponse().status
    finally:
        connection.close()


def _wait_ready(process: subprocess.Popen[bytes], url: str, status: int, seconds: float) -> None:
    """Return once `url` answers `status`; raise BenchError if the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"exited with status {process.returncode} before it was ready")
        try:
            if _get_status(url) == status:
                return
        except (OSError, http.client.HTTPException):
            pass  # not listening yet
        time.sleep(0.2)
    raise BenchError(f"GET {url} did not answer {status} within {seconds:.0f} s")


def _log_tail(log: Path, lines: int = 6) -> str:
    try:
        tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(line.strip() for line in tail)


@dataclass(frozen=True, slots=True)
class Service:
    """How to start one server and how to tell that it is ready."""

    role: str  # the `target` of the scenarios it serves
    command: Sequence[str]
    port: int
    log: Path
    ready_path: str
    ready_status: int = 200
    ready_seconds: float = 60.0
    env: Mapping[str, str] | None = None
    unavailable: str | None = None  # why it cannot be started at all


@contextmanager
def served(service: Service, upstream: Target | None = None) -> Iterator[Target]:
    """Start `service`; yield it as a Target (with the reason if it could not serve)."""
    if service.unavailable is not None:
        yield Target(service.role, failure=service.unavailable)
        return
    if upstream is not None and upstream.failure is not None:
        yield Target(service.role, failure=f"no upstream: {upstream.failure}")
        return
    base_url = f"http://127.0.0.1:{service.port}"
    progress(f"starting {service.role}: {' '.join(service.command)}")
    with _process(service.command, service.log, service.env) as process:
        try:
            ready_url = base_url + service.ready_path
            _wait_ready(process, ready_url, service.ready_status, service.ready_seconds)
        except BenchError as error:
            reason = f"{service.role} {error}: {_log_tail(service.log)}"
            progress(f"{service.role}: FAILED: {reason}")
            yield Target(service.role, failure=reason)
            return
        yield Target(service.role, base_url, process.pid)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (those still running)."""
    pids = [pid]
    for current in pids:  # grows while it is walked
        try:
            for children in Path(f"/proc/{current}/task").glob("*/children"):
                pids.extend(int(child) for child in children.read_text().split())
        except OSError:
            continue  # exited meanwhile
    return pids


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, in MB (10^6 bytes)."""
    total_kib = 0
    for current in _process_tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue  # exited meanwhile
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total_kib += int(found.group(1)) if found else 0
    return total_kib * 1024 / 1e6


def cpu_wait_seconds(pid: int) -> float:
    """How long the threads of `pid` and its descendants have waited, runnable, for a core.

    On a machine shared with other work this is what tells a slow gateway from a starved one
    (the second field of /proc/PID/task/TID/schedstat, in ns).
    """
    waited_ns = 0
    for current in _process_tree(pid):
        for schedstat in Path(f"/proc/{current}/task").glob("*/schedstat"):
            try:
                waited_ns += int(schedstat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile, or a kernel without schedstats
    return waited_ns / 1e9


# --- servers -------------------------------------------------------------------------------


def nginx_upstream(work: Path, cores: Cores) -> Service:
    """The C-speed fake Gemini API: the limit every gateway figure is compared with."""
    port = _free_port()
    config = work / "nginx.conf"
    config.write_text(_nginx_config(work, port))
    nginx = ["nginx", "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(config)]
    command = pinned(cores.load, nginx)
    return Service("direct", command, port, work / "nginx.log", "/", ready_status=404)


def _aiohttp_upstream(
    work: Path, cores: Cores, delay: float, event_gap: float, log_name: str
) -> Service:
    port = _free_port()
    answer, stream = work / "answer.json", work / "answer.sse"
    answer.write_bytes(answer_json())
    stream.write_bytes(answer_sse())
    arguments = [str(port), str(delay), UPSTREAM_KEY, str(answer), str(stream), str(event_gap)]
    server = [sys.executable, str(FILES / "slow_upstream.py"), *arguments]
    command = pinned(cores.load, server)
    return Service("direct", command, port, work / log_name, "/", ready_status=404)


def slow_upstream(work: Path, cores: Cores) -> Service:
    """The same answers after 50 ms, for the latency a gateway adds."""
    return _aiohttp_upstream(work, cores, SLOW_UPSTREAM_SECONDS, 0.0, "slow-upstream.log")


def paced_upstream(work: Path, cores: Cores) -> Service:
    """The same answers at once, streams event by event, for the time to a stream's first byte."""
    return _aiohttp_upstream(work, cores, 0.0, STREAM_EVENT_GAP_SECONDS, "paced-upstream.log")


def gemgate_config(upstream_url: str) -> str:
    """The gateway's config.yaml: one model in front of the upstream, behind the master key."""
    # general_settings' gemini_api_* point the /gemini pass-through at the same upstream.
    return (
        "model_list:\n"
        f"  - model_name: {ALIAS}\n"
        f"    params: {{model: gemini/{UPSTREAM_MODEL}, api_key: {UPSTREAM_KEY}, "
        f'api_base: "{upstream_url}"}}\n'
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
        f"  gemini_api_key: {UPSTREAM_KEY}\n"
        f'  gemini_api_base: "{upstream_url}"\n'
    )


def gemgate_gateway(work: Path, cores: Cores, upstream_url: str) -> Service:
    """gemgate, one worker on its own core, with auth on and one model in front of the upstream."""
    port, config = _free_port(), work / "gemgate.yaml"
    # The command line's default SQLite database, in this run's own folder (not the caller's).
    database = f'  database_url: "sqlite:///{work / "gemgate.db"}"\n'
    config.write_text(gemgate_config(upstream_url) + database)
    arguments = ["--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    gemgate = [str(GEMGATE), *arguments, "--workers", "1", "--log-level", "warning"]
    command = pinned(cores.gateway, gemgate)
    return Service("gemgate", command, port, work / "gemgate.log", "/health/readiness")


def litellm_gateway(work: Path, cores: Cores, upstream_url: str, venv: Path) -> Service:
    """The LiteLLM proxy from `venv`, configured and pinned like gemgate."""
    port, config = _free_port(), work / "litellm.yaml"
    # LiteLLM's Gemini provider posts to {api_base}/models/{model}:{method} (read in its
    # vertex_llm_base.py, and checked by the probe before every scenario).
    config.write_text(
        "model_list:\n"
        f"  - model_name: {ALIAS}\n"
        f"    litellm_params: {{model: gemini/{UPSTREAM_MODEL}, api_key: {UPSTREAM_KEY}, "
        f'api_base: "{upstream_url}/v1beta"}}\n'
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    arguments = ["--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    litellm = [str(venv / "bin" / "litellm"), *arguments, "--num_workers", "1"]
    # The bundled price map instead of a download at start-up (nothing outside loopback here).
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    return Service(
        "litellm", pinned(cores.gateway, litellm), port, work / "litellm.log",
        "/health/readiness", ready_seconds=240.0, env=env,
    )  # fmt: skip


def litellm_version(venv: Path) -> str | None:
    """The litellm version installed in `venv`, or None when it has none."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    script = "import importlib.metadata as m; print(m.version('litellm'))"
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def setup_litellm(venv: Path) -> None:
    """Create `venv` and install the LiteLLM proxy into it from PyPI."""
    progress(f"installing litellm[proxy] into {venv} (this takes minutes)")
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "litellm[proxy]"]
    subprocess.run(pip, check=True)
