"""The real `gemgate --config FILE` process in front of a served emulator, driven by the openai and
google-genai SDKs: start-up, workers, config errors, JSON logs and stopping on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from google import genai
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families

from gemgate.emulator import EmulatorSettings
from tests.servers import free_port

GEMGATE = str(Path(sys.executable).with_name("gemgate"))
REAL_KEY = "real-upstream-key-0c7e15"
MASTER_KEY = "sk-master-b41f09"
START_SECONDS = 30
CONFIG = """\
model_list:
  - model_name: gemini-flash
    litellm_params:
      model: gemini/gemini-2.0-flash
      api_key: os.environ/GEMINI_API_KEY
      api_base: {api_base}
general_settings:
  master_key: os.environ/GEMGATE_MASTER_KEY
"""
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(api_keys=frozenset({REAL_KEY}))


@dataclass(frozen=True, slots=True)
class Gateway:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


def _environment(**extra: str) -> dict[str, str]:
    names = ("GEMINI_API_KEY", "GEMINI_API_BASE", "GOOGLE_API_KEY", "GEMGATE_MASTER_KEY")
    return {name: value for name, value in os.environ.items() if name not in names} | extra


def _config_file(tmp_path: Path, api_base: str, text: str = CONFIG) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text.format(api_base=api_base), encoding="utf-8")
    return path


@contextmanager
def running_gateway(
    tmp_path: Path,
    config: Path,
    *args: str,
    master_key: str | None = MASTER_KEY,
    key_variable: str = "GEMINI_API_KEY",
) -> Iterator[Gateway]:
    """`gemgate --config CONFIG ARGS` on a free port, once /health/readiness answers 200;
    REAL_KEY is in the environment as ``key_variable``."""
    port = free_port()
    env = _environment(**{key_variable: REAL_KEY})
    if master_key is not None:
        env["GEMGATE_MASTER_KEY"] = master_key
    log_path = tmp_path / f"gemgate-{port}.log"
    command = [GEMGATE, "--config", str(config), "--port", str(port), *args]
    with log_path.open("wb") as sink:
        # Its own session, so a failed test can stop the workers it forked too.
        # In tmp_path: the embedded database and spend journal are made in the working folder.
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, cwd=tmp_path)  # fmt: skip
    gateway = Gateway(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_ready(gateway)
        yield gateway
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_ready(gateway: Gateway) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            pytest.fail(f"gemgate exited with {gateway.process.returncode}:\n{gateway.log()}")
        try:
            if httpx.get(f"{gateway.url}/health/readiness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"gemgate was not ready in {START_SECONDS}s:\n{gateway.log()}")


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # The command name may hold spaces; the parent id is the second field after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def test_config_file_gateway_serves_both_sdks_and_stops_on_sigterm(
    tmp_path: Path, emulator_url: str
) -> None:
    with running_gateway(tmp_path, _config_file(tmp_path, emulator_url)) as gateway:
        with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0) as client:  # fmt: skip
            chat = client.chat.completions.create(model="gemini-flash", messages=USER)
            streamed = list(client.chat.completions.create(model="gemini-flash", messages=USER, stream=True))  # fmt: skip
        native = genai.Client(api_key=MASTER_KEY, http_options={"base_url": gateway.url})
        reply = native.models.generate_content(model="gemini-flash", contents="Hello there")
        native.close()
        status = gateway.stop()
        log = gateway.log()

    assert chat.choices[0].message.content == "Echo: Hello there"
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Echo: Hello there"  # fmt: skip
    assert reply.text == "Echo: Hello there"
    assert status == 0
    assert "gemgate stopped" in log
    assert "No master_key configured" not in log


def test_wrong_key_is_refused_by_the_running_gateway(tmp_path: Path, emulator_url: str) -> None:
    with running_gateway(tmp_path, _config_file(tmp_path, emulator_url)) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "gemini-flash", "messages": USER},
            headers={"authorization": "Bearer not-the-key"},
        )
        gateway.stop()

    assert response.status_code == 401


def test_without_a_master_key_the_gateway_says_it_is_open(
    tmp_path: Path, emulator_url: str
) -> None:
    open_config = CONFIG.partition("general_settings:")[0]
    config = _config_file(tmp_path, emulator_url, open_config)
    with running_gateway(tmp_path, config, master_key=None) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions", json={"model": "gemini-flash", "messages": USER}
        )
        gateway.stop()

    assert response.status_code == 200
    assert "No master_key configured: the gateway is open" in gateway.log()


def test_deployments_with_their_own_upstream_are_named_as_the_upstream(
    tmp_path: Path, emulator_url: str
) -> None:
    text = CONFIG.replace("os.environ/GEMINI_API_KEY", "os.environ/FLASH_KEY")
    config = _config_file(tmp_path, emulator_url, text)
    with running_gateway(tmp_path, config, key_variable="FLASH_KEY") as gateway:
        gateway.stop()

    assert "Upstream: the api_base and credentials of each model_list deployment." in gateway.log()
    assert "Gemini Developer API" not in gateway.log()
    assert "built-in Gemini emulator" not in gateway.log()


def test_two_workers_share_the_port_and_all_stop_on_sigterm(
    tmp_path: Path, emulator_url: str
) -> None:
    config = _config_file(tmp_path, emulator_url)
    with running_gateway(tmp_path, config, "--workers", "2") as gateway:
        workers = _children(gateway.process.pid)
        body = {"model": "gemini-flash", "messages": USER}
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        # A new connection each time, so the kernel may hand them to either worker.
        statuses = [
            httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers).status_code
            for _ in range(20)
        ]
        # Whichever worker answers the scrape reports both workers' requests.
        scraped = [
            _chat_requests_counted(httpx.get(f"{gateway.url}/metrics").text) for _ in range(6)
        ]
        status = gateway.stop()

    assert len(workers) == 2
    assert statuses == [200] * 20
    assert scraped == [20] * 6
    assert status == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def _chat_requests_counted(exposition: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "gemgate_requests_total"
        and sample.labels["route"] == "/v1/chat/completions"
    )


def test_in_flight_stream_finishes_after_sigterm(tmp_path: Path, emulator_url: str) -> None:
    prompt = "Tell me a long story about the sea and a lighthouse " * 2 + "[[emulator: chunk-delay=150]]"  # fmt: skip
    body = {"model": "gemini-flash", "messages": [{"role": "user", "content": prompt}], "stream": True}  # fmt: skip
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with (
        running_gateway(tmp_path, _config_file(tmp_path, emulator_url)) as gateway,
        httpx.stream(
            "POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=20
        ) as response,  # fmt: skip
    ):
        lines = response.iter_lines()
        first = next(lines)
        gateway.process.send_signal(signal.SIGTERM)
        rest = list(lines)
        status = gateway.process.wait(timeout=20)

    events = [line for line in rest if line]
    assert first.startswith("data: {")
    # Chunks kept coming after the signal, up to the end of the answer.
    assert len(events) > 2
    assert events[-1] == "data: [DONE]"
    assert status == 0


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (CONFIG.replace("gemini/gemini-2.0-flash", "openai/gpt-4o"),
         "model_list[0].litellm_params.model: must be gemini/<model> or vertex_ai/<model>"),
        (CONFIG.replace("api_base: {api_base}", "api_base: not-a-url"),
         "model_list[0].litellm_params.api_base: must be an http:// or https:// URL"),
        (CONFIG.replace("os.environ/GEMINI_API_KEY", "os.environ/NOT_SET_ANYWHERE_42"),
         "model_list[0].litellm_params.api_key: environment variable NOT_SET_ANYWHERE_42 is not set"),
        (CONFIG.replace("model: gemini/gemini-2.0-flash", "model: vertex_ai/gemini-2.5-flash")
               .replace("      api_key: os.environ/GEMINI_API_KEY\n", ""),
         "model_list[0] (gemini-flash): no Vertex AI credentials"),
    ],
    ids=["wrong-provider", "bad-url", "unset-variable", "unusable-deployment"],
)  # fmt: skip
def test_config_error_exits_1_naming_the_file_and_the_key(
    tmp_path: Path, emulator_url: str, config: str, expected: str
) -> None:
    path = _config_file(tmp_path, emulator_url, config)

    result = subprocess.run(
        [GEMGATE, "--config", str(path), "--port", str(free_port())],
        capture_output=True, text=True, timeout=START_SECONDS, cwd=path.parent,
        env=_environment(GEMINI_API_KEY=REAL_KEY, GEMGATE_MASTER_KEY=MASTER_KEY),
    )  # fmt: skip

    assert result.returncode == 1
    line = result.stderr.splitlines()[-1]
    assert line.startswith(f"gemgate: {path}: ")
    assert expected in line


def test_json_log_lines_carry_the_request_id_and_never_a_key(
    tmp_path: Path, emulator_url: str
) -> None:
    config = _config_file(tmp_path, emulator_url)
    native = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
    with running_gateway(tmp_path, config, "--log-format", "json") as gateway:
        response = httpx.post(
            f"{gateway.url}/v1beta/models/gemini-flash:generateContent?key={MASTER_KEY}",
            json=native,
            headers={"x-request-id": "trace-7e1", "authorization": f"Bearer {MASTER_KEY}"},
        )
        gateway.stop()
        log = gateway.log()

    assert response.status_code == 200
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    [access] = [entry for entry in entries if entry.get("request_id") == "trace-7e1"]
    assert access["logger"] == "gemgate.access"
    assert (access["path"], access["status"], access["model"]) == (
        "/v1beta/models/gemini-flash:generateContent", 200, "gemini-flash",
    )  # fmt: skip
    assert {"ts", "level", "message"} <= set(access)
    assert MASTER_KEY not in log
    assert REAL_KEY not in log
