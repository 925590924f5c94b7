"""What the async and sync Gemini clients share (httpx's BaseClient pattern): building calls,
deciding retries, and a chunk stream's state. Only the lines that send or sleep differ."""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from gemgate import errors
from gemgate.calls import STREAMED_METHODS, Call, ChunkDecoder, RetryPolicy, build_call
from gemgate.providers.base import Provider

logger = logging.getLogger(__name__)

AnswerT = TypeVar("AnswerT")  # Google's JSON answer, or (async) a coroutine of it
StreamT = TypeVar("StreamT")
ClientT = TypeVar("ClientT")
OpenedT = TypeVar("OpenedT")


class BaseGeminiClient(ABC, Generic[AnswerT, StreamT]):
    """The calls both clients build and their retry decisions; subclasses send and stream."""

    def __init__(self, retry_policy: RetryPolicy | None, rng: random.Random | None) -> None:
        self.retry_policy = retry_policy or RetryPolicy()
        self._rng = rng or random.Random()

    def post_json(
        self,
        provider: Provider,
        model: str,
        method: str,
        body: Mapping[str, Any],
        *,
        timeout: float,
        num_retries: int = 0,
    ) -> AnswerT:
        """POST ``body`` to ``method`` on ``model`` and return Google's JSON answer (awaitable on
        the async client). A body that is not JSON is refused here, before anything is sent."""
        return self.send(
            build_call(provider, model, method, body, timeout=timeout, num_retries=num_retries)
        )

    def stream(
        self,
        provider: Provider,
        model: str,
        method: str,
        body: Mapping[str, Any],
        *,
        timeout: float,
        num_retries: int = 0,
    ) -> StreamT:
        """The chunks of streamGenerateContent, sent when the stream is opened or first read. Use
        it in a `with` (async: `async with`) block so that the upstream response is closed when
        the consumer stops early; only opening is retried."""
        if method not in STREAMED_METHODS:
            raise ValueError(f"{method} cannot be streamed; use streamGenerateContent")
        method = STREAMED_METHODS[0]
        return self._stream_of(
            build_call(provider, model, method, body, timeout=timeout, num_retries=num_retries)
        )

    @abstractmethod
    def send(self, call: Call) -> AnswerT:
        """Send a built call (with its retries) and return Google's JSON answer."""

    @abstractmethod
    def _stream_of(self, call: Call) -> StreamT:
        """The (unopened) chunk stream of a built streamGenerateContent call."""

    def retry_delay(self, error: errors.GemgateError, attempt: int, call: Call) -> float | None:
        """Seconds before the next attempt of ``call``, or None when ``error`` is final."""
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


class BaseChunkStream(Generic[ClientT, OpenedT]):
    """A chunk stream's state: its client and call, the opened answer, and the chunks its body
    decoded into that are not handed out yet."""

    def __init__(self, client: ClientT, call: Call) -> None:
        self.call = call
        self._client = client
        self._decoder = ChunkDecoder(call.provider, call.model)
        self._pending: deque[dict[str, Any]] = deque()
        self._answer: OpenedT | None = None
        self._is_closed = False
        self._is_drained = False

    def _take(self, data: bytes | None) -> None:
        """Decode the next bytes of the body; None means the body has ended."""
        if data is None:
            self._is_drained = True
            self._pending.extend(self._decoder.flush())
        else:
            self._pending.extend(self._decoder.feed(data))

    def _detach(self) -> OpenedT | None:
        """Mark the stream closed and hand back the answer to release, if one is open."""
        self._is_closed = True
        self._pending.clear()
        answer, self._answer = self._answer, None
        return answer
