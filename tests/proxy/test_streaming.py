"""Streamed answers on a real gateway: framing per API, chunks passed on as they come, upstream
failures mid-stream, spend counted at the end, and a caller leaving cancels the upstream call."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import orjson
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gemgate.client import AsyncChunkStream
from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.streaming import GeminiRelay, relay_openai
from gemgate.translate.chat_stream import ChatStreamTranslator
from tests.proxy.conftest import CHAT_MODEL, MASTER_KEY
from tests.servers import serve

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
STORY = "Tell me a long story about a lighthouse keeper and the sea"
PROBE_MODEL = "probe"


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": CHAT_MODEL, "messages": [{"role": "user", "content": text}], "stream": True, **extra}  # fmt: skip


def _native(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def _openai_events(body: bytes) -> list[bytes]:
    return [event.removeprefix(b"data: ") for event in body.split(b"\n\n") if event]


@pytest.fixture
def gateway(aliased_gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=aliased_gateway_url, headers=AUTH, timeout=10) as client:
        yield client


def test_openai_stream_is_data_events_then_done(gateway: httpx.Client) -> None:
    response = gateway.post("/v1/chat/completions", json=_chat(STORY))

    events = _openai_events(response.content)
    assert response.headers["cache-control"] == "no-cache"
    assert events[-1] == b"[DONE]"
    chunks = [orjson.loads(event) for event in events[:-1]]
    assert len(chunks) > 1
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1


def test_openai_stream_broken_upstream_ends_with_an_error_event(gateway: httpx.Client) -> None:
    response = gateway.post("/v1/chat/completions", json=_chat(f"{STORY} [[emulator: break-after=1]]"))  # fmt: skip

    events = _openai_events(response.content)
    assert response.status_code == 200
    assert b"[DONE]" not in events
    assert orjson.loads(events[0])["choices"][0]["delta"]["content"]
    error = orjson.loads(events[-1])["error"]
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("query", ["", "?alt=sse"], ids=["json-array", "sse"])
def test_google_stream_broken_upstream_ends_with_google_error(
    gateway: httpx.Client, query: str
) -> None:
    path = f"/v1beta/models/{CHAT_MODEL}:streamGenerateContent{query}"

    response = gateway.post(path, json=_native(f"{STORY} [[emulator: break-after=1]]"))

    if query:
        chunks = [orjson.loads(event.removeprefix(b"data: ")) for event in response.content.split(b"\r\n\r\n") if event]  # fmt: skip
    else:
        chunks = orjson.loads(response.content)  # still one valid JSON array
    assert "candidates" in chunks[0]
    assert set(chunks[-1]["error"]) >= {"code", "message", "status"}


def test_empty_json_array_stream_is_still_valid_json(gateway: httpx.Client) -> None:
    response = gateway.post(
        f"/v1beta/models/{CHAT_MODEL}:streamGenerateContent",
        json=_native("[[emulator: break-after=0]]"),
    )

    chunks = orjson.loads(response.content)
    assert [set(chunk) for chunk in chunks] == [{"error"}]


def _metric(gateway: httpx.Client, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(gateway.get("/metrics").text)
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/chat/completions", _chat(STORY)),
     (f"/v1beta/models/{CHAT_MODEL}:streamGenerateContent?alt=sse", _native(STORY))],
    ids=["openai", "google"],
)  # fmt: skip
def test_streamed_usage_is_counted_when_the_stream_ends(
    gateway: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    gateway.post(path, json=body)

    assert _metric(gateway, "gemgate_tokens_total", model=CHAT_MODEL, kind="completion") > 0
    assert _metric(gateway, "gemgate_cost_usd_total", model=CHAT_MODEL) > 0


@dataclass
class Probe:
    """A Gemini upstream that streams one chunk, then waits for the test; it notes being closed."""

    release: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    async def chunks(self) -> AsyncIterator[bytes]:
        first = {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "first"}]}}]}  # fmt: skip
        last = {
            "candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": " last"}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4},
        }  # fmt: skip
        try:
            yield b"data: " + orjson.dumps(first) + b"\r\n\r\n"
            deadline = time.monotonic() + 10
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            yield b"data: " + orjson.dumps(last) + b"\r\n\r\n"
        finally:
            self.closed.set()

    def app(self) -> Starlette:
        async def stream(request: Request) -> StreamingResponse:
            return StreamingResponse(self.chunks(), media_type="text/event-stream")

        path = "/v1beta/models/{model}:streamGenerateContent"
        return Starlette(routes=[Route(path, stream, methods=["POST"])])


@pytest.fixture
def probe() -> Iterator[Probe]:
    probe = Probe()
    yield probe
    probe.release.set()


@pytest.fixture
def probe_gateway(probe: Probe) -> Iterator[httpx.Client]:
    params = {"model": "gemini/gemini-2.0-flash", "api_key": "k"}
    with serve(probe.app()) as upstream:
        entry = {"model_name": PROBE_MODEL, "params": {**params, "api_base": upstream}}
        config = ProxyConfig.model_validate({"model_list": [entry], "general_settings": {"master_key": MASTER_KEY}})  # fmt: skip
        with (
            serve(create_app(config)) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=5) as client,
        ):
            yield client


PROBE_STREAMS = [
    (
        "/v1/chat/completions",
        {"model": PROBE_MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ),  # fmt: skip
    ("/v1/completions", {"model": PROBE_MODEL, "prompt": "hi", "stream": True}),
    (f"/v1beta/models/{PROBE_MODEL}:streamGenerateContent?alt=sse", _native("hi")),
    (f"/v1beta/models/{PROBE_MODEL}:streamGenerateContent", _native("hi")),
]
PROBE_IDS = ["chat", "completions", "google-sse", "google-json-array"]


@pytest.mark.parametrize(("path", "body"), PROBE_STREAMS, ids=PROBE_IDS)
def test_chunks_reach_the_caller_before_the_upstream_finishes(
    probe: Probe, probe_gateway: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    with probe_gateway.stream("POST", path, json=body) as response:
        received = response.iter_raw()
        assert b"first" in next(received)
        assert not probe.closed.is_set()
        probe.release.set()
        rest = b"".join(received)

    assert b"last" in rest


@pytest.mark.parametrize(("path", "body"), PROBE_STREAMS, ids=PROBE_IDS)
def test_caller_leaving_mid_stream_cancels_the_upstream_call(
    probe: Probe, probe_gateway: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    with probe_gateway.stream("POST", path, json=body) as response:
        assert b"first" in next(response.iter_raw())

    assert probe.closed.wait(5)
    assert not probe.release.is_set()
    assert probe_gateway.get("/health/liveliness").status_code == 200


def test_caller_leaving_is_counted_as_499(probe: Probe, probe_gateway: httpx.Client) -> None:
    path, body = PROBE_STREAMS[0]
    with probe_gateway.stream("POST", path, json=body) as response:
        next(response.iter_raw())
    assert probe.closed.wait(5)

    deadline = time.monotonic() + 5
    while not _metric(probe_gateway, "gemgate_requests_total", route=path, status="499"):
        assert time.monotonic() < deadline
        time.sleep(0.02)


class Chunks:
    """An upstream stream of fixed Gemini chunks (the relays read only batches() and aclose())."""

    def __init__(self, *texts: str) -> None:
        self.texts = texts

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        for text in self.texts:
            yield [{"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": text}]}}]}]  # fmt: skip

    async def aclose(self) -> None:
        return None


RELAYS = {
    "openai": (lambda request, upstream, end: relay_openai(
        request, upstream, ChatStreamTranslator(model="m", response_id="r", created=0, include_usage=False, provider="gemini"),
        before_end=end)),
    "google-sse": lambda request, upstream, end: GeminiRelay(is_sse=True).relay(request, upstream, end),
    "google-json-array": lambda request, upstream, end: GeminiRelay(is_sse=False).relay(request, upstream, end),
}  # fmt: skip
# The last bytes each framing sends (SSE's end is the end of the body only).
ENDINGS = {"openai": b"[DONE]", "google-sse": b"", "google-json-array": b"]"}


@pytest.mark.parametrize("relay", sorted(RELAYS))
def test_the_end_hook_runs_before_the_last_bytes_are_sent(relay: str) -> None:
    entered, release = threading.Event(), threading.Event()

    async def before_end() -> None:  # stands for the spend row being journaled
        entered.set()
        await asyncio.to_thread(release.wait, 10)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await RELAYS[relay](
            request, cast(AsyncChunkStream, Chunks("one", "two")), before_end
        )

    app = web.Application()
    app.router.add_post("/", handler)
    received: list[bytes] = []
    with serve(app) as url, httpx.Client(timeout=10) as client:
        with client.stream("POST", url + "/") as response:
            reader = threading.Thread(target=lambda: received.extend(response.iter_raw()))
            reader.start()
            assert entered.wait(10)
            time.sleep(0.2)  # whatever was sent before the hook has arrived by now
            before, unfinished = b"".join(received), reader.is_alive()
            release.set()
            reader.join(10)
    assert unfinished and b"two" in before
    assert not ENDINGS[relay] or not before.rstrip().endswith(ENDINGS[relay])
    assert not reader.is_alive() and b"".join(received).rstrip().endswith(ENDINGS[relay])
