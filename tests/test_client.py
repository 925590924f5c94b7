"""The HTTP client against the emulator on loopback: answers, streams, error mapping, retries,
timeouts, early close, and the sync twin behaving like the async client."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gemgate import errors
from gemgate.calls import ChunkDecoder, RetryPolicy, build_call, is_retryable
from gemgate.client import AsyncGeminiClient
from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.providers.gemini_api import GeminiApi
from gemgate.sync_client import GeminiClient
from gemgate.transports import AiohttpTransport, HttpxTransport
from tests.conftest import TEST_API_KEY
from tests.servers import free_port, serve

MODEL = "gemini-2.5-flash"
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02)
LONG_PROMPT = "stream me a reply that is long enough to arrive in many separate pieces " * 3
MODES = ["async", "sync"]


def body(text: str = "hello") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def gemini(url: str, *, key: str = TEST_API_KEY, fault: str | None = None) -> GeminiApi:
    headers = {"x-emulator-fault": fault} if fault else {}
    return GeminiApi(api_key=key, api_base=url, extra_headers=headers)


async def post(mode: str, provider: GeminiApi, payload: dict[str, Any], **options: Any) -> Any:
    options.setdefault("timeout", 10)
    method = options.pop("method", "generateContent")
    if mode == "async":
        async with AsyncGeminiClient(retry_policy=FAST) as client:
            return await client.post_json(provider, MODEL, method, payload, **options)
    with GeminiClient(retry_policy=FAST) as client:
        return client.post_json(provider, MODEL, method, payload, **options)


async def stream(
    mode: str,
    provider: GeminiApi,
    payload: dict[str, Any],
    *,
    limit: int | None = None,
    into: list[dict[str, Any]] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Chunks of a stream (collected in ``into``); with ``limit`` the consumer stops early."""
    options.setdefault("timeout", 10)
    chunks: list[dict[str, Any]] = [] if into is None else into
    if mode == "async":
        async with AsyncGeminiClient(retry_policy=FAST) as client:
            async with client.stream(provider, MODEL, "streamGenerateContent", payload, **options) as chunk_stream:  # fmt: skip
                async for chunk in chunk_stream:
                    chunks.append(chunk)
                    if len(chunks) == limit:
                        break
        return chunks
    with GeminiClient(retry_policy=FAST) as client:
        with client.stream(provider, MODEL, "streamGenerateContent", payload, **options) as chunk_stream:  # fmt: skip
            for chunk in chunk_stream:
                chunks.append(chunk)
                if len(chunks) == limit:
                    break
    return chunks


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for chunk in chunks
        for part in chunk["candidates"][0]["content"]["parts"]
    )


def model_requests(url: str) -> list[dict[str, Any]]:
    recorded = httpx.get(f"{url}/emulator/requests").json()["requests"]
    return [entry for entry in recorded if "/models/" in entry["path"]]


@contextmanager
def emulator_wrapped(wrap: Callable[[ASGIApp], ASGIApp]) -> Iterator[str]:
    app = create_emulator_app(EmulatorSettings(api_keys=frozenset({TEST_API_KEY})))
    with serve(wrap(app)) as url:
        yield url


def failing_first(times: int, fault: str) -> Callable[[ASGIApp], ASGIApp]:
    """The first ``times`` model calls get ``fault``; later ones are answered normally."""
    left = [times]

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and "/models/" in scope["path"] and left[0] > 0:
                left[0] -= 1
                headers = [*scope["headers"], (b"x-emulator-fault", fault.encode())]
                scope = {**scope, "headers": headers}
            await app(scope, receive, send)

        return wrapped

    return wrap


class StreamWatch:
    """Counts the body messages a streamed answer sends and notes when the server stops it."""

    def __init__(self) -> None:
        self.sent = 0
        self.finished = threading.Event()

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or "streamGenerateContent" not in scope["path"]:
                await app(scope, receive, send)
                return

            async def counting(message: Message) -> None:
                if message["type"] == "http.response.body" and message.get("body"):
                    self.sent += 1
                await send(message)

            try:
                await app(scope, receive, counting)
            finally:
                self.finished.set()

        return wrapped


# Answers and streams ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_post_json_returns_googles_answer(mode: str, emulator_url: str) -> None:
    answer = await post(mode, gemini(emulator_url), body("hi there"))
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi there"


@pytest.mark.parametrize("mode", MODES)
async def test_stream_yields_chunks_that_join_to_the_answer(mode: str, emulator_url: str) -> None:
    chunks = await stream(mode, gemini(emulator_url), body(LONG_PROMPT))
    assert len(chunks) > 2 and text_of(chunks) == f"Echo: {LONG_PROMPT}".strip()
    (request,) = model_requests(emulator_url)
    assert request["query"] == "alt=sse" and request["headers"]["accept"] == "text/event-stream"


@pytest.mark.parametrize("mode", MODES)
async def test_extra_headers_are_sent(mode: str, emulator_url: str) -> None:
    provider = GeminiApi(api_key=TEST_API_KEY, api_base=emulator_url, extra_headers={"x-trace": "t1"})  # fmt: skip
    await post(mode, provider, body())
    (request,) = model_requests(emulator_url)
    assert request["headers"]["x-trace"] == "t1"
    assert request["headers"]["content-type"] == "application/json"


async def test_a_given_httpx_pool_is_used_and_left_open(emulator_url: str) -> None:
    async with httpx.AsyncClient() as pool:
        client = AsyncGeminiClient(pool)
        await client.post_json(gemini(emulator_url), MODEL, "countTokens", body(), timeout=10)
        await client.aclose()
        assert isinstance(client.transport, HttpxTransport) and client.transport.client is pool
        assert not pool.is_closed


async def test_a_given_aiohttp_session_is_used_and_left_open(emulator_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = AsyncGeminiClient(session)
        await client.post_json(gemini(emulator_url), MODEL, "countTokens", body(), timeout=10)
        await client.aclose()
        assert isinstance(client.transport, AiohttpTransport)
        assert client.transport.session is session and not session.closed


async def test_an_owned_pool_is_closed_with_the_client(emulator_url: str) -> None:
    client = AsyncGeminiClient()
    await client.post_json(gemini(emulator_url), MODEL, "countTokens", body(), timeout=10)
    await client.aclose()
    assert isinstance(client.transport, AiohttpTransport) and client.transport.is_closed


# Errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, errors.BadRequestError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (429, errors.RateLimitError),
        (500, errors.InternalServerError),
        (503, errors.ServiceUnavailableError),
    ],
)
async def test_google_errors_map_to_gemgate_errors(
    mode: str, emulator_url: str, status: int, expected: type[errors.GemgateError]
) -> None:
    with pytest.raises(expected) as raised:
        await post(mode, gemini(emulator_url, fault=f"status={status}"), body())
    assert raised.value.status_code == status
    assert (raised.value.provider, raised.value.model) == ("gemini", MODEL)


@pytest.mark.parametrize("mode", MODES)
async def test_a_rate_limit_carries_googles_retry_delay(mode: str, emulator_url: str) -> None:
    with pytest.raises(errors.RateLimitError) as raised:
        await post(mode, gemini(emulator_url), body("[[emulator: status=429, retry=7]] hi"))
    assert raised.value.retry_after == 7.0


async def test_an_unknown_model_is_not_found(emulator_url: str) -> None:
    async with AsyncGeminiClient() as client:
        with pytest.raises(errors.NotFoundError, match="not found"):
            await client.post_json(gemini(emulator_url), "no-such-model", "generateContent", body(), timeout=10)  # fmt: skip


async def test_a_wrong_key_is_an_authentication_error_that_does_not_repeat_it(
    emulator_url: str,
) -> None:
    with pytest.raises(errors.AuthenticationError) as raised:
        await post("async", gemini(emulator_url, key="wrong-key-123"), body())
    assert "wrong-key-123" not in str(raised.value)


async def test_a_body_google_rejects_is_a_bad_request(emulator_url: str) -> None:
    with pytest.raises(errors.BadRequestError, match="Unknown name"):
        await post("async", gemini(emulator_url), {**body(), "temprature": 1})


@pytest.mark.parametrize("mode", MODES)
async def test_a_stream_google_refuses_raises_before_any_chunk(
    mode: str, emulator_url: str
) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        await stream(mode, gemini(emulator_url, fault="status=503"), body())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("after", [1, 2])
async def test_an_error_mid_stream_raises_after_the_chunks_before_it(
    mode: str, emulator_url: str, after: int
) -> None:
    received: list[dict[str, Any]] = []
    provider = gemini(emulator_url, fault=f"break-after={after}")
    with pytest.raises(errors.InternalServerError, match="internal error"):
        await stream(mode, provider, body(LONG_PROMPT), into=received)
    assert len(received) == after


@pytest.mark.parametrize("mode", MODES)
async def test_connection_refused_is_an_api_connection_error(mode: str) -> None:
    provider = gemini(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(errors.APIConnectionError, match="127.0.0.1") as raised:
        await post(mode, provider, body())
    assert TEST_API_KEY not in str(raised.value)
    with pytest.raises(errors.APIConnectionError):
        await stream(mode, provider, body())


@pytest.mark.parametrize("mode", MODES)
async def test_a_hanging_answer_is_a_timeout(mode: str, emulator_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(errors.Timeout):
        await post(mode, gemini(emulator_url, fault="hang=30"), body(), timeout=0.5, num_retries=2)
    with pytest.raises(errors.Timeout):
        await stream(mode, gemini(emulator_url, fault="hang=30"), body(), timeout=0.5)
    # A timeout on our side is not retried: the caller's time budget is spent.
    assert time.monotonic() - started < 5 and len(model_requests(emulator_url)) == 2


async def test_an_answer_that_is_not_json_is_an_internal_error() -> None:
    async def plain_text(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"hello"})

    with serve(plain_text) as url:
        with pytest.raises(errors.InternalServerError, match="not JSON"):
            await post("async", gemini(url), body())


# Retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_transient_failures_are_retried_until_one_succeeds(mode: str) -> None:
    with emulator_wrapped(failing_first(2, "status=503")) as url:
        answer = await post(mode, gemini(url), body(), num_retries=2)
        assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hello"
        assert len(model_requests(url)) == 3


@pytest.mark.parametrize("mode", MODES)
async def test_retries_stop_after_num_retries(mode: str, emulator_url: str) -> None:
    with pytest.raises(errors.InternalServerError):
        await post(mode, gemini(emulator_url, fault="status=500"), body(), num_retries=2)
    assert len(model_requests(emulator_url)) == 3


@pytest.mark.parametrize("mode", MODES)
async def test_there_are_no_retries_unless_asked(mode: str, emulator_url: str) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        await post(mode, gemini(emulator_url, fault="status=503"), body())
    assert len(model_requests(emulator_url)) == 1


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_client_errors_are_not_retried(emulator_url: str, status: int) -> None:
    with pytest.raises(errors.GemgateError):
        await post("async", gemini(emulator_url, fault=f"status={status}"), body(), num_retries=3)
    assert len(model_requests(emulator_url)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_rate_limit_is_retried_after_googles_delay(mode: str) -> None:
    with emulator_wrapped(failing_first(1, "status=429, retry=0.4")) as url:
        started = time.monotonic()
        await post(mode, gemini(url), body(), num_retries=1)
        assert time.monotonic() - started >= 0.4 and len(model_requests(url)) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_opening_a_stream_is_retried(mode: str) -> None:
    with emulator_wrapped(failing_first(1, "status=500")) as url:
        chunks = await stream(mode, gemini(url), body(), num_retries=1)
        assert text_of(chunks) == "Echo: hello" and len(model_requests(url)) == 2


async def test_connection_errors_are_retried() -> None:
    provider = gemini(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    async with AsyncGeminiClient(retry_policy=RetryPolicy(initial_delay=0.2, max_delay=0.2)) as client:  # fmt: skip
        with pytest.raises(errors.APIConnectionError):
            await client.post_json(provider, MODEL, "generateContent", body(), timeout=5, num_retries=2)  # fmt: skip
    # Two waits of 0.1-0.2 s each: the failed attempts were retried.
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("error", "attempt", "low", "high"),
    [
        (errors.ServiceUnavailableError("x"), 0, 0.25, 0.5),
        (errors.InternalServerError("x"), 2, 1.0, 2.0),
        (errors.InternalServerError("x"), 10, 4.0, 8.0),
        (errors.APIConnectionError("x"), 1, 0.5, 1.0),
        (errors.Timeout("x", status_code=504), 0, 0.25, 0.5),
        (errors.RateLimitError("x", retry_after=3.0), 5, 3.0, 3.0),
        (errors.RateLimitError("x", retry_after=600.0), 0, 60.0, 60.0),
        (errors.RateLimitError("x"), 1, 0.5, 1.0),
    ],
)
def test_retry_delay_is_googles_or_jittered_backoff(
    error: errors.GemgateError, attempt: int, low: float, high: float
) -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, max_retry_after=60.0)
    delays = {policy.delay(error, attempt, random.Random(seed)) for seed in range(20)}
    assert all(delay is not None and low <= delay <= high for delay in delays)
    assert len(delays) == (1 if low == high else 20)


@pytest.mark.parametrize(
    "error",
    [
        errors.BadRequestError("x"),
        errors.AuthenticationError("x"),
        errors.NotFoundError("x"),
        errors.Timeout("x"),
        errors.ContextWindowExceededError("x"),
    ],
)
def test_final_errors_are_not_retried(error: errors.GemgateError) -> None:
    assert not is_retryable(error) and RetryPolicy().delay(error, 0, random.Random(0)) is None


# Early close ------------------------------------------------------------------------------------


async def test_stopping_early_closes_the_upstream_stream() -> None:
    watch = StreamWatch()
    with emulator_wrapped(watch) as url:
        provider = gemini(url, fault="chunk-delay=100")
        async with AsyncGeminiClient() as client:
            async with client.stream(provider, MODEL, "streamGenerateContent", body(LONG_PROMPT * 2), timeout=10) as chunks:  # fmt: skip
                async for _ in chunks:
                    break
            # The pool is still open; only closing the stream can have stopped the server.
            assert_server_stopped_early(watch)


def test_stopping_early_closes_the_upstream_stream_sync() -> None:
    watch = StreamWatch()
    with emulator_wrapped(watch) as url:
        provider = gemini(url, fault="chunk-delay=100")
        with GeminiClient() as client:
            with client.stream(provider, MODEL, "streamGenerateContent", body(LONG_PROMPT * 2), timeout=10) as chunks:  # fmt: skip
                next(chunks)
            assert_server_stopped_early(watch)


def assert_server_stopped_early(watch: StreamWatch) -> None:
    # The whole answer takes several seconds; the server stops soon after the stream is closed.
    assert watch.finished.wait(timeout=2)
    assert watch.sent < 5


async def test_a_closed_stream_yields_nothing_more(emulator_url: str) -> None:
    async with AsyncGeminiClient() as client:
        chunks = client.stream(gemini(emulator_url), MODEL, "streamGenerateContent", body(LONG_PROMPT), timeout=10)  # fmt: skip
        first = await anext(chunks)
        await chunks.aclose()
        await chunks.aclose()
        assert first["candidates"] and [chunk async for chunk in chunks] == []


def test_a_sync_stream_can_be_opened_before_it_is_read(emulator_url: str) -> None:
    with GeminiClient() as client:
        chunks = client.stream(gemini(emulator_url), MODEL, "streamGenerateContent", body(), timeout=10).open()  # fmt: skip
        try:
            assert text_of(list(chunks)) == "Echo: hello"
        finally:
            chunks.close()


async def test_a_stream_that_failed_to_open_is_not_sent_again(emulator_url: str) -> None:
    async with AsyncGeminiClient() as client:
        chunks = client.stream(gemini(emulator_url, fault="status=500"), MODEL, "streamGenerateContent", body(), timeout=10)  # fmt: skip
        with pytest.raises(errors.InternalServerError):
            await chunks.open()
        assert [chunk async for chunk in chunks] == []
    assert len(model_requests(emulator_url)) == 1


def test_a_call_is_built_with_the_backends_quirks_and_the_callers_headers() -> None:
    provider = GeminiApi(api_key="k", api_base="http://h", extra_headers={"User-Agent": "mine"})
    batch = {"requests": [{"content": {"parts": [{"text": "a"}]}}]}
    call = build_call(provider, "gemini-embedding-001", "batchEmbedContents", batch, timeout=3)
    assert call.url == "http://h/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert b'"model":"models/gemini-embedding-001"' in call.content and not call.stream
    assert call.headers({"x-goog-api-key": "k"}) == {
        "content-type": "application/json", "user-agent": "mine", "x-goog-api-key": "k",
    }  # fmt: skip


@pytest.mark.parametrize("method", ["countTokens", "embedContent"])
def test_only_generation_can_be_streamed(method: str) -> None:
    with GeminiClient() as client, pytest.raises(ValueError, match="cannot be streamed"):
        client.stream(gemini("http://h"), MODEL, method, body(), timeout=1)


async def test_a_stream_of_generate_content_is_stream_generate_content(emulator_url: str) -> None:
    async with AsyncGeminiClient() as client:
        async with client.stream(gemini(emulator_url), MODEL, "generateContent", body(), timeout=10) as chunks:  # fmt: skip
            assert text_of([chunk async for chunk in chunks]) == "Echo: hello"
    assert model_requests(emulator_url)[0]["path"].endswith(":streamGenerateContent")


def test_chunks_split_across_reads_are_decoded_whole() -> None:
    decoder = ChunkDecoder(gemini("http://h"), MODEL)
    raw = b'data: {"candidates": []}\r\n\r\ndata: {"usageMetadata": {}}\r\n\r\n'
    decoded = [chunk for index in range(len(raw)) for chunk in decoder.feed(raw[index : index + 1])]
    assert decoded == [{"candidates": []}, {"usageMetadata": {}}] and decoder.flush() == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (b"data: not json\n\n", errors.InternalServerError),
        (b"data: [1]\n\n", errors.InternalServerError),
        (
            b'data: {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}\n\n',
            errors.RateLimitError,
        ),  # fmt: skip
        (b'data: {"error": {"message": "?"}}\n\n', errors.InternalServerError),
    ],
)
def test_a_bad_or_error_event_raises_after_the_chunks_before_it(
    event: bytes, expected: type[errors.GemgateError]
) -> None:
    decoder = ChunkDecoder(gemini("http://h"), MODEL)
    assert decoder.feed(b'data: {"a": 1}\n\n' + event + b'data: {"b": 2}\n\n') == [{"a": 1}]
    with pytest.raises(expected):
        decoder.raise_failure()
    assert decoder.feed(b'data: {"c": 3}\n\n') == []


def test_an_event_left_open_at_the_end_is_decoded() -> None:
    decoder = ChunkDecoder(gemini("http://h"), MODEL)
    assert decoder.feed(b'data: {"a": 1}') == [] and decoder.flush() == [{"a": 1}]


def test_a_body_that_is_not_json_is_a_bad_request_before_sending() -> None:
    with pytest.raises(errors.BadRequestError, match="not JSON"):
        build_call(gemini("http://h"), MODEL, "generateContent", {"contents": b"raw"}, timeout=1)
