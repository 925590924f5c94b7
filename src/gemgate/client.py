"""AsyncGeminiClient: the async code that sends to Google — retries and SSE chunk streams over
one pooled transport (aiohttp by default, see transports.py). Its sync twin is sync_client.py;
what the two share is client_base.py."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import httpx

from gemgate import errors
from gemgate.calls import DEFAULT_TIMEOUT_SECONDS, Call, RetryPolicy, read_json
from gemgate.client_base import BaseChunkStream, BaseGeminiClient
from gemgate.transports import AiohttpTransport, AsyncTransport, HttpxTransport, OpenedAnswer

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "AsyncChunkStream", "AsyncGeminiClient"]
T = TypeVar("T")


def as_transport(
    http: AsyncTransport | aiohttp.ClientSession | httpx.AsyncClient | None,
) -> AsyncTransport:
    """The transport for a given pool (or a new owned aiohttp pool)."""
    if isinstance(http, aiohttp.ClientSession) or http is None:
        return AiohttpTransport(http)
    if isinstance(http, httpx.AsyncClient):
        return HttpxTransport(http)
    return http


class AsyncGeminiClient(BaseGeminiClient[Coroutine[Any, Any, dict[str, Any]], "AsyncChunkStream"]):
    """Sends native Gemini JSON over one pooled transport (given, or owned and closed)."""

    def __init__(
        self,
        http: AsyncTransport | aiohttp.ClientSession | httpx.AsyncClient | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(retry_policy, rng)
        self.transport = as_transport(http)

    async def send(self, call: Call) -> dict[str, Any]:
        """Send a built call (with its retries) and return Google's JSON answer."""
        # `retrying` with the post inlined: every call passes here, and each coroutine layer
        # between the caller and the HTTP library is paid again on every resume.
        attempt = 0
        while True:
            headers = call.headers(await call.provider.auth_headers())
            try:
                status, body = await self.transport.post(call, headers)
                return read_json(status, body, call)
            except errors.GemgateError as error:
                delay = self.retry_delay(error, attempt, call)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    def _stream_of(self, call: Call) -> AsyncChunkStream:
        return AsyncChunkStream(self, call)

    async def aclose(self) -> None:
        """Close the connection pool if this client made it."""
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncGeminiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def retrying(
        self, call: Call, attempt_once: Callable[[Call, dict[str, str]], Awaitable[T]]
    ) -> T:
        """Run ``attempt_once`` until it succeeds or its error is final.

        `send` repeats this loop inline (the hot path): a subclass that changes how attempts are
        retried overrides `send` too, as the context-cache client does."""
        attempt = 0
        while True:
            headers = call.headers(await call.provider.auth_headers())
            try:
                return await attempt_once(call, headers)
            except errors.GemgateError as error:
                delay = self.retry_delay(error, attempt, call)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def _post_once(self, call: Call, headers: dict[str, str]) -> dict[str, Any]:
        status, body = await self.transport.post(call, headers)
        return read_json(status, body, call)

    async def open_once(self, call: Call, headers: dict[str, str]) -> OpenedAnswer:
        """Open a streamed answer; Google's error answer is read and raised."""
        answer = await self.transport.open(call, headers)
        if 200 <= answer.status < 300:
            return answer
        try:
            body = await answer.read()
        finally:
            await answer.aclose()
        raise call.error_for(answer.status, body)


class AsyncChunkStream(BaseChunkStream[AsyncGeminiClient, OpenedAnswer]):
    """Gemini chunks of one streamed call; closing it closes the upstream response."""

    async def open(self) -> AsyncChunkStream:
        """Send the request; raises Google's error (after retries) before any chunk is read."""
        if self._answer is None and not self._is_closed:
            # A stream is sent once: after a failure it stays closed rather than sending again.
            self._is_closed = True
            self._answer = await self._client.retrying(self.call, self._client.open_once)
            self._is_closed = False
        return self

    def __aiter__(self) -> AsyncChunkStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        await self.open()
        try:
            while not self._pending:
                self._decoder.raise_failure()
                if self._is_drained or self._answer is None:
                    raise StopAsyncIteration
                self._take(await self._answer.next_bytes())
        except BaseException:
            await self.aclose()
            raise
        return self._pending.popleft()

    async def batches(self) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The chunks in batches: all that one read of the body completed (a relay writes each
        batch at once instead of one write per chunk)."""
        await self.open()
        try:
            while True:
                if self._pending:
                    batch = list(self._pending)
                    self._pending.clear()
                    yield batch
                    continue
                self._decoder.raise_failure()
                if self._is_drained or self._answer is None:
                    return
                self._take(await self._answer.next_bytes())
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        answer = self._detach()
        if answer is not None:
            await answer.aclose()

    async def __aenter__(self) -> AsyncChunkStream:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
