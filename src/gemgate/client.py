"""The only code that sends to Google: one pooled httpx client per object, retries, SSE streams.

`AsyncGeminiClient` and `GeminiClient` share the request building, retry decisions and error
mapping; only the few lines that send differ. Transport failures are mapped here, once: a timeout
→ `errors.Timeout`, anything else that kept a request from being answered →
`errors.APIConnectionError`; Google's error answers go through `translate/error_bodies.py`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import orjson

from gemgate import errors
from gemgate.providers.base import Provider
from gemgate.sse import SSEDecoder
from gemgate.translate.error_bodies import error_from_google, redact

logger = logging.getLogger(__name__)

# Google's transient answers (RESOURCE_EXHAUSTED, INTERNAL, a bad gateway, UNAVAILABLE,
# DEADLINE_EXCEEDED); a timeout on our side is not retried: the caller's time is spent.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT_SECONDS = 600.0
_BASE_HEADERS = {"content-type": "application/json", "user-agent": "gemgate"}
_POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
# generateContent is accepted too: a stream of it is streamGenerateContent.
_STREAMED = ("streamGenerateContent", "generateContent")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts: Google's RetryInfo when given, else jittered backoff."""

    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, error: errors.GemgateError, attempt: int, rng: random.Random) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when ``error`` is final."""
        if not is_retryable(error):
            return None
        if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.initial_delay * 2**attempt)
        return rng.uniform(ceiling / 2, ceiling)


def is_retryable(error: errors.GemgateError) -> bool:
    """Whether a new attempt may succeed where this one failed."""
    return isinstance(error, errors.APIConnectionError) or error.status_code in RETRYABLE_STATUS


@dataclass(frozen=True, slots=True)
class Call:
    """One call to Google, built once (pure) and sent on every attempt."""

    provider: Provider
    model: str
    url: str
    content: bytes
    timeout: float
    num_retries: int = 0
    stream: bool = False

    def headers(self, auth: Mapping[str, str]) -> dict[str, str]:
        """Our headers, then the credentials, then the caller's extra headers (which win)."""
        accept = {"accept": "text/event-stream"} if self.stream else {}
        extra = {name.lower(): value for name, value in self.provider.extra_headers.items()}
        return {**_BASE_HEADERS, **accept, **auth, **extra}

    def error_for(self, response: httpx.Response) -> errors.GemgateError:
        """The gemgate error for Google's (read) error answer."""
        return error_from_google(
            response.status_code, response.content, provider=self.provider.name, model=self.model
        )


def build_call(
    provider: Provider,
    model: str,
    method: str,
    body: Mapping[str, Any],
    *,
    timeout: float,
    num_retries: int = 0,
) -> Call:
    """URL and encoded body of ``method`` on ``model``, the backend's quirks applied."""
    stream = method == "streamGenerateContent"
    url = provider.url(model, method, stream=stream)
    try:
        content = orjson.dumps(provider.adapt_request(body, method, model=model))
    except orjson.JSONEncodeError as error:
        raise errors.BadRequestError(
            f"the request body is not JSON: {error}", provider=provider.name, model=model
        ) from error
    return Call(provider, model, url, content, timeout, num_retries, stream)


@contextmanager
def mapped_transport_errors(call: Call) -> Iterator[None]:
    """Turn httpx's failures inside the block into gemgate errors (the one place this happens)."""
    host = urlsplit(call.url).netloc
    provider, model = call.provider.name, call.model
    try:
        yield
    except httpx.TimeoutException as error:
        message = f"{host} did not answer in time ({type(error).__name__})"
        raise errors.Timeout(message, provider=provider, model=model) from error
    except httpx.RequestError as error:
        message = f"could not talk to {host}: {type(error).__name__} {redact(str(error))}"
        raise errors.APIConnectionError(message.rstrip(), provider=provider, model=model) from error


def read_json(response: httpx.Response, call: Call) -> dict[str, Any]:
    """The JSON object of a read response, or the gemgate error its status stands for."""
    if not response.is_success:
        raise call.error_for(response)
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError as error:
        raise errors.InternalServerError(
            f"HTTP {response.status_code} answer is not JSON",
            provider=call.provider.name,
            model=call.model,
        ) from error
    if not isinstance(answer, dict):
        raise errors.InternalServerError(
            "answer is not a JSON object", provider=call.provider.name, model=call.model
        )
    return answer


class ChunkDecoder:
    """SSE bytes → Gemini chunks; a chunk carrying `error` raises the matching gemgate error."""

    def __init__(self, provider: Provider, model: str) -> None:
        self._provider = provider.name
        self._model = model
        self._sse = SSEDecoder()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [self._chunk(event) for event in self._sse.feed(data) if event.strip()]

    def flush(self) -> list[dict[str, Any]]:
        return [self._chunk(event) for event in self._sse.flush() if event.strip()]

    def _chunk(self, event: bytes) -> dict[str, Any]:
        try:
            chunk = orjson.loads(event)
        except orjson.JSONDecodeError as error:
            raise self._malformed("stream event is not JSON") from error
        if not isinstance(chunk, dict):
            raise self._malformed("stream event is not a JSON object")
        if isinstance(chunk.get("error"), dict):
            # The status line said 200 before the failure; the error's own code tells what it was.
            code = chunk["error"].get("code")
            status = code if isinstance(code, int) and 400 <= code <= 599 else 500
            raise error_from_google(status, chunk, provider=self._provider, model=self._model)
        return chunk

    def _malformed(self, message: str) -> errors.InternalServerError:
        return errors.InternalServerError(message, provider=self._provider, model=self._model)


class _BaseClient:
    """What both clients share: retry decisions and their logging."""

    def __init__(self, retry_policy: RetryPolicy | None, rng: random.Random | None) -> None:
        self.retry_policy = retry_policy or RetryPolicy()
        self._rng = rng or random.Random()

    def _retry_delay(self, error: errors.GemgateError, attempt: int, call: Call) -> float | None:
        if attempt >= call.num_retries:
            return None
        delay = self.retry_policy.delay(error, attempt, self._rng)
        if delay is not None:
            logger.warning(
                "%s/%s failed (%s %s); retry %d of %d in %.2fs",
                call.provider.name, call.model, error.status_code, type(error).__name__,
                attempt + 1, call.num_retries, delay,
            )  # fmt: skip
        return delay


class AsyncGeminiClient(_BaseClient):
    """Sends native Gemini JSON with one pooled `httpx.AsyncClient` (given, or owned and closed)."""

    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(retry_policy, rng)
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT_SECONDS, limits=_POOL_LIMITS, follow_redirects=False
        )

    async def post_json(
        self,
        provider: Provider,
        model: str,
        method: str,
        body: Mapping[str, Any],
        *,
        timeout: float,
        num_retries: int = 0,
    ) -> dict[str, Any]:
        """POST ``body`` to ``method`` on ``model`` and return Google's JSON answer."""
        call = build_call(provider, model, method, body, timeout=timeout, num_retries=num_retries)
        return await self._retrying(call, self._post_once)

    def stream(
        self,
        provider: Provider,
        model: str,
        method: str,
        body: Mapping[str, Any],
        *,
        timeout: float,
        num_retries: int = 0,
    ) -> AsyncChunkStream:
        """The chunks of streamGenerateContent. Use `async with` (or `await s.open()` … `await
        s.aclose()`) so the upstream response is closed when the consumer stops early; only
        opening is retried."""
        if method not in _STREAMED:
            raise ValueError(f"{method} cannot be streamed; use streamGenerateContent")
        call = build_call(
            provider, model, _STREAMED[0], body, timeout=timeout, num_retries=num_retries
        )
        return AsyncChunkStream(self, call)

    async def aclose(self) -> None:
        """Close the connection pool if this client made it."""
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncGeminiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _retrying(
        self, call: Call, attempt_once: Callable[[Call, dict[str, str]], Awaitable[T]]
    ) -> T:
        attempt = 0
        while True:
            headers = call.headers(await call.provider.auth_headers())
            try:
                return await attempt_once(call, headers)
            except errors.GemgateError as error:
                delay = self._retry_delay(error, attempt, call)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def _post_once(self, call: Call, headers: dict[str, str]) -> dict[str, Any]:
        with mapped_transport_errors(call):
            response = await self.http.post(
                call.url, content=call.content, headers=headers, timeout=call.timeout
            )
        return read_json(response, call)

    async def _open_once(self, call: Call, headers: dict[str, str]) -> httpx.Response:
        request = self.http.build_request(
            "POST", call.url, content=call.content, headers=headers, timeout=call.timeout
        )
        with mapped_transport_errors(call):
            response = await self.http.send(request, stream=True)
            if response.is_success:
                return response
            try:
                await response.aread()
            finally:
                await response.aclose()
        raise call.error_for(response)


class _ChunkBuffer:
    """What both stream classes share: decoded chunks waiting to be handed out."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._decoder = ChunkDecoder(call.provider, call.model)
        self._pending: deque[dict[str, Any]] = deque()
        self._is_closed = False
        self._is_drained = False

    def _take(self, data: bytes | None) -> None:
        """Decode the next bytes of the body; None means the body has ended."""
        if data is None:
            self._is_drained = True
            self._pending.extend(self._decoder.flush())
        else:
            self._pending.extend(self._decoder.feed(data))


class AsyncChunkStream(_ChunkBuffer):
    """Gemini chunks of one streamed call; closing it closes the upstream response."""

    def __init__(self, client: AsyncGeminiClient, call: Call) -> None:
        super().__init__(call)
        self._client = client
        self._response: httpx.Response | None = None
        self._bytes: AsyncGenerator[bytes, None] | None = None

    async def open(self) -> AsyncChunkStream:
        """Send the request; raises Google's error (after retries) before any chunk is read."""
        if self._response is None and not self._is_closed:
            # A stream is sent once: after a failure it stays closed rather than sending again.
            self._is_closed = True
            self._response = await self._client._retrying(self._call, self._client._open_once)
            self._is_closed = False
            # httpx's byte iterator is an async generator; it is closed with the response.
            self._bytes = cast(AsyncGenerator[bytes, None], self._response.aiter_bytes())
        return self

    def __aiter__(self) -> AsyncChunkStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        await self.open()
        try:
            while not self._pending:
                if self._is_drained or self._bytes is None:
                    raise StopAsyncIteration
                with mapped_transport_errors(self._call):
                    self._take(await anext(self._bytes, None))
        except BaseException:
            await self.aclose()
            raise
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self._is_closed = True
        chunks, self._bytes = self._bytes, None
        response, self._response = self._response, None
        if chunks is not None:
            await chunks.aclose()
        if response is not None:
            await response.aclose()

    async def __aenter__(self) -> AsyncChunkStream:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class GeminiClient(_BaseClient):
    """The synchronous twin of AsyncGeminiClient, on one pooled `httpx.Client`."""

    def __init__(
        self,
        http: httpx.Client | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(retry_policy, rng)
        self._owns_http = http is None
        self.http = http or httpx.Client(
            timeout=DEFAULT_TIMEOUT_SECONDS, limits=_POOL_LIMITS, follow_redirects=False
        )

    def post_json(
        self,
        provider: Provider,
        model: str,
        method: str,
        body: Mapping[str, Any],
        *,
        timeout: float,
        num_retries: int = 0,
    ) -> dict[str, Any]:
        """POST ``body`` to ``method`` on ``model`` and return Google's JSON answer."""
        call = build_call(provider, model, method, body, timeout=timeout, num_retries=num_retries)
        return self._retrying(call, self._post_once)

    def stream(
        self,
        provider: Provider,
        model: str,
        method: str,
        body: Mapping[str, Any],
        *,
        timeout: float,
        num_retries: int = 0,
    ) -> ChunkStream:
        """The chunks of streamGenerateContent; use `with` (or `open()` … `close()`)."""
        if method not in _STREAMED:
            raise ValueError(f"{method} cannot be streamed; use streamGenerateContent")
        call = build_call(
            provider, model, _STREAMED[0], body, timeout=timeout, num_retries=num_retries
        )
        return ChunkStream(self, call)

    def close(self) -> None:
        """Close the connection pool if this client made it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> GeminiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _retrying(self, call: Call, attempt_once: Callable[[Call, dict[str, str]], T]) -> T:
        attempt = 0
        while True:
            headers = call.headers(call.provider.auth_headers_sync())
            try:
                return attempt_once(call, headers)
            except errors.GemgateError as error:
                delay = self._retry_delay(error, attempt, call)
                if delay is None:
                    raise
            time.sleep(delay)
            attempt += 1

    def _post_once(self, call: Call, headers: dict[str, str]) -> dict[str, Any]:
        with mapped_transport_errors(call):
            response = self.http.post(
                call.url, content=call.content, headers=headers, timeout=call.timeout
            )
        return read_json(response, call)

    def _open_once(self, call: Call, headers: dict[str, str]) -> httpx.Response:
        request = self.http.build_request(
            "POST", call.url, content=call.content, headers=headers, timeout=call.timeout
        )
        with mapped_transport_errors(call):
            response = self.http.send(request, stream=True)
            if response.is_success:
                return response
            try:
                response.read()
            finally:
                response.close()
        raise call.error_for(response)


class ChunkStream(_ChunkBuffer):
    """Gemini chunks of one streamed call (sync); closing it closes the upstream response."""

    def __init__(self, client: GeminiClient, call: Call) -> None:
        super().__init__(call)
        self._client = client
        self._response: httpx.Response | None = None
        self._bytes: Generator[bytes, None, None] | None = None

    def open(self) -> ChunkStream:
        """Send the request; raises Google's error (after retries) before any chunk is read."""
        if self._response is None and not self._is_closed:
            self._is_closed = True
            self._response = self._client._retrying(self._call, self._client._open_once)
            self._is_closed = False
            self._bytes = cast(Generator[bytes, None, None], self._response.iter_bytes())
        return self

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> dict[str, Any]:
        self.open()
        try:
            while not self._pending:
                if self._is_drained or self._bytes is None:
                    raise StopIteration
                with mapped_transport_errors(self._call):
                    self._take(next(self._bytes, None))
        except BaseException:
            self.close()
            raise
        return self._pending.popleft()

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self._is_closed = True
        chunks, self._bytes = self._bytes, None
        response, self._response = self._response, None
        if chunks is not None:
            chunks.close()
        if response is not None:
            response.close()

    def __enter__(self) -> ChunkStream:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
