"""`gemgate --ssl-certfile --ssl-keyfile` (or general_settings.ssl_*): the real process serving
HTTPS and WSS on its own port, driven by the openai and google-genai SDKs, and refusing TLS files
it cannot use in one line with exit status 2."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import ssl
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google import genai
from google.genai import types

from tests.servers import free_port

MASTER_KEY = "sk-tls-master-7d21"
LIVE_MODEL = "gemini-live-2.5-flash-preview"
START_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Pem:
    """A certificate for 127.0.0.1 and localhost, its key, and a client context trusting it."""

    certificate: Path
    key: Path

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.certificate)


def _write_self_signed(folder: Path, name: str) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gemgate test")])
    now = datetime.datetime.now(datetime.UTC)
    names = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(names, critical=False).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = Pem(folder / f"{name}.pem", folder / f"{name}.key")
    pem.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pem.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))  # fmt: skip
    return pem


@pytest.fixture
def pem(tmp_path: Path) -> Pem:
    return _write_self_signed(tmp_path, "gateway")


def _environment() -> dict[str, str]:
    """This environment without Google keys: the gateway answers from its embedded emulator."""
    names = ("GEMINI_API_KEY", "GEMINI_API_BASE", "GOOGLE_API_KEY")
    return {name: value for name, value in os.environ.items() if name not in names}


def _config_file(folder: Path, **settings: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(json.dumps({"general_settings": {"master_key": MASTER_KEY, **settings}}))
    return path


def _command(config: Path, *flags: str, port: int) -> list[str]:
    return [sys.executable, "-m", "gemgate", "--config", str(config), "--port", str(port), *flags]


@contextmanager
def tls_gateway(folder: Path, trust: ssl.SSLContext, *flags: str, **settings: str) -> Iterator[str]:
    """`gemgate --config C FLAGS` (``settings`` in general_settings), once it answers over HTTPS;
    yields its https:// URL."""
    port = free_port()
    log_path = folder / "gemgate.log"
    with log_path.open("wb") as sink:
        # Its own session, so a failed test can stop the workers it forked too.
        process = subprocess.Popen(
            _command(_config_file(folder, **settings), *flags, port=port),
            stdout=sink, stderr=subprocess.STDOUT, cwd=folder, env=_environment(),
            start_new_session=True,
        )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, url, trust, log_path)
        yield url
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_ready(
    process: subprocess.Popen[bytes], url: str, trust: ssl.SSLContext, log_path: Path
) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gemgate exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health/readiness", verify=trust, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"gemgate was not ready over TLS in {START_SECONDS}s:\n{log_path.read_text()}")


def _tls_flags(pem: Pem) -> tuple[str, ...]:
    return ("--ssl-certfile", str(pem.certificate), "--ssl-keyfile", str(pem.key))


def _chat(url: str, trust: ssl.SSLContext, text: str) -> str | None:
    http = openai.DefaultHttpxClient(verify=trust)
    with openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, http_client=http, max_retries=0) as client:  # fmt: skip
        chat = client.chat.completions.create(
            model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": text}]
        )
    return chat.choices[0].message.content


# Serving TLS


def test_openai_sdk_gets_a_chat_completion_over_https(tmp_path: Path, pem: Pem) -> None:
    with tls_gateway(tmp_path, pem.trust(), *_tls_flags(pem)) as url:
        reply = _chat(url, pem.trust(), "Hello over TLS")

    assert reply == "Echo: Hello over TLS"


async def test_google_genai_live_session_runs_over_wss(tmp_path: Path, pem: Pem) -> None:
    with tls_gateway(tmp_path, pem.trust(), *_tls_flags(pem)) as url:
        # The SDK turns https:// into wss:// and appends the Live path to /gemini.
        options = types.HttpOptions(
            base_url=f"{url}/gemini", async_client_args={"ssl": pem.trust()}
        )
        client = genai.Client(api_key=MASTER_KEY, http_options=options)
        config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
        async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Hello Live")])
            )
            replies = [message async for message in session.receive()]

    assert "".join(reply.text or "" for reply in replies) == "Echo: Hello Live"


def test_every_forked_worker_serves_tls_from_the_config_file(tmp_path: Path, pem: Pem) -> None:
    settings = {"ssl_certfile": str(pem.certificate), "ssl_keyfile": str(pem.key)}
    with tls_gateway(tmp_path, pem.trust(), "--workers", "2", **settings) as url:
        # A new connection each time, so the kernel hands them to either worker.
        replies = [_chat(url, pem.trust(), f"Hello {number}") for number in range(12)]
        log = (tmp_path / "gemgate.log").read_text()

    assert replies == [f"Echo: Hello {number}" for number in range(12)]
    assert f"gemgate gateway listening on {url} (2 worker(s))" in log


def test_flags_win_over_the_config_file(tmp_path: Path, pem: Pem) -> None:
    settings = {"ssl_certfile": "missing.pem", "ssl_keyfile": "missing.key"}
    with tls_gateway(tmp_path, pem.trust(), *_tls_flags(pem), **settings) as url:
        reply = _chat(url, pem.trust(), "Hello")

    assert reply == "Echo: Hello"


def test_plain_http_to_the_tls_port_gets_no_answer(tmp_path: Path, pem: Pem) -> None:
    with tls_gateway(tmp_path, pem.trust(), *_tls_flags(pem)) as url:
        plain = url.replace("https://", "http://")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{plain}/health/liveliness", timeout=5)


# Refusing TLS files it cannot use


def _encrypted_key(folder: Path, pem: Pem) -> Path:
    key = serialization.load_pem_private_key(pem.key.read_bytes(), password=None)
    path = folder / "encrypted.key"
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ))  # fmt: skip
    return path


def _refused_inputs(folder: Path, pem: Pem) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """Case name → (flags, general_settings, the one line expected on stderr)."""
    other = _write_self_signed(folder, "other")
    (folder / "garbage.pem").write_text("not a certificate\n")
    cert, key = str(pem.certificate), str(pem.key)
    return {
        "only-the-certificate-flag": (["--ssl-certfile", cert], {},
            "TLS needs a certificate and its key: --ssl-keyfile (or general_settings.ssl_keyfile) is missing"),
        "only-the-key-in-config": ([], {"ssl_keyfile": key},
            "TLS needs a certificate and its key: --ssl-certfile (or general_settings.ssl_certfile) is missing"),
        "missing-certificate": (["--ssl-certfile", f"{folder}/nowhere.pem", "--ssl-keyfile", key], {},
            f"cannot read the TLS certificate {folder}/nowhere.pem: no such file or directory"),
        "key-is-a-folder": (["--ssl-certfile", cert, "--ssl-keyfile", str(folder)], {},
            f"cannot read the TLS key {folder}: is a directory"),
        "not-a-certificate": (["--ssl-certfile", f"{folder}/garbage.pem", "--ssl-keyfile", key], {},
            f"the TLS certificate {folder}/garbage.pem holds no PEM certificate"),
        "not-a-key": (["--ssl-certfile", cert, "--ssl-keyfile", cert], {},
            f"the TLS key {cert} holds no PEM private key"),
        "key-of-another-certificate": (["--ssl-certfile", cert, "--ssl-keyfile", str(other.key)], {},
            f"the TLS key {other.key} does not match the certificate {cert}"),
        "encrypted-key": ([], {"ssl_certfile": cert, "ssl_keyfile": str(_encrypted_key(folder, pem))},
            f"the TLS key {folder}/encrypted.key is encrypted; give it unencrypted"),
    }  # fmt: skip


REFUSED = [
    "only-the-certificate-flag", "only-the-key-in-config", "missing-certificate", "key-is-a-folder",
    "not-a-certificate", "not-a-key", "key-of-another-certificate", "encrypted-key",
]  # fmt: skip


@pytest.mark.parametrize("case", REFUSED)
def test_unusable_tls_files_exit_2_with_one_line(tmp_path: Path, pem: Pem, case: str) -> None:
    flags, settings, expected = _refused_inputs(tmp_path, pem)[case]
    command = _command(_config_file(tmp_path, **settings), *flags, port=free_port())
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=START_SECONDS, cwd=tmp_path,
        env=_environment(), stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert result.stderr == f"gemgate: {expected}\n"
