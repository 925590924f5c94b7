"""GeminiClient: the synchronous twin of AsyncGeminiClient, on one pooled `httpx.Client`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar, cast

import httpx

from gemgate import errors
from gemgate.calls import Call, RetryPolicy, read_json
from gemgate.client_base import BaseChunkStream, BaseGeminiClient
from gemgate.transports import httpx_errors

DEFAULT_POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
T = TypeVar("T")


class GeminiClient(BaseGeminiClient[dict[str, Any], "ChunkStream"]):
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

    def send(self, call: Call) -> dict[str, Any]:
        """Send a built call (with its retries) and return Google's JSON answer."""
        return self.retrying(call, self._post_once)

    def _stream_of(self, call: Call) -> ChunkStream:
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


class ChunkStream(BaseChunkStream[GeminiClient, httpx.Response]):
    """Gemini chunks of one streamed call (sync); closing it closes the upstream response."""

    # The body's bytes once the stream is open (a class default saves an __init__ per stream).
    _bytes: Generator[bytes, None, None] | None = None

    def open(self) -> ChunkStream:
        """Send the request; raises Google's error (after retries) before any chunk is read."""
        if self._answer is None and not self._is_closed:
            # A stream is sent once: after a failure it stays closed rather than sending again.
            self._is_closed = True
            self._answer = self._client.retrying(self.call, self._client.open_once)
            self._is_closed = False
            self._bytes = cast(Generator[bytes, None, None], self._answer.iter_bytes())
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

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        chunks, self._bytes = self._bytes, None
        response = self._detach()
        if chunks is not None:
            chunks.close()
        if response is not None:
            response.close()

    def __enter__(self) -> ChunkStream:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
