"""Streams of OpenAI chunks over a Gemini stream: async and sync twins that close the upstream."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gemgate.client import AsyncChunkStream
from gemgate.openai_objects import OpenAIObject
from gemgate.pricing import cost_of
from gemgate.sync_client import ChunkStream
from gemgate.translate.chat_stream import ChatStreamTranslator
from gemgate.translate.usage import Usage

# Turns one chat.completion.chunk into what the caller receives (None: nothing to send).
ChunkShape = Callable[[dict[str, Any]], OpenAIObject | None]


class _StreamState:
    """What both twins share: translation, pending chunks, and usage and cost at the end."""

    def __init__(self, translator: ChatStreamTranslator, *, model: str, shape: ChunkShape) -> None:
        self._translator = translator
        self._model = model
        self._shape = shape
        self._pending: deque[OpenAIObject] = deque()
        self.is_done = False
        self.cost: Decimal | None = None

    def reshape(self, shape: ChunkShape) -> None:
        """Send chunks in another shape (e.g. text_completion chunks) from now on."""
        self._shape = shape

    @property
    def usage(self) -> Usage | None:
        """Usage Gemini last reported (complete once the stream has ended)."""
        return self._translator.usage

    def take(self, chunk: dict[str, Any]) -> None:
        self._queue(self._translator.feed(chunk))

    def end(self) -> None:
        self._queue(self._translator.finish())
        self.is_done = True
        if self.usage is not None:
            self.cost = cost_of(self._model, self.usage, at=datetime.now(UTC))

    def _queue(self, chunks: list[dict[str, Any]]) -> None:
        for chunk in chunks:
            shaped = self._shape(chunk)
            if shaped is not None:
                self._pending.append(shaped)


class AsyncChatStream(_StreamState):
    """`async for chunk in stream`; stopping early (break, aclose, cancel) closes the upstream."""

    def __init__(self, upstream: AsyncChunkStream, translator: ChatStreamTranslator, *,
                 model: str, shape: ChunkShape) -> None:  # fmt: skip
        super().__init__(translator, model=model, shape=shape)
        self._upstream = upstream

    def __aiter__(self) -> AsyncIterator[OpenAIObject]:
        # An async generator: when a caller breaks out of `async for`, the event loop's
        # finaliser closes it, and its `finally` closes the upstream response.
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[OpenAIObject]:
        try:
            while not self.is_done or self._pending:
                if self._pending:
                    yield self._pending.popleft()
                    continue
                try:
                    self.take(await anext(self._upstream))
                except StopAsyncIteration:
                    self.end()
        finally:
            await self._upstream.aclose()

    async def aclose(self) -> None:
        await self._upstream.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class ChatStream(_StreamState):
    """`for chunk in stream`; stopping early (break, close) closes the upstream."""

    def __init__(self, upstream: ChunkStream, translator: ChatStreamTranslator, *,
                 model: str, shape: ChunkShape) -> None:  # fmt: skip
        super().__init__(translator, model=model, shape=shape)
        self._upstream = upstream

    def __iter__(self) -> Iterator[OpenAIObject]:
        # A generator: breaking out of `for` closes it, and its `finally` closes the upstream.
        return self._chunks()

    def _chunks(self) -> Iterator[OpenAIObject]:
        try:
            while not self.is_done or self._pending:
                if self._pending:
                    yield self._pending.popleft()
                    continue
                try:
                    self.take(next(self._upstream))
                except StopIteration:
                    self.end()
        finally:
            self._upstream.close()

    def close(self) -> None:
        self._upstream.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
