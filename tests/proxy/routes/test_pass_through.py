"""Pass-through routes: /gemini/{path} against real upstreams (the emulator or a probe), and\nwhat every pass-through route refuses (path tricks) or never relays (our credentials)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gemgate.proxy import create_app
from gemgate.proxy.pass_through_settings import PassThroughSettings
from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import gateway_config
from tests.servers import free_port, serve

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Tell me about the magic backpack."}]}]}
_RESPONSE_ID = re.compile(rb'"responseId":"[^"]*"')


def _without_response_ids(body: bytes) -> bytes:
    """The emulator draws a fresh responseId per call; everything else must match byte for byte."""
    return _RESPONSE_ID.sub(b'"responseId":""', body)


def _reply_text(client: genai.Client, prompt: str) -> str | None:
    return client.models.generate_content(model="gemini-2.5-flash", contents=prompt).text


def _streamed_texts(client: genai.Client, prompt: str) -> list[str | None]:
    stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents=prompt)
    return [chunk.text for chunk in stream]


def test_generate_content_is_answered_with_the_configured_key(gateway: httpx.Client) -> None:
    response = gateway.post(f"/gemini{GENERATE}?key=anything", json=PROMPT)

    assert response.status_code == 200
    assert response.json()["candidates"][0]["finishReason"] == "STOP"


def test_google_genai_sdk_gets_through_the_gateway_what_google_answers(
    gateway_url: str, emulator_url: str
) -> None:
    via_gateway = genai.Client(
        api_key="anything", http_options={"base_url": f"{gateway_url}/gemini"}
    )
    direct = genai.Client(api_key=TEST_API_KEY, http_options={"base_url": emulator_url})
    prompt = "hello there, tell me a long story"

    replies = [_reply_text(client, prompt) for client in (via_gateway, direct)]
    streams = [_streamed_texts(client, prompt) for client in (via_gateway, direct)]

    assert replies[0] and replies[0] == replies[1]
    assert len(streams[0]) > 1 and streams[0] == streams[1]


def test_google_genai_sdk_sees_google_errors_through_the_gateway(gateway_url: str) -> None:
    client = genai.Client(api_key="anything", http_options={"base_url": f"{gateway_url}/gemini"})

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="no-such-model", contents="hi")

    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")


def test_caller_credentials_never_reach_google(gateway: httpx.Client, http: httpx.Client) -> None:
    http.delete("/emulator/requests")

    gateway.post(
        f"/gemini{GENERATE}?key=caller-key",
        json=PROMPT,
        headers={"authorization": "Bearer sk-caller", "x-goog-api-key": "caller-key"},
    )

    [seen] = http.get("/emulator/requests").json()["requests"]
    assert seen["path"] == GENERATE
    assert seen["query"] == ""
    assert seen["headers"]["x-goog-api-key"] == TEST_API_KEY
    assert "authorization" not in seen["headers"]


@pytest.mark.parametrize("query", ["alt=sse", ""], ids=["sse", "json-array"])
def test_stream_is_relayed_byte_for_byte(
    gateway: httpx.Client, http: httpx.Client, query: str
) -> None:
    direct = http.post(f"{STREAM}?{query}", json=PROMPT, headers={"x-goog-api-key": TEST_API_KEY})

    relayed = gateway.post(f"/gemini{STREAM}?{query}&key=anything", json=PROMPT)

    assert relayed.status_code == 200
    assert relayed.headers["content-type"] == direct.headers["content-type"]
    assert _without_response_ids(relayed.content) == _without_response_ids(direct.content)
    assert relayed.content.count(b"candidates") > 1


def test_google_error_is_relayed_unchanged(gateway: httpx.Client, http: httpx.Client) -> None:
    path = "/v1beta/models/no-such-model:generateContent"
    direct = http.post(path, json=PROMPT, headers={"x-goog-api-key": TEST_API_KEY})

    relayed = gateway.post(f"/gemini{path}?key=anything", json=PROMPT)

    assert relayed.status_code == direct.status_code == 404
    assert relayed.content == direct.content


def test_get_keeps_its_other_query_parameters(gateway: httpx.Client) -> None:
    response = gateway.get("/gemini/v1beta/models?pageSize=2&key=anything")

    assert response.status_code == 200
    assert len(response.json()["models"]) == 2


def test_unreachable_upstream_is_a_google_shaped_502_without_the_key() -> None:
    config = gateway_config(f"http://127.0.0.1:{free_port()}", api_key="real-secret-key")
    with serve(create_app(config)) as url:
        response = httpx.post(f"{url}/gemini{GENERATE}?key=caller", json=PROMPT, timeout=10)

    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (502, "UNAVAILABLE")
    assert "real-secret-key" not in response.text


def test_slow_upstream_is_a_google_shaped_504(emulator_url: str) -> None:
    with serve(create_app(gateway_config(emulator_url, timeout=0.3))) as url:
        response = httpx.post(
            f"{url}/gemini{GENERATE}",
            json=PROMPT,
            headers={"x-emulator-fault": "latency=2000"},
            timeout=10,
        )

    assert response.status_code == 504
    assert response.json() == {
        "error": {
            "code": 504,
            "message": "The Gemini API did not answer in time.",
            "status": "DEADLINE_EXCEEDED",
        }
    }


@dataclass
class Probe:
    """An upstream that streams one event, then waits for the test; it notes when it is closed."""

    release: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    async def events(self, *, is_broken: bool) -> AsyncIterator[bytes]:
        try:
            yield b'data: {"n":1}\r\n\r\n'
            if is_broken:
                raise RuntimeError("upstream dies mid-stream")
            deadline = time.monotonic() + 10
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            yield b'data: {"n":2}\r\n\r\n'
        finally:
            self.closed.set()

    async def cut_answer(self) -> AsyncIterator[bytes]:
        yield b'{"candidates": '
        raise RuntimeError("upstream dies mid-answer")

    def app(self) -> Starlette:
        async def generate(request: Request) -> Response:
            if request.path_params["model"] == "broken":  # promises 1000 bytes, sends 15
                return StreamingResponse(
                    self.cut_answer(),
                    media_type="application/json",
                    headers={"content-length": "1000"},
                )
            # Answers without reading the body, so a caller leaving mid-body is no error here.
            return Response(b"{}", media_type="application/json")

        async def stream(request: Request) -> StreamingResponse:
            is_broken = request.path_params["model"] == "broken"
            return StreamingResponse(
                self.events(is_broken=is_broken), media_type="text/event-stream"
            )

        return Starlette(
            routes=[
                Route("/v1beta/models/{model}:streamGenerateContent", stream, methods=["POST"]),
                Route("/v1beta/models/{model}:generateContent", generate, methods=["POST"]),
            ]
        )


@pytest.fixture
def probe() -> Iterator[Probe]:
    probe = Probe()
    yield probe
    probe.release.set()


@pytest.fixture
def probe_gateway_url(probe: Probe) -> Iterator[str]:
    with serve(probe.app()) as upstream, serve(create_app(gateway_config(upstream))) as url:
        yield url


def test_events_reach_the_caller_before_the_upstream_finishes(
    probe: Probe, probe_gateway_url: str
) -> None:
    url = f"{probe_gateway_url}/gemini/v1beta/models/probe:streamGenerateContent?alt=sse"
    with (
        httpx.Client(timeout=5) as client,
        client.stream("POST", url, json=PROMPT) as response,
    ):
        lines = response.iter_lines()
        first = next(lines)
        assert not probe.closed.is_set()
        probe.release.set()
        rest = [line for line in lines if line]

    assert first == 'data: {"n":1}'
    assert rest == ['data: {"n":2}']


def test_caller_leaving_closes_the_upstream_stream(probe: Probe, probe_gateway_url: str) -> None:
    url = f"{probe_gateway_url}/gemini/v1beta/models/probe:streamGenerateContent?alt=sse"
    with (
        httpx.Client(timeout=5) as client,
        client.stream("POST", url, json=PROMPT) as response,
    ):
        assert next(response.iter_lines()) == 'data: {"n":1}'

    assert probe.closed.wait(5)
    assert not probe.release.is_set()


def test_broken_upstream_stream_ends_with_a_google_error_event(probe_gateway_url: str) -> None:
    url = f"{probe_gateway_url}/gemini/v1beta/models/broken:streamGenerateContent?alt=sse"

    response = httpx.post(url, json=PROMPT, timeout=5)

    events = [
        orjson.loads(line.removeprefix("data: "))
        for line in response.text.split("\r\n\r\n")
        if line
    ]
    assert events[0] == {"n": 1}
    assert events[1]["error"]["code"] == 502
    assert events[1]["error"]["status"] == "UNAVAILABLE"


def test_a_sized_answer_that_breaks_off_is_a_google_error_not_a_cut_body(
    probe_gateway_url: str,
) -> None:
    url = f"{probe_gateway_url}/gemini/v1beta/models/broken:generateContent"

    response = httpx.post(url, json=PROMPT, timeout=5)

    assert response.status_code == 502
    assert response.json()["error"]["status"] == "UNAVAILABLE"
    assert httpx.get(f"{probe_gateway_url}/health/liveliness", timeout=5).status_code == 200


def test_caller_leaving_mid_body_is_not_an_error(
    probe_gateway_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gemgate.access")
    port = int(probe_gateway_url.rsplit(":", 1)[1])
    head = (
        f"POST /gemini{GENERATE} HTTP/1.1\r\nHost: gateway\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )

    with socket.create_connection(("127.0.0.1", port)) as caller:
        caller.sendall(head.encode() + b'{"contents": [')

    deadline = time.monotonic() + 5
    while f"POST /gemini{GENERATE} 499" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.02)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert httpx.get(f"{probe_gateway_url}/health/liveliness", timeout=5).status_code == 200


@dataclass
class Catcher:
    """An upstream that answers anything and remembers every request target it was sent."""

    seen: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            self.seen.append(request.scope["raw_path"].decode())
            return Response(b"{}", media_type="application/json")

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", anything, methods=methods)])


@pytest.fixture(scope="module")
def catcher_gateway() -> Iterator[tuple[Catcher, int]]:
    """A gateway whose every pass-through upstream (Gemini, Vertex, Vertex Search) is a Catcher."""
    catcher = Catcher()
    with serve(catcher.app()) as upstream:
        config = gateway_config(upstream).model_copy(
            update={
                "pass_through": PassThroughSettings.model_validate(
                    {"vertex_ai": {"base_url": upstream, "discovery_base_url": upstream}}
                )
            }
        )
        with serve(create_app(config)) as url:
            yield catcher, int(url.rsplit(":", 1)[1])


def _raw_request(port: int, target: str) -> tuple[int, bytes]:
    """Send ``target`` byte for byte (HTTP clients would normalise it first)."""
    head = (
        f"GET {target} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer caller-google-token\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as caller:
        caller.sendall(head.encode())
        answer = b""
        while chunk := caller.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


ROUTE_PREFIXES = ["/gemini", "/vertex_ai", "/vertex-ai", "/vertex_ai/discovery"]
ATTACKS = [
    "/../../etc/passwd",
    "/v1/../../admin",
    "/v1/%2e%2e/%2e%2e/admin",
    "/v1/.%2E/admin",
    "/v1/./models",
    "/v1/models%2F..%2F..%2Fadmin",
    "/v1/models%2fx",
    "/v1/models%5C..%5Cadmin",
    "/v1/models%5cx",
    "/v1/models\\x",
    "//evil.example/v1/models",
    "/v1//evil.example/models",
    "/@evil.example/v1/models",
    "/https:%2F%2Fevil.example/v1",
    "/http:/evil.example/v1",
    "/v1/%252e%252e/admin",
    "/v1/models%00",
    "/v1/models#@evil.example",
]


@pytest.mark.parametrize("prefix", ROUTE_PREFIXES)
@pytest.mark.parametrize("attack", ATTACKS)
def test_path_attacks_are_refused_without_contacting_anything(
    catcher_gateway: tuple[Catcher, int], prefix: str, attack: str
) -> None:
    catcher, port = catcher_gateway
    before = len(catcher.seen)

    status, body = _raw_request(port, prefix + attack)

    assert status == 400, body
    assert orjson.loads(body)["error"]["status"] == "INVALID_ARGUMENT"
    assert len(catcher.seen) == before


@pytest.mark.parametrize(
    "target", ["http://evil.example/gemini/v1beta/models", "http://evil.example/vertex_ai/v1/x"]
)
def test_absolute_form_targets_are_refused(
    catcher_gateway: tuple[Catcher, int], target: str
) -> None:
    catcher, port = catcher_gateway
    before = len(catcher.seen)

    status, body = _raw_request(port, target)

    assert status == 400
    assert orjson.loads(body)["error"]["status"] == "INVALID_ARGUMENT"
    assert len(catcher.seen) == before


@pytest.mark.parametrize("prefix", ROUTE_PREFIXES)
def test_a_plain_path_does_reach_the_upstream(
    catcher_gateway: tuple[Catcher, int], prefix: str
) -> None:
    catcher, port = catcher_gateway

    status, _ = _raw_request(port, f"{prefix}/v1/projects/p/locations/global/things/a@b:do")

    assert status == 200
    assert catcher.seen[-1] == "/v1/projects/p/locations/global/things/a@b:do"


def test_redirect_from_google_never_shows_the_real_key() -> None:
    async def redirect(request: Request) -> Response:
        key = request.headers["x-goog-api-key"]
        return Response(status_code=302, headers={
            "location": f"https://upstream.example/v1beta/next?key={key}&alt=sse",
            "x-echo": key, "x-kept": "yes"})  # fmt: skip

    upstream_app = Starlette(routes=[Route("/v1beta/{path:path}", redirect, methods=["GET"])])
    with serve(upstream_app) as upstream:
        config = gateway_config(upstream, api_key="real-secret-key")
        with serve(create_app(config)) as url:
            response = httpx.get(f"{url}/gemini/v1beta/models?key=caller", timeout=5)

    assert response.status_code == 302
    assert response.headers["location"] == "https://upstream.example/v1beta/next?alt=sse"
    assert response.headers["x-kept"] == "yes"
    assert "x-echo" not in response.headers
    assert "real-secret-key" not in str(response.headers) + response.text


def test_pass_through_gemini_base_url_is_where_gemini_requests_go(emulator_url: str) -> None:
    config = gateway_config("http://127.0.0.1:1").model_copy(
        update={
            "pass_through": PassThroughSettings.model_validate(
                {"gemini": {"base_url": emulator_url}}
            )
        }  # fmt: skip
    )
    with serve(create_app(config)) as url:
        response = httpx.post(f"{url}/gemini{GENERATE}", json=PROMPT, timeout=10)

    assert response.status_code == 200
