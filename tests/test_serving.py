"""Serving the gateway: a gateway that cannot start (its database unreachable, its app's start-up
failing in one worker or all) says why in one line and exits non-zero, without a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import free_port

MASTER_KEY = "sk-serving-master"


def run_gateway(
    folder: Path, config: dict[str, Any], *flags: str
) -> subprocess.CompletedProcess[str]:
    """`gemgate --config` in ``folder`` until it exits by itself (bounded: a hang fails)."""
    path = folder / "config.yaml"
    path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "gemgate", "--config", str(path), "--port", str(free_port())]
    return subprocess.run(
        [*command, "--log-level", "warning", *flags],
        capture_output=True, text=True, timeout=30, cwd=folder,
    )  # fmt: skip


def test_an_unreachable_database_at_start_exits_1_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql://gemgate:secret-password@127.0.0.1:{free_port()}/gemgate"
    settings = {"database_url": url, "master_key": MASTER_KEY}
    result = run_gateway(tmp_path, {"general_settings": settings})

    assert result.returncode == 1
    assert result.stderr.startswith("gemgate: cannot open the database postgresql://gemgate:")
    assert result.stderr.count("\n") == 1
    assert "secret-password" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_worker_that_cannot_start_makes_the_gateway_exit_1_with_one_line_each(
    tmp_path: Path, workers: str
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    settings = {"spend_journal": "not-a-folder/journal", "gemini_api_key": "unused",
                "master_key": MASTER_KEY}  # fmt: skip
    result = run_gateway(tmp_path, {"general_settings": settings}, "--workers", workers)

    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= int(workers), result.stderr
    assert all("cannot start the gateway: not a directory" in line for line in lines), result.stderr


# Stopping forked workers: one stop signal reaches each child once.

READY_SECONDS = 30
GENERATE = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}


def _without_gemini_keys() -> dict[str, str]:
    names = ("GEMINI_API_KEY", "GEMINI_API_BASE", "GOOGLE_API_KEY")
    return {name: value for name, value in os.environ.items() if name not in names}


@contextmanager
def forked_gateway(folder: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`gemgate FLAGS` (no Google key: the embedded emulator) in its own session, once a call
    through it has reached the emulator; the process and its log file."""
    port = free_port()
    log_path = folder / "gemgate.log"
    command = [sys.executable, "-m", "gemgate", "--port", str(port), *flags]
    with log_path.open("wb") as sink:
        # Its own session: the test can signal the whole group, as a terminal's Ctrl-C does.
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=folder,
                                   env=_without_gemini_keys(), start_new_session=True)  # fmt: skip
    try:
        _wait_until_answering(process, f"http://127.0.0.1:{port}", log_path)
        yield process, log_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gemgate exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.post(f"{url}{GENERATE}?key=any", json=PROMPT, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"gemgate did not answer in {READY_SECONDS}s:\n{log_path.read_text()}")


def _stop_by(process: subprocess.Popen[bytes], how: str) -> None:
    if how == "sigterm-to-gemgate":
        process.send_signal(signal.SIGTERM)
    else:  # Ctrl-C in a terminal: SIGINT to every process of the foreground group
        os.killpg(process.pid, signal.SIGINT)


@pytest.mark.parametrize("how", ["sigterm-to-gemgate", "ctrl-c-to-the-process-group"])
def test_stopping_forked_workers_and_the_embedded_emulator_logs_no_error_and_exits_0(
    tmp_path: Path, how: str
) -> None:
    with forked_gateway(tmp_path, "--workers", "2") as (process, log_path):
        _stop_by(process, how)
        status = process.wait(timeout=30)
    log = log_path.read_text()

    assert status == 0, log
    assert " ERROR " not in log and "Traceback" not in log, log
    # The emulator ran its shutdown (a forced exit skips it) and every process said it stopped.
    assert "Application shutdown complete." in log, log
    assert log.count("gemgate stopped") == 3, log
