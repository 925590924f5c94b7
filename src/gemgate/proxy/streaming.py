"""Streamed answers: OpenAI's `data: {...}` events ending in `data: [DONE]`, and Gemini's own
framings (`alt=sse` events or one JSON array). Writes wait for the caller (backpressure); the
upstream stream is closed however the relay ends, the caller leaving included."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from gemgate import errors
from gemgate.client import AsyncChunkStream
from gemgate.proxy.error_handlers import Surface, error_event
from gemgate.sse import close_array, encode_array_element, encode_event
from gemgate.translate.chat_stream import ChatStreamTranslator
from gemgate.translate.usage import Usage, read_usage

logger = logging.getLogger(__name__)

OPENAI_DONE = b"data: [DONE]\n\n"
# Reshapes one chat.completion.chunk for the route (None: send nothing for it).
ChunkShape = Callable[[dict[str, Any]], Mapping[str, Any] | None]
# Awaited after the last upstream chunk and before the stream's last bytes (spend journaling).
BeforeEnd = Callable[[], Awaitable[None]]


async def _no_op() -> None:
    return None


async def open_event_stream(request: web.Request, content_type: str) -> web.StreamResponse:
    """Send the status line and headers of a streamed answer."""
    response = web.StreamResponse(
        headers={"content-type": content_type, "cache-control": "no-cache",
                 "x-accel-buffering": "no"},
    )  # fmt: skip
    await response.prepare(request)
    return response


def openai_event(chunk: Mapping[str, Any]) -> bytes:
    """One OpenAI SSE event (LF line ends, as OpenAI sends them)."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def relay_openai(
    request: web.Request,
    upstream: AsyncChunkStream,
    translator: ChatStreamTranslator,
    shape: ChunkShape | None = None,
    before_end: BeforeEnd = _no_op,
) -> web.StreamResponse:
    """Relay Gemini chunks as OpenAI chunks; an upstream failure ends it with an error event."""
    response = await open_event_stream(request, "text/event-stream")
    try:
        async for batch in upstream.batches():
            data = b"".join(_openai_events(translator.feed(chunk), shape) for chunk in batch)
            if data:
                await response.write(data)
        tail = _openai_events(translator.finish(), shape) + OPENAI_DONE
    except errors.GemgateError as error:
        logger.warning("upstream stream failed: %s", error)
        tail = b"data: " + error_event(error, Surface.OPENAI) + b"\n\n"
    finally:
        await upstream.aclose()
    await before_end()
    # The last events travel with the end of the body: one write instead of two.
    await response.write_eof(tail)
    return response


def _openai_events(chunks: list[dict[str, Any]], shape: ChunkShape | None) -> bytes:
    shaped = chunks if shape is None else (shape(chunk) for chunk in chunks)
    return b"".join(openai_event(chunk) for chunk in shaped if chunk is not None)


class GeminiRelay:
    """Relays Gemini chunks unchanged, as SSE events or as one streamed JSON array."""

    def __init__(self, *, is_sse: bool) -> None:
        self.is_sse = is_sse
        self.usage: Usage | None = None
        self._count = 0

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self.is_sse else "application/json; charset=UTF-8"

    async def relay(
        self, request: web.Request, upstream: AsyncChunkStream, before_end: BeforeEnd = _no_op
    ) -> web.StreamResponse:
        """Relay every chunk; an upstream failure ends the stream with Google's error object."""
        response = await open_event_stream(request, self.content_type)
        tail = b""
        try:
            async for batch in upstream.batches():
                await response.write(b"".join(self._framed(chunk) for chunk in batch))
        except errors.GemgateError as error:
            logger.warning("upstream stream failed: %s", error)
            tail = self._frame(error_event(error, Surface.GOOGLE))
        finally:
            await upstream.aclose()
        if not self.is_sse:
            tail += close_array(is_empty=self._count == 0)
        await before_end()
        await response.write_eof(tail)
        return response

    def _framed(self, chunk: dict[str, Any]) -> bytes:
        if chunk.get("usageMetadata"):
            self.usage = read_usage(chunk["usageMetadata"])
        return self._frame(orjson.dumps(chunk))

    def _frame(self, data: bytes) -> bytes:
        self._count += 1
        if self.is_sse:
            return encode_event(data)
        return encode_array_element(data, is_first=self._count == 1)
