"""GeminiClient: the synchronous twin of AsyncGeminiClient, on one pooled `httpx.Client`."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeVar, cast

import httpx

from gemgate import errors
from gemgate.calls import STREAMED_METHODS, Call, ChunkDecoder, RetryPolicy, build_call, read_json
from gemgate.client import RetryLogic
from gemgate.providers.base import Provider
from gemgate.transports import httpx_errors

DEFAULT_POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
T = TypeVar("T")


class GeminiClient(RetryLogic):
    """Sends native Gemini JSON with one pooled `httpx.Client` (given, or owned and closed)."""

    def __init__(
        self,
        http: httpx.Client | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(retry_policy, rng)
        self._owns_http = http is None
        self.http = http or httpx.Client(limits=DEFAULT_POOL_LIMITS, follow_redirects=False)

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
        return self.send(call)

    def send(self, call: Call) -> dict[str, Any]:
        """Send a built call (with its retries) and return Google's JSON answer."""
        return self.retrying(call, self._post_once)

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
        if method not in STREAMED_METHODS:
            raise ValueError(f"{method} cannot be streamed; use streamGenerateContent")
        call = build_call(
            provider, model, STREAMED_METHODS[0], body, timeout=timeout, num_retries=num_retries
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

    def retrying(self, call: Call, attempt_once: Callable[[Call, dict[str, str]], T]) -> T:
        """Run ``attempt_once`` until it succeeds or its error is final."""
        attempt = 0
        while True:
            headers = call.headers(call.provider.auth_headers_sync())
            try:
                return attempt_once(call, headers)
            except errors.GemgateError as error:
                delay = self.retry_delay(error, attempt, call)
                if delay is None:
                    raise
            time.sleep(delay)
            attempt += 1

    def _post_once(self, call: Call, headers: dict[str, str]) -> dict[str, Any]:
        with httpx_errors(call):
            response = self.http.post(
                call.url, content=call.content, headers=headers, timeout=call.timeout
            )
        return read_json(response.status_code, response.content, call)

    def open_once(self, call: Call, headers: dict[str, str]) -> httpx.Response:
        """Open a streamed answer; Google's error answer is read and raised."""
        request = self.http.build_request(
            "POST", call.url, content=call.content, headers=headers, timeout=call.timeout
        )
        with httpx_errors(call):
            response = self.http.send(request, stream=True)
            if response.is_success:
                return response
            try:
                response.read()
            finally:
                response.close()
        raise call.error_for(response.status_code, response.content)


class ChunkStream:
    """Gemini chunks of one streamed call (sync); closing it closes the upstream response."""

    def __init__(self, client: GeminiClient, call: Call) -> None:
        self.call = call
        self._client = client
        self._decoder = ChunkDecoder(call.provider, call.model)
        self._pending: deque[dict[str, Any]] = deque()
        self._response: httpx.Response | None = None
        self._bytes: Generator[bytes, None, None] | None = None
        self._is_closed = False
        self._is_drained = False

    def open(self) -> ChunkStream:
        """Send the request; raises Google's error (after retries) before any chunk is read."""
        if self._response is None and not self._is_closed:
            self._is_closed = True
            self._response = self._client.retrying(self.call, self._client.open_once)
            self._is_closed = False
            self._bytes = cast(Generator[bytes, None, None], self._response.iter_bytes())
        return self

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> dict[str, Any]:
        self.open()
        try:
            while not self._pending:
                self._decoder.raise_failure()
                if self._is_drained or self._bytes is None:
                    raise StopIteration
                with httpx_errors(self.call):
                    self._take(next(self._bytes, None))
        except BaseException:
            self.close()
            raise
        return self._pending.popleft()

    def _take(self, data: bytes | None) -> None:
        if data is None:
            self._is_drained = True
            self._pending.extend(self._decoder.flush())
        else:
            self._pending.extend(self._decoder.feed(data))

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self._is_closed = True
        self._pending.clear()
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
