"""One call to Google, independent of the HTTP library: the request built once, retry decisions,
reading Google's answers and decoding SSE chunks into Gemini JSON."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gemgate import errors
from gemgate.providers.base import Provider
from gemgate.sse import SSEDecoder
from gemgate.translate.error_bodies import error_from_google

# Google's transient answers (RESOURCE_EXHAUSTED, INTERNAL, a bad gateway, UNAVAILABLE,
# DEADLINE_EXCEEDED); a timeout on our side is not retried: the caller's time is spent.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT_SECONDS = 600.0
_BASE_HEADERS = {"content-type": "application/json", "user-agent": "gemgate"}
_STREAM_HEADERS = {**_BASE_HEADERS, "accept": "text/event-stream"}
# generateContent is accepted too: a stream of it is streamGenerateContent.
STREAMED_METHODS = ("streamGenerateContent", "generateContent")


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


@dataclass(slots=True)  # one per call: not frozen, whose __init__ costs three times as much
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
        extra = self.provider.extra_headers
        headers = {**(_STREAM_HEADERS if self.stream else _BASE_HEADERS), **auth}
        if extra:
            headers.update((name.lower(), value) for name, value in extra.items())
        return headers

    def error_for(self, status: int, body: bytes) -> errors.GemgateError:
        """The gemgate error for Google's (read) error answer."""
        return error_from_google(status, body, provider=self.provider.name, model=self.model)

    def failure(self, kind: type[errors.GemgateError], message: str) -> errors.GemgateError:
        """A gemgate error of ``kind`` about this call."""
        return kind(message, provider=self.provider.name, model=self.model)


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


def read_json(status: int, body: bytes, call: Call) -> dict[str, Any]:
    """The JSON object of a read answer, or the gemgate error its status stands for."""
    if not 200 <= status < 300:
        raise call.error_for(status, body)
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise call.failure(
            errors.InternalServerError, f"HTTP {status} answer is not JSON"
        ) from error
    if not isinstance(answer, dict):
        raise call.failure(errors.InternalServerError, "answer is not a JSON object")
    return answer


class ChunkDecoder:
    """SSE bytes → Gemini chunks; a chunk carrying `error` raises the matching gemgate error."""

    def __init__(self, provider: Provider, model: str) -> None:
        self._provider = provider.name
        self._model = model
        self._sse = SSEDecoder()
        self._error: errors.GemgateError | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The chunks completed by ``data``; after a bad one, only those before it."""
        return self._decode(self._sse.feed(data))

    def flush(self) -> list[dict[str, Any]]:
        """The last chunk of an ended body, if it was not followed by a blank line."""
        return self._decode(self._sse.flush())

    def raise_failure(self) -> None:
        """Raise the error a decoded chunk carried (once the chunks before it are handed out)."""
        if self._error is not None:
            raise self._error

    def _decode(self, events: Iterable[bytes]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for event in events:
            if self._error is not None:
                break
            if event.strip():
                try:
                    chunks.append(self._chunk(event))
                except errors.GemgateError as error:
                    self._error = error
        return chunks

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
