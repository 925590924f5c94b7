"""The `gemgate` command, run as users run it: a real process on loopback ports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from gemgate.emulator import EmulatorSettings
from gemgate.emulator.service_accounts import new_service_account
from tests.servers import free_port

REAL_KEY = "real-gemini-key-3f9a"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Write a story about a backpack."}]}]}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
EMULATOR_LINE = re.compile(
    r"No GEMINI_API_KEY set: answering from the built-in Gemini emulator at "
    r"http://127\.0\.0\.1:\d+ \(simulated replies\)\."
)
START_SECONDS = 30


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """The upstream the gateway is configured for accepts only the real key."""
    return EmulatorSettings(api_keys=frozenset({REAL_KEY}))


@dataclass(frozen=True, slots=True)
class Running:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")


def _environment(**extra: str) -> dict[str, str]:
    """This environment without any Gemini settings, plus ``extra``."""
    names = ("GEMINI_API_KEY", "GEMINI_API_BASE", "GOOGLE_API_KEY")
    clean = {name: value for name, value in os.environ.items() if name not in names}
    return clean | extra


@contextmanager
def gemgate(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[Running]:
    """Run `gemgate ARGS --port P` until the block ends; wait until it listens."""
    port = port or free_port()
    log_path = tmp_path / f"gemgate-{port}.log"
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gemgate", *args, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env if env is not None else _environment(),
            cwd=tmp_path,  # the embedded database and spend journal are made here
        )
    try:
        _wait_until_listening(process, port, log_path)
        yield Running(process, f"http://127.0.0.1:{port}", log_path)
    finally:
        _stop(process)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gemgate exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"gemgate did not listen on {port}:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _run_once(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gemgate", *args],
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        env=_environment(),
    )


def _bearer_token(key_file: Path) -> str:
    """An access token google-auth gets for ``key_file`` from its token_uri (the emulator)."""
    load = service_account.Credentials.from_service_account_file
    credentials = load(str(key_file), scopes=[CLOUD_PLATFORM])  # type: ignore[no-untyped-call]
    credentials.refresh(google.auth.transport.requests.Request())
    token: str = credentials.token
    return token


# gemgate emulate


def test_emulate_answers_generate_content_with_a_given_key(tmp_path: Path) -> None:
    with gemgate(tmp_path, "emulate", "--api-key", "k1", "--api-key", "k2") as emulator:
        response = httpx.post(
            emulator.url + GENERATE, json=PROMPT, headers={"x-goog-api-key": "k2"}, timeout=10
        )

    assert response.status_code == 200
    assert response.json()["candidates"][0]["finishReason"] == "STOP"


def test_emulate_refuses_a_key_it_was_not_given(tmp_path: Path) -> None:
    with gemgate(tmp_path, "emulate", "--api-key", "k1") as emulator:
        response = httpx.post(f"{emulator.url}{GENERATE}?key=other", json=PROMPT, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_emulate_without_api_keys_accepts_any_key_and_says_so(tmp_path: Path) -> None:
    with gemgate(tmp_path, "emulate") as emulator:
        response = httpx.post(f"{emulator.url}{GENERATE}?key=whatever", json=PROMPT, timeout=10)
        log = emulator.log()

    assert response.status_code == 200
    assert "No --api-key given: the emulator accepts any non-empty API key." in log


def test_emulate_new_service_account_gets_tokens_for_vertex(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    with gemgate(tmp_path, "emulate", "--new-service-account", str(key_file)) as emulator:
        token = _bearer_token(key_file)
        response = httpx.post(
            f"{emulator.url}/v1/projects/emulator-project/locations/us-central1"
            "/publishers/google/models/gemini-2.5-flash:generateContent",
            json=PROMPT,
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )

    assert key_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(key_file.read_text())["token_uri"] == f"{emulator.url}/token"
    assert response.status_code == 200


def test_emulate_trusts_a_given_service_account_key_file(tmp_path: Path) -> None:
    port = free_port()
    key, _ = new_service_account(
        client_email="ci@p.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token",
        project_id="p",
    )
    key_file = tmp_path / "ci.json"
    key_file.write_text(json.dumps(key))

    with gemgate(tmp_path, "emulate", "--service-account", str(key_file), port=port):
        token = _bearer_token(key_file)

    assert token


@pytest.mark.parametrize(("flags", "status"), [([], 400), (["--no-strict"], 200)])
def test_emulate_checks_bodies_against_google_schema_unless_told_not_to(
    tmp_path: Path, flags: list[str], status: int
) -> None:
    body = PROMPT | {"madeUpField": 1}
    with gemgate(tmp_path, "emulate", *flags) as emulator:
        response = httpx.post(f"{emulator.url}{GENERATE}?key=k", json=body, timeout=10)

    assert response.status_code == status


def test_emulate_refuses_a_file_that_is_not_a_key_file_in_one_line(tmp_path: Path) -> None:
    key_file = tmp_path / "empty.json"
    key_file.write_text("{}")

    result = _run_once("emulate", "--service-account", str(key_file), "--port", str(free_port()))

    assert result.returncode == 1
    assert result.stderr == (f"gemgate: {key_file}: service account key file has no client_email\n")


# gemgate (the gateway)


def test_gateway_without_a_key_answers_from_the_builtin_emulator(tmp_path: Path) -> None:
    with gemgate(tmp_path) as gateway:
        health = httpx.get(gateway.url + "/health/liveliness", timeout=10)
        reply = httpx.post(f"{gateway.url}/gemini{GENERATE}?key=anything", json=PROMPT, timeout=10)
        log = gateway.log()

    assert health.status_code == 200
    assert reply.status_code == 200
    assert reply.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert EMULATOR_LINE.search(log)


def test_gateway_with_a_key_uses_the_configured_api_and_never_logs_the_key(
    tmp_path: Path, emulator_url: str
) -> None:
    env = _environment(GEMINI_API_KEY=REAL_KEY, GEMINI_API_BASE=emulator_url)
    with gemgate(tmp_path, env=env) as gateway:
        reply = httpx.post(
            f"{gateway.url}/gemini{GENERATE}?key=caller-key", json=PROMPT, timeout=10
        )
        log = gateway.log()

    assert reply.status_code == 200
    assert f"Upstream: Gemini Developer API at {emulator_url}" in log
    assert REAL_KEY not in log
    assert not EMULATOR_LINE.search(log)


def test_gateway_reads_key_and_base_from_the_config_file(tmp_path: Path, emulator_url: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "general_settings:\n"
        "  gemini_api_key: os.environ/MY_GEMINI_KEY\n"
        f"  gemini_api_base: {emulator_url}\n"
        "model_list: []\n"
    )
    env = _environment(MY_GEMINI_KEY=REAL_KEY)
    with gemgate(tmp_path, "--config", str(config), env=env) as gateway:
        reply = httpx.post(f"{gateway.url}/gemini{GENERATE}", json=PROMPT, timeout=10)

    assert reply.status_code == 200


def test_access_log_leaves_out_the_query_and_its_key(tmp_path: Path) -> None:
    with gemgate(tmp_path) as gateway:
        httpx.post(f"{gateway.url}/gemini{GENERATE}?key=caller-secret", json=PROMPT, timeout=10)
        time.sleep(0.2)  # the access line is written after the response
        log = gateway.log()

    assert f"POST /gemini{GENERATE} 200" in log
    assert "caller-secret" not in log


def test_gateway_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with gemgate(tmp_path) as gateway:
        gateway.process.send_signal(signal.SIGTERM)
        exit_status = gateway.process.wait(timeout=15)

    assert exit_status == 0
    assert "gemgate stopped" in gateway.log()


# errors


@pytest.mark.parametrize(
    ("args", "prog"), [(["--bogus"], "gemgate"), (["emulate", "--bogus"], "gemgate emulate")]
)
def test_unknown_flag_exits_2_with_one_line(args: list[str], prog: str) -> None:
    result = _run_once(*args)

    assert result.returncode == 2
    assert result.stderr == (
        f"{prog}: error: unrecognized arguments: --bogus (see {prog} --help)\n"
    )


@pytest.mark.parametrize("command", [[], ["emulate"]], ids=["gateway", "emulate"])
def test_busy_port_exits_1_with_one_line(command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_once(*command, "--port", str(port))

    assert result.returncode == 1
    assert result.stderr == f"gemgate: cannot listen on 127.0.0.1:{port}: address already in use\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "gemgate: cannot read config file {path}: no such file or directory\n"),
        ("general_settings: [\n", "gemgate: {path}: invalid YAML at line 2, column 1: "),
        (
            "general_settings:\n  gemini_api_base: not-a-url\n",
            "gemgate: {path}: general_settings.gemini_api_base: must be an http:// or https:// URL\n",
        ),
    ],
    ids=["missing", "malformed", "bad-value"],
)
def test_bad_config_exits_1_with_one_line(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_text(content)

    result = _run_once("--config", str(path), "--port", str(free_port()))

    assert result.returncode == 1
    assert result.stderr.startswith(expected.format(path=path))
    assert result.stderr.count("\n") == 1
