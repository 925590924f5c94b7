"""The Live relay: close codes, forwarded headers, and the relay itself, served by the gateway
in front of a scripted upstream socket on loopback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import WSMsgType, web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gemgate.pricing import cost_of
from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.live_billing import NO_SETUP
from gemgate.proxy.live_relay import (
    Closure,
    close_code_for_status,
    cut_reason,
    forwarded_live_headers,
    sendable_close,
    websocket_base,
)
from gemgate.translate.usage import read_usage
from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import MASTER_KEY
from tests.proxy.routes.test_keys import keyed_config, new_key, spend_logs
from tests.servers import free_port, serve

LIVE_MODEL = "gemini-live-2.5-flash"
SETUP = orjson.dumps({"setup": {"model": f"models/{LIVE_MODEL}"}}).decode()
FIRST_TURN = {"promptTokenCount": 10, "responseTokenCount": 4, "totalTokenCount": 14}
SECOND_TURN = {"promptTokenCount": 30, "responseTokenCount": 6, "totalTokenCount": 36}


# --- close codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("closure", "expected"),
    [
        (Closure(1000, "bye", by_caller=True), (1000, "bye")),
        (Closure(4000, "app says bye", by_caller=True), (4000, "app says bye")),
        (Closure(1008, "API key not valid.", by_caller=False), (1008, "API key not valid.")),
        (Closure(0, "", by_caller=True), (1000, "")),
        (Closure(1005, "", by_caller=False), (1000, "")),
        (Closure(1006, "", by_caller=True), (1001, "")),
        (Closure(1006, "", by_caller=False), (1011, "The Live API connection broke off.")),
        (Closure(1015, "", by_caller=False), (1011, "The Live API connection broke off.")),
        (Closure(1004, "reserved", by_caller=False), (1011, "reserved")),
    ],
)
def test_close_codes_that_may_not_be_sent_are_mapped(
    closure: Closure, expected: tuple[int, str]
) -> None:
    assert sendable_close(closure) == expected


def test_close_reason_is_cut_to_a_close_frame_without_splitting_a_character() -> None:
    reason = cut_reason("é" * 100)
    assert len(reason.encode()) <= 123 and reason == "é" * 61


@pytest.mark.parametrize(
    ("status", "code"), [(400, 1007), (401, 1008), (403, 1008), (404, 1008), (429, 1013),
                         (503, 1013), (500, 1011), (502, 1011)],
)  # fmt: skip
def test_refused_handshakes_close_with_googles_code_for_the_status(status: int, code: int) -> None:
    assert close_code_for_status(status) == code


# --- upstream URL and headers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://generativelanguage.googleapis.com", "wss://generativelanguage.googleapis.com"),
        ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080"),
        ("HTTPS://host/prefix", "wss://host/prefix"),
    ],
)
def test_http_base_urls_become_websocket_urls(base: str, expected: str) -> None:
    assert websocket_base(base) == expected


def test_caller_credentials_and_handshake_headers_are_not_forwarded() -> None:
    caller = [
        ("Authorization", "Bearer sk-gateway"), ("x-goog-api-key", "sk-gateway"),
        ("x-gemgate-api-key", "sk-gateway"), ("Cookie", "session=1"), ("Host", "gateway"),
        ("Origin", "https://app.example"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "abc"), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ("User-Agent", "google-genai-sdk/3.4.0"), ("x-emulator-fault", "latency=1"),
    ]  # fmt: skip
    forwarded = forwarded_live_headers(caller, [("x-goog-api-key", "real")])
    assert forwarded == [
        ("User-Agent", "google-genai-sdk/3.4.0"),
        ("x-emulator-fault", "latency=1"),
        ("x-goog-api-key", "real"),
    ]


# --- the relay, served ---------------------------------------------------------------------


@dataclass
class ScriptedLive:
    """An upstream Live socket: echoes frames, sends the messages a `{"script": [...]}` frame
    lists, closes or vanishes when told, and records how the gateway closed it."""

    closes: list[tuple[int, str]] = field(default_factory=list)
    handshakes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes.append((request.path_qs, dict(request.headers)))
        if request.match_info["action"] == "refuse":
            return web.json_response({"error": {"code": 403}}, status=403)
        socket = web.WebSocketResponse(autoclose=False)
        await socket.prepare(request)
        while True:
            message = await socket.receive()
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                self.closes.append((socket.close_code or 0, str(message.extra or "")))
                self.closed.set()
                await socket.close()
                return socket
            await self._answer(request, socket, message.data)

    async def _answer(
        self, request: web.Request, socket: web.WebSocketResponse, frame: str | bytes
    ) -> None:
        action = request.match_info["action"]
        if action == "close":
            await socket.close(code=4001, message=b"upstream says bye")
        elif action == "vanish":
            assert request.transport is not None
            request.transport.close()
        elif "script" in (parsed := _parsed(frame)):
            for reply in parsed["script"]:
                await socket.send_bytes(orjson.dumps(reply))
        elif isinstance(frame, str):
            await socket.send_str(frame)
        else:
            await socket.send_bytes(frame)


def _parsed(frame: str | bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def live_gateway_config(api_base: str) -> ProxyConfig:
    general = {"gemini_api_base": api_base, "gemini_api_key": TEST_API_KEY,
               "master_key": MASTER_KEY}  # fmt: skip
    return ProxyConfig.model_validate({"general_settings": general})


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedLive, str]]:
    upstream = ScriptedLive()
    app = web.Application()
    app.router.add_get("/ws/{action}", upstream.handle)
    with serve(app) as url:
        yield upstream, url


@pytest.fixture
def relay_url(scripted: tuple[ScriptedLive, str]) -> Iterator[str]:
    with serve(create_app(live_gateway_config(scripted[1]))) as url:
        yield url


def live_url(gateway: str, action: str, key: str = MASTER_KEY) -> str:
    return f"{gateway.replace('http://', 'ws://')}/gemini/ws/{action}?key={key}"


async def close_of(socket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def wait_for(event: threading.Event) -> None:
    # In a thread: this loop must stay free to finish the caller's side of the connection.
    assert await asyncio.to_thread(event.wait, 10), "the upstream socket was never closed"


async def test_text_and_binary_frames_keep_their_type_both_ways(relay_url: str) -> None:
    async with connect(live_url(relay_url, "echo")) as socket:
        await socket.send(SETUP)
        assert orjson.loads(await socket.recv()) == orjson.loads(SETUP)
        await socket.send('{"text": "frame"}')
        assert await socket.recv() == '{"text": "frame"}'
        await socket.send(b'{"binary": "frame"}')
        assert await socket.recv() == b'{"binary": "frame"}'


async def test_upstream_close_code_and_reason_reach_the_caller(relay_url: str) -> None:
    async with connect(live_url(relay_url, "close")) as socket:
        await socket.send(SETUP)
        assert await close_of(socket) == (4001, "upstream says bye")


async def test_caller_close_code_and_reason_reach_upstream(
    scripted: tuple[ScriptedLive, str], relay_url: str
) -> None:
    upstream, _ = scripted
    async with connect(live_url(relay_url, "echo")) as socket:
        await socket.send(SETUP)
        await socket.recv()
        await socket.close(code=4000, reason="caller says bye")
    await wait_for(upstream.closed)
    assert upstream.closes == [(4000, "caller says bye")]


async def test_caller_that_vanishes_closes_the_upstream_socket(
    scripted: tuple[ScriptedLive, str], relay_url: str
) -> None:
    upstream, _ = scripted
    socket = await connect(live_url(relay_url, "echo"))
    await socket.send(SETUP)
    await socket.recv()
    socket.transport.abort()  # no close frame: the connection just drops
    await wait_for(upstream.closed)
    assert upstream.closes == [(1001, "")]


async def test_upstream_that_vanishes_closes_the_caller_with_an_internal_error(
    relay_url: str,
) -> None:
    async with connect(live_url(relay_url, "vanish")) as socket:
        await socket.send(SETUP)
        assert await close_of(socket) == (1011, "The Live API connection broke off.")


async def test_refused_upstream_handshake_closes_the_accepted_caller(relay_url: str) -> None:
    async with connect(live_url(relay_url, "refuse")) as socket:
        assert await close_of(socket) == (
            1008, "The Live API refused the connection (HTTP 403).",
        )  # fmt: skip


async def test_unreachable_upstream_closes_the_caller_without_naming_secrets() -> None:
    config = live_gateway_config(f"http://127.0.0.1:{free_port()}")
    with serve(create_app(config)) as gateway:
        async with connect(live_url(gateway, "echo")) as socket:
            code, reason = await close_of(socket)
    assert (code, reason) == (1011, "The Live API could not be reached.")


async def test_gateway_key_stays_with_the_gateway_and_the_real_key_goes_upstream(
    scripted: tuple[ScriptedLive, str], relay_url: str
) -> None:
    upstream, _ = scripted
    headers = {"x-goog-api-key": MASTER_KEY, "x-emulator-fault": "none"}
    url = live_url(relay_url, "echo") + "&model=m&alt=json"
    async with connect(url, additional_headers=headers) as socket:
        await socket.send(SETUP)
        await socket.recv()
    ((path, sent),) = upstream.handshakes
    assert path == "/ws/echo?alt=json"
    assert MASTER_KEY not in repr(sent) and sent["x-goog-api-key"] == TEST_API_KEY
    assert sent["x-emulator-fault"] == "none"


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{wanted}}} in the metrics")


async def scripted_session(
    relay_url: str, model: str, key: str = MASTER_KEY, headers: dict[str, str] | None = None
) -> None:
    """One session naming ``model`` whose upstream reports FIRST_TURN, then SECOND_TURN."""
    turns = [{"serverContent": {"turnComplete": True}, "usageMetadata": usage}
             for usage in (FIRST_TURN, SECOND_TURN)]  # fmt: skip
    async with connect(live_url(relay_url, "echo", key), additional_headers=headers) as socket:
        await socket.send(orjson.dumps({"setup": {"model": model}}).decode())
        await socket.recv()
        await socket.send(orjson.dumps({"script": turns}).decode())
        for _ in turns:
            await socket.recv()


async def test_session_usage_is_counted_priced_and_logged_once(
    relay_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gemgate.proxy.live_billing")
    await scripted_session(relay_url, f"models/{LIVE_MODEL}")
    record = await _live_record(caplog)
    assert (record.model, record.turns, record.prompt_tokens, record.completion_tokens) == (
        f"models/{LIVE_MODEL}", 2, 40, 10,
    )  # fmt: skip
    expected = sum(
        (cost_of(LIVE_MODEL, read_usage(u), at=datetime.now(UTC)) or Decimal(0))
        for u in (FIRST_TURN, SECOND_TURN)
    )
    assert Decimal(record.cost_usd) == expected and record.close_code == 1000
    metrics = httpx.get(f"{relay_url}/metrics").text
    labels = {"model": LIVE_MODEL, "deployment": "gemini/live"}
    assert metric(metrics, "gemgate_tokens_total", kind="prompt", **labels) == 40
    assert metric(metrics, "gemgate_tokens_total", kind="completion", **labels) == 10
    assert metric(metrics, "gemgate_cost_usd_total", **labels) == pytest.approx(float(expected))


async def test_unpriced_live_model_is_counted_under_one_shared_label(
    relay_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gemgate.proxy.live_billing")
    await scripted_session(relay_url, "models/a-model-named-by-the-caller")
    record = await _live_record(caplog)
    assert record.cost_usd is None
    metrics = httpx.get(f"{relay_url}/metrics").text
    labels = {"model": "other", "deployment": "gemini/live"}
    assert metric(metrics, "gemgate_tokens_total", kind="prompt", **labels) == 40
    assert "a-model-named-by-the-caller" not in metrics


async def _live_record(caplog: pytest.LogCaptureFixture) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = [r for r in caplog.records if r.name == "gemgate.proxy.live_billing"]
        if records:
            (record,) = records
            return record
        await asyncio.sleep(0.02)
    raise AssertionError("the Live session was never logged")


def test_plain_request_on_a_live_route_is_told_to_upgrade(relay_url: str) -> None:
    response = httpx.get(
        f"{relay_url}/gemini/ws/echo", headers={"x-goog-api-key": MASTER_KEY}, timeout=10
    )
    assert response.status_code == 426
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


# --- the setup, admitted before it is passed on --------------------------------------------


@pytest.mark.parametrize(
    "first", ['{"clientContent": {"turns": []}}', '{"setup": {}}', "not json", b"\x00\x01"]
)
async def test_a_first_message_that_is_no_setup_naming_a_model_is_refused(
    scripted: tuple[ScriptedLive, str], relay_url: str, first: str | bytes
) -> None:
    upstream, _ = scripted
    async with connect(live_url(relay_url, "echo")) as socket:
        await socket.send(first)
        assert await close_of(socket) == (1007, NO_SETUP)
    await wait_for(upstream.closed)
    assert upstream.closes == [(1000, "")]  # closed without a frame of the caller's


async def test_the_setup_google_receives_is_the_one_the_gateway_read(relay_url: str) -> None:
    # A repeated key could be read one way here and another at Google: the relay rewrites it.
    repeated = '{"setup": {"model": "models/first", "model": "models/second"}}'
    async with connect(live_url(relay_url, "echo")) as socket:
        await socket.send(repeated)
        assert await socket.recv() == '{"setup":{"model":"models/second"}}'


# --- the spend log -------------------------------------------------------------------------


@pytest.fixture
def keyed_relay_url(scripted: tuple[ScriptedLive, str], tmp_path: Path) -> Iterator[str]:
    with serve(create_app(keyed_config(scripted[1], tmp_path))) as url:
        yield url


@pytest.fixture
async def admin_http(keyed_relay_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=keyed_relay_url, timeout=30) as client:
        yield client


async def test_a_sessions_usage_is_one_spend_log_row_of_the_virtual_key(
    keyed_relay_url: str, admin_http: httpx.AsyncClient
) -> None:
    key = await new_key(admin_http, key_alias="voice-app", tags=["voice"])
    headers = {"tags": "night", "x-gemgate-end-user": "caller-9"}
    await scripted_session(keyed_relay_url, f"models/{LIVE_MODEL}", key, headers)
    [row] = await spend_logs(admin_http, 1, api_key=key)
    expected = sum(
        (cost_of(LIVE_MODEL, read_usage(u), at=datetime.now(UTC)) or Decimal(0))
        for u in (FIRST_TURN, SECOND_TURN)
    )
    assert (row["model"], row["status"], row["route"]) == (LIVE_MODEL, 200, "/gemini/ws/{path}")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 10)
    assert Decimal(str(row["spend"])) == expected
    assert (row["key_alias"], row["end_user"]) == ("voice-app", "caller-9")
    assert set(row["tags"]) == {"voice", "night"}


@pytest.mark.parametrize(
    ("action", "ending", "status"),
    [("echo", "caller closes", 200), ("echo", "caller vanishes", 499),
     ("close", "upstream closes with 4001", 502), ("vanish", "upstream vanishes", 502)],
)  # fmt: skip
async def test_the_spend_row_status_says_how_the_session_ended(
    keyed_relay_url: str, admin_http: httpx.AsyncClient, action: str, ending: str, status: int
) -> None:
    key = await new_key(admin_http)
    socket = await connect(live_url(keyed_relay_url, action, key))
    await socket.send(SETUP)
    if action != "echo":
        await close_of(socket)
    elif ending == "caller vanishes":
        await socket.recv()
        socket.transport.abort()
    else:
        await socket.recv()
        await socket.close(code=4000, reason="done")
    [row] = await spend_logs(admin_http, 1, api_key=key)
    assert (row["status"], row["model"], row["spend"]) == (status, LIVE_MODEL, 0)


async def test_a_model_outside_the_keys_list_closes_the_session_at_its_setup(
    scripted: tuple[ScriptedLive, str], keyed_relay_url: str, admin_http: httpx.AsyncClient
) -> None:
    upstream, _ = scripted
    key = await new_key(admin_http, models=["gemini-live-2.5-flash-native-audio"])
    async with connect(live_url(keyed_relay_url, "echo", key)) as socket:
        await socket.send(SETUP)
        code, reason = await close_of(socket)
    assert code == 1008 and f"may not use model {LIVE_MODEL!r}" in reason
    await wait_for(upstream.closed)
    assert upstream.closes == [(1000, "")]  # Google never saw the setup
    [row] = await spend_logs(admin_http, 1, api_key=key)
    assert (row["status"], row["model"], row["prompt_tokens"]) == (403, LIVE_MODEL, 0)


async def test_a_key_over_its_request_limit_is_told_to_try_again_later(
    keyed_relay_url: str, admin_http: httpx.AsyncClient
) -> None:
    key = await new_key(admin_http, rpm_limit=1)
    await scripted_session(keyed_relay_url, f"models/{LIVE_MODEL}", key)
    async with connect(live_url(keyed_relay_url, "echo", key)) as socket:
        await socket.send(SETUP)
        code, reason = await close_of(socket)
    assert code == 1013 and "requests per minute" in reason
    rows = await spend_logs(admin_http, 2, api_key=key)
    assert sorted(row["status"] for row in rows) == [200, 429]


async def test_a_long_model_name_is_cut_in_the_spend_log(
    keyed_relay_url: str, admin_http: httpx.AsyncClient
) -> None:
    key = await new_key(admin_http)
    async with connect(live_url(keyed_relay_url, "echo", key)) as socket:
        await socket.send(orjson.dumps({"setup": {"model": "models/" + "m" * 5000}}).decode())
        await socket.recv()
    [row] = await spend_logs(admin_http, 1, api_key=key)
    assert row["model"] == "m" * 200
