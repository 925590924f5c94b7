"""WS /gemini/ws/... and /vertex_ai/live end to end: websockets and google-genai clients, the
gateway on loopback, and the emulator behind it checking keys and bearer tokens."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google import genai
from google.genai import types
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.routes.vertex_live import developer_live_credentials, gateway_params_removed
from gemgate.translate.usage import read_usage
from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import MASTER_KEY
from tests.proxy.routes.test_keys import new_key, spend_logs
from tests.servers import free_port, serve

LIVE_MODEL = "gemini-live-2.5-flash-preview"
PROJECT, LOCATION = "emulator-project", "us-central1"
DEVELOPER_PATH = (
    "/gemini/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)
TEXT_ONLY = {"responseModalities": ["TEXT"]}
GATEWAY_KEY = {"x-gemgate-api-key": MASTER_KEY}
# An ephemeral token as Google names them; the emulator takes it like a key it knows.
EPHEMERAL_TOKEN = "auth_tokens/ephemeral-5e1d"
CONSTRAINED_PATH = (
    "/gemini/ws/google.ai.generativelanguage.v1alpha.GenerativeService"
    ".BidiGenerateContentConstrained"
)


@dataclass
class DisconnectLog:
    """ASGI wrapper around the emulator: records the close code and reason of every socket
    that its peer (the gateway) closed, as the emulator receives them."""

    app: Starlette
    closes: list[tuple[int, str]] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def observed() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.closes.append((message.get("code", 1005), message.get("reason") or ""))
                self.closed.set()
            return message

        await self.app(scope, observed, send)


@dataclass(frozen=True)
class Upstream:
    url: str
    key_file: dict[str, str]
    emulator: Starlette
    log: DisconnectLog

    def requests(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = httpx.get(f"{self.url}/emulator/requests").json()[
            "requests"
        ]
        return [entry for entry in entries if entry["method"] == "WEBSOCKET"]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """The emulator with a trusted service account and TEST_API_KEY, its closes recorded."""
    port = free_port()
    key_file, account = new_service_account(
        client_email="gateway@emulator-project.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token", project_id=PROJECT,
    )  # fmt: skip
    api_keys = frozenset({TEST_API_KEY, EPHEMERAL_TOKEN})
    settings = EmulatorSettings(api_keys=api_keys, service_accounts=(account,))
    emulator = create_emulator_app(settings)
    log = DisconnectLog(emulator)
    with serve(log, port=port) as url:
        yield Upstream(url, key_file, emulator, log)


def live_config(upstream: Upstream, *, credentials: bool = True, **settings: Any) -> ProxyConfig:
    """The gateway in front of ``upstream`` (``settings`` add to general_settings)."""
    vertex: dict[str, Any] = {"project": PROJECT, "location": LOCATION, "base_url": upstream.url}
    if credentials:
        vertex["credentials"] = upstream.key_file
    general = {"gemini_api_base": upstream.url, "gemini_api_key": TEST_API_KEY,
               "master_key": MASTER_KEY, **settings}  # fmt: skip
    return ProxyConfig.model_validate(
        {"general_settings": general, "pass_through": {"vertex_ai": vertex}}
    )


@pytest.fixture
def gateway(upstream: Upstream) -> Iterator[str]:
    with serve(create_app(live_config(upstream))) as url:
        yield url.replace("http://", "ws://")


def developer_url(gateway: str, query: str = "") -> str:
    return f"{gateway}{DEVELOPER_PATH}?key={MASTER_KEY}{query}"


async def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), timeout=10))
    return message


async def start(socket: ClientConnection, model: str) -> None:
    await socket.send(orjson.dumps({"setup": {"model": model, "generationConfig": TEXT_ONLY}}))
    assert await receive(socket) == {"setupComplete": {}}


async def converse(socket: ClientConnection, text: str) -> list[dict[str, Any]]:
    """Send one user turn; return the server's messages up to turnComplete."""
    turn = {"turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": True}
    await socket.send(orjson.dumps({"clientContent": turn}).decode())
    messages: list[dict[str, Any]] = []
    while not messages or not messages[-1].get("serverContent", {}).get("turnComplete"):
        messages.append(await receive(socket))
    return messages


def model_text(messages: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for message in messages
        for part in message.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    )


async def close_of(socket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


# --- Developer API -------------------------------------------------------------------------


async def test_developer_session_is_relayed_with_usage(gateway: str) -> None:
    async with connect(developer_url(gateway)) as socket:
        await start(socket, f"models/{LIVE_MODEL}")
        first = await converse(socket, "Hello there")
        second = await converse(socket, "And again")
    assert (model_text(first), model_text(second)) == ("Echo: Hello there", "Echo: And again")
    assert first[-1]["usageMetadata"]["responseTokenCount"] > 0


async def test_gateway_key_never_reaches_the_developer_api(
    gateway: str, upstream: Upstream
) -> None:
    async with connect(developer_url(gateway), additional_headers={"x-goog-api-key": MASTER_KEY}) as socket:  # fmt: skip
        await start(socket, f"models/{LIVE_MODEL}")
        await converse(socket, "Hi")
    (setup, turn) = upstream.requests()
    for entry in (setup, turn):
        assert MASTER_KEY not in orjson.dumps(entry).decode()
        assert entry["headers"]["x-goog-api-key"] == TEST_API_KEY


async def test_model_query_renames_the_developer_setup_model(
    gateway: str, upstream: Upstream
) -> None:
    async with connect(developer_url(gateway, f"&model={LIVE_MODEL}")) as socket:
        await start(socket, "models/gemini-2.5-flash")  # not a Live model: replaced
        assert model_text(await converse(socket, "Hi")) == "Echo: Hi"
    assert upstream.requests()[0]["body"]["setup"]["model"] == f"models/{LIVE_MODEL}"


async def test_google_close_code_and_reason_reach_the_caller(gateway: str) -> None:
    async with connect(developer_url(gateway)) as socket:
        await socket.send(orjson.dumps({"setup": {"model": "models/gemini-2.5-flash"}}).decode())
        code, reason = await close_of(socket)
    assert code == 1008 and "models/gemini-2.5-flash is not found" in reason


async def test_caller_close_code_and_reason_reach_google(gateway: str, upstream: Upstream) -> None:
    async with connect(developer_url(gateway)) as socket:
        await start(socket, f"models/{LIVE_MODEL}")
        await socket.close(code=4000, reason="user hung up")
    assert await asyncio.to_thread(upstream.log.closed.wait, 10)
    assert upstream.log.closes == [(4000, "user hung up")]


async def test_caller_vanishing_mid_session_closes_the_upstream_socket(
    gateway: str, upstream: Upstream
) -> None:
    socket = await connect(developer_url(gateway))
    await start(socket, f"models/{LIVE_MODEL}")
    socket.transport.abort()  # no close frame: the caller is just gone
    assert await asyncio.to_thread(upstream.log.closed.wait, 10)
    assert upstream.log.closes == [(1001, "")]


@pytest.mark.parametrize("path", [DEVELOPER_PATH, "/vertex_ai/live", "/vertex-ai/live"])
async def test_unauthenticated_caller_is_refused_before_the_upgrade(
    gateway: str, upstream: Upstream, path: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{gateway}{path}", additional_headers={"x-goog-api-key": "wrong"})
    response = refused.value.response
    assert response.status_code == 401
    assert orjson.loads(response.body)["error"]["status"] == "UNAUTHENTICATED"
    assert upstream.requests() == []


# The SDK dials wss:// whatever the base URL's scheme, so it meets the gateway over TLS.


@pytest.fixture
def tls_gateway(upstream: Upstream, tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    certificate, key = _self_signed_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificate, key)
    with serve(create_app(live_config(upstream)), ssl_context=server) as url:
        yield url, ssl.create_default_context(cafile=certificate)


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway")])
    now = datetime.datetime.now(datetime.UTC)
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(loopback, critical=False).sign(key, hashes.SHA256())
    )  # fmt: skip
    certificate_path, key_path = folder / "gateway.pem", folder / "gateway.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    ))  # fmt: skip
    return certificate_path, key_path


async def test_google_genai_live_client_talks_through_the_gemini_route(
    tls_gateway: tuple[str, ssl.SSLContext], upstream: Upstream
) -> None:
    url, trust = tls_gateway
    options = types.HttpOptions(base_url=f"{url}/gemini", async_client_args={"ssl": trust})
    client = genai.Client(api_key=MASTER_KEY, http_options=options)
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hello")])
        )
        replies = [message async for message in session.receive()]
    assert "".join(reply.text or "" for reply in replies) == "Echo: Hello"
    usage = replies[-1].usage_metadata
    assert usage is not None and usage.response_token_count
    assert all(MASTER_KEY not in orjson.dumps(entry).decode() for entry in upstream.requests())


# --- Vertex AI -----------------------------------------------------------------------------


def vertex_url(gateway: str, query: str = "") -> str:
    return f"{gateway}/vertex_ai/live{query}"


async def test_vertex_session_uses_a_token_the_emulator_accepts(
    gateway: str, upstream: Upstream
) -> None:
    received: list[str | bytes] = []
    async with connect(vertex_url(gateway), additional_headers=GATEWAY_KEY) as socket:
        await start(socket, f"publishers/google/models/{LIVE_MODEL}")
        messages = await converse(socket, "Hello Vertex")
        received.extend(orjson.dumps(message).decode() for message in messages)
        handshake = socket.response
    assert model_text(messages) == "Echo: Hello Vertex"
    assert messages[-1]["usageMetadata"]["candidatesTokenCount"] > 0
    setup = upstream.requests()[0]
    # Named in full for Vertex, with the configured project and location.
    assert setup["body"]["setup"]["model"] == (
        f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{LIVE_MODEL}"
    )
    scheme, _, token = setup["headers"]["authorization"].partition(" ")
    assert scheme == "Bearer" and token in upstream.emulator.state.emulator.access_tokens
    assert MASTER_KEY not in orjson.dumps(setup).decode()
    assert handshake is not None and token not in repr(dict(handshake.headers))
    assert all(token not in text for text in received)


@pytest.mark.parametrize(
    ("query", "model"),
    [
        (f"?model={LIVE_MODEL}",
         f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{LIVE_MODEL}"),
        (f"?vertex_project=other-project&vertex_location=europe-west4&model={LIVE_MODEL}",
         f"projects/other-project/locations/europe-west4/publishers/google/models/{LIVE_MODEL}"),
    ],
)  # fmt: skip
async def test_query_parameters_override_project_location_and_model(
    gateway: str, upstream: Upstream, query: str, model: str
) -> None:
    async with connect(vertex_url(gateway, query), additional_headers=GATEWAY_KEY) as socket:
        await start(socket, "publishers/google/models/gemini-2.5-flash")
        assert model_text(await converse(socket, "Hi")) == "Echo: Hi"
    (setup, _) = upstream.requests()
    assert setup["body"]["setup"]["model"] == model
    assert setup["query"] == ""


async def test_model_query_fills_a_setup_that_names_no_model(
    gateway: str, upstream: Upstream
) -> None:
    url = vertex_url(gateway, f"?model={LIVE_MODEL}")
    async with connect(url, additional_headers=GATEWAY_KEY) as socket:
        await socket.send(orjson.dumps({"setup": {"generationConfig": TEXT_ONLY}}).decode())
        assert await receive(socket) == {"setupComplete": {}}
    assert upstream.requests()[0]["body"]["setup"]["model"].endswith(f"/models/{LIVE_MODEL}")


async def test_location_that_names_no_host_closes_the_caller_as_an_invalid_argument(
    gateway: str, upstream: Upstream
) -> None:
    url = vertex_url(gateway, "?vertex_location=evil.example%2Fx")
    async with connect(url, additional_headers=GATEWAY_KEY) as socket:
        code, reason = await close_of(socket)
    assert code == 1007 and "is not a Vertex AI location" in reason
    assert upstream.requests() == []


async def test_token_the_emulator_refuses_closes_the_caller_with_googles_code(
    gateway: str, upstream: Upstream
) -> None:
    async with connect(vertex_url(gateway), additional_headers=GATEWAY_KEY) as socket:
        await start(socket, f"publishers/google/models/{LIVE_MODEL}")
    # The gateway keeps its token; the emulator forgets it, as Google does with a revoked one.
    upstream.emulator.state.emulator.access_tokens.clear()
    async with connect(vertex_url(gateway), additional_headers=GATEWAY_KEY) as socket:
        await socket.send(
            orjson.dumps({"setup": {"model": f"publishers/google/models/{LIVE_MODEL}"}})
        )
        code, reason = await close_of(socket)
    assert code == 1008 and reason.startswith("Request had invalid authentication credentials.")


async def test_callers_own_google_token_is_checked_by_google(upstream: Upstream) -> None:
    with serve(create_app(live_config(upstream, credentials=False))) as url:
        headers = {**GATEWAY_KEY, "authorization": "Bearer ya29.not-a-token-google-issued"}
        async with connect(vertex_url(url.replace("http://", "ws://")), additional_headers=headers) as socket:  # fmt: skip
            await socket.send(
                orjson.dumps({"setup": {"model": f"publishers/google/models/{LIVE_MODEL}"}})
            )
            code, reason = await close_of(socket)
    # The emulator's own words: the token went to Google, which judged it (and closed).
    assert code == 1008 and reason.startswith("Request had invalid authentication credentials.")


async def test_gateway_key_sent_as_authorization_is_never_used_as_a_google_token(
    upstream: Upstream,
) -> None:
    with serve(create_app(live_config(upstream, credentials=False))) as url:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        async with connect(vertex_url(url.replace("http://", "ws://")), additional_headers=headers) as socket:  # fmt: skip
            code, reason = await close_of(socket)
    assert code == 1008 and reason.startswith("no Vertex AI credentials")
    assert upstream.requests() == []


async def test_google_genai_vertex_client_talks_through_the_live_route(
    tls_gateway: tuple[str, ssl.SSLContext],
) -> None:
    url, trust = tls_gateway
    # Vertex with a custom base URL and no project: the SDK dials that URL as it is.
    options = types.HttpOptions(
        base_url=vertex_url(url.replace("https://", "wss://")), headers=GATEWAY_KEY,
        async_client_args={"ssl": trust},
    )  # fmt: skip
    client = genai.Client(vertexai=True, http_options=options)
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hi")])
        )
        replies = [message async for message in session.receive()]
    assert "".join(reply.text or "" for reply in replies) == "Echo: Hi"
    metrics = httpx.get(f"{url}/metrics", verify=trust).text
    assert 'deployment="vertex_ai/live",kind="completion"' in metrics


@pytest.mark.parametrize(
    ("query", "forwarded"),
    [
        ("key=sk-1&alt=json", "alt=json"),
        ("model=m&vertex_project=p&vertex_location=l&x=1", "x=1"),
        ("%6Bey=sk-1&access_token=auth_tokens/t", "access_token=auth_tokens/t"),
        ("", ""),
    ],
)
def test_query_parameters_for_the_gateway_are_not_forwarded(query: str, forwarded: str) -> None:
    assert gateway_params_removed(query) == forwarded


# --- virtual keys: admission and the spend log ---------------------------------------------


@pytest.fixture
def keyed_gateway(upstream: Upstream, tmp_path: Path) -> Iterator[str]:
    """The gateway with a key store on SQLite (master key MASTER_KEY)."""
    config = live_config(upstream, database_url=f"sqlite:///{tmp_path / 'gemgate.db'}",
                         spend_journal=str(tmp_path / "journal"))  # fmt: skip
    with serve(create_app(config)) as url:
        yield url


@pytest.fixture
async def admin(keyed_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=keyed_gateway, timeout=30) as client:
        yield client


def as_websocket(url: str) -> str:
    return url.replace("http://", "ws://")


async def test_a_developer_session_is_one_spend_row_of_its_virtual_key(
    keyed_gateway: str, admin: httpx.AsyncClient
) -> None:
    key = await new_key(admin, key_alias="voice-app")
    url = f"{as_websocket(keyed_gateway)}{DEVELOPER_PATH}?key={key}"
    async with connect(url, additional_headers={"tags": "support"}) as socket:
        await start(socket, f"models/{LIVE_MODEL}")
        turns = [await converse(socket, "Hello there"), await converse(socket, "And again")]
    usages = [read_usage(messages[-1]["usageMetadata"]) for messages in turns]
    [row] = await spend_logs(admin, 1, api_key=key)
    assert (row["model"], row["status"], row["route"]) == (LIVE_MODEL, 200, "/gemini/ws/{path}")
    assert row["prompt_tokens"] == sum(usage.prompt_tokens for usage in usages)
    assert row["completion_tokens"] == sum(usage.completion_tokens for usage in usages)
    assert row["spend"] > 0 and row["key_alias"] == "voice-app" and row["tags"] == ["support"]


async def test_a_vertex_session_is_one_spend_row_of_its_virtual_key(
    keyed_gateway: str, admin: httpx.AsyncClient
) -> None:
    key = await new_key(admin)
    headers = {"x-gemgate-api-key": key, "x-gemgate-end-user": "caller-3"}
    async with connect(vertex_url(as_websocket(keyed_gateway)), additional_headers=headers) as socket:  # fmt: skip
        await start(socket, f"publishers/google/models/{LIVE_MODEL}")
        await converse(socket, "Hello Vertex")
    [row] = await spend_logs(admin, 1, api_key=key)
    assert (row["model"], row["status"], row["route"]) == (LIVE_MODEL, 200, "/vertex_ai/live")
    assert row["prompt_tokens"] > 0 and row["spend"] > 0 and row["end_user"] == "caller-3"


async def test_a_session_google_refuses_is_logged_with_the_status_of_its_close_code(
    keyed_gateway: str, admin: httpx.AsyncClient
) -> None:
    key = await new_key(admin)
    async with connect(f"{as_websocket(keyed_gateway)}{DEVELOPER_PATH}?key={key}") as socket:
        await socket.send(orjson.dumps({"setup": {"model": "models/gemini-2.5-flash"}}).decode())
        code, _ = await close_of(socket)
    [row] = await spend_logs(admin, 1, api_key=key)
    assert (code, row["status"], row["model"], row["spend"]) == (1008, 403, "gemini-2.5-flash", 0)


@pytest.mark.parametrize(
    ("path", "model"),
    [(DEVELOPER_PATH, f"models/{LIVE_MODEL}"),
     ("/vertex_ai/live", f"publishers/google/models/{LIVE_MODEL}")],
)  # fmt: skip
async def test_a_keys_model_list_admits_live_sessions_by_model_id(
    keyed_gateway: str, admin: httpx.AsyncClient, upstream: Upstream, path: str, model: str
) -> None:
    allowed, refused = await new_key(admin, models=[LIVE_MODEL]), await new_key(admin, models=["gemini-2.5-flash"])  # fmt: skip
    url = f"{as_websocket(keyed_gateway)}{path}"
    async with connect(url, additional_headers={"x-gemgate-api-key": allowed}) as socket:
        await start(socket, model)
    async with connect(url, additional_headers={"x-gemgate-api-key": refused}) as socket:
        await socket.send(orjson.dumps({"setup": {"model": model}}).decode())
        code, reason = await close_of(socket)
    assert code == 1008 and reason.startswith(f"This key may not use model {LIVE_MODEL!r}")
    assert len(upstream.requests()) == 1  # the refused setup never reached Google


# --- ephemeral tokens ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, {}, [("x-goog-api-key", TEST_API_KEY)]),
        ({"authorization": f"Token {EPHEMERAL_TOKEN}"}, {},
         [("authorization", f"Token {EPHEMERAL_TOKEN}")]),
        ({"authorization": f"token   {EPHEMERAL_TOKEN} "}, {},
         [("authorization", f"Token {EPHEMERAL_TOKEN}")]),
        ({}, {"access_token": EPHEMERAL_TOKEN}, []),
        ({"authorization": f"Bearer {MASTER_KEY}"}, {}, [("x-goog-api-key", TEST_API_KEY)]),
        ({"authorization": "Token "}, {}, [("x-goog-api-key", TEST_API_KEY)]),
    ],
)  # fmt: skip
def test_an_ephemeral_token_replaces_the_gateways_key(
    headers: dict[str, str], query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    assert developer_live_credentials(headers, query, TEST_API_KEY) == expected


@pytest.mark.parametrize(
    ("query", "headers"),
    [("", {"authorization": f"Token {EPHEMERAL_TOKEN}"}), (f"&access_token={EPHEMERAL_TOKEN}", {})],
    ids=["header", "query"],
)
async def test_an_ephemeral_token_opens_the_constrained_method_for_a_keyed_caller(
    gateway: str, upstream: Upstream, query: str, headers: dict[str, str]
) -> None:
    url = f"{gateway}{CONSTRAINED_PATH}?key={MASTER_KEY}{query}"
    async with connect(url, additional_headers=headers) as socket:
        await start(socket, f"models/{LIVE_MODEL}")
        assert model_text(await converse(socket, "Hi")) == "Echo: Hi"
    setup = upstream.requests()[0]
    seen = orjson.dumps(setup).decode()
    assert TEST_API_KEY not in seen and MASTER_KEY not in seen and EPHEMERAL_TOKEN in seen


async def test_an_ephemeral_token_alone_is_no_key_to_the_gateway(
    gateway: str, upstream: Upstream
) -> None:
    # What google-genai sends for a client made with an ephemeral token and no gateway key.
    headers = {"x-goog-api-key": EPHEMERAL_TOKEN, "authorization": f"Token {EPHEMERAL_TOKEN}"}
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{gateway}{CONSTRAINED_PATH}", additional_headers=headers)
    assert refused.value.response.status_code == 401
    assert upstream.requests() == []


@pytest.mark.filterwarnings("ignore::google.genai.errors.ExperimentalWarning")
async def test_google_genai_with_an_ephemeral_token_talks_through_the_gemini_route(
    tls_gateway: tuple[str, ssl.SSLContext], upstream: Upstream
) -> None:
    url, trust = tls_gateway
    options = types.HttpOptions(base_url=f"{url}/gemini", api_version="v1alpha",
                                headers=GATEWAY_KEY, async_client_args={"ssl": trust})  # fmt: skip
    client = genai.Client(api_key=EPHEMERAL_TOKEN, http_options=options)
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hello")])
        )
        replies = [message async for message in session.receive()]
    assert "".join(reply.text or "" for reply in replies) == "Echo: Hello"
    setup = upstream.requests()[0]
    assert setup["path"].endswith(".BidiGenerateContentConstrained")
    assert setup["headers"]["authorization"] == f"Token {EPHEMERAL_TOKEN}"
    assert "x-goog-api-key" not in setup["headers"]
