"""UsageTap: the last `usageMetadata` and `modelVersion` of a relayed Gemini answer, read from
its bytes chunk by chunk as they pass (plain JSON, `alt=sse` events or the JSON-array stream); pure.

The tap does not frame events: in all three framings the answer is JSON text, and a key spelled
`"usageMetadata"` can only appear as a real object key (inside a JSON string its quotes would be
escaped). So the tap scans each chunk for the two keys at C speed (`bytes.rfind`), keeps the raw
bytes of the newest complete value of each, and holds back only a key whose value the chunk cut
off (at most `USAGE_LIMIT` bytes). Values are parsed once, in `usage()`, after the stream ended.
Google writes `usageMetadata` after `candidates` in every answer (and every stream chunk), so a
key of that name inside model-written function-call arguments is followed by the real one.

Intended wiring in the pass-through forwarder (``started`` taken before the upstream request)::

    call = metered_call(provider, path)
    tap = UsageTap.for_response(upstream.headers.get("content-type"),
                                upstream.headers.get("content-encoding")) if call else None
    try:
        async for chunk in upstream.content.iter_any():
            if tap is not None:
                tap.feed(chunk)
            await response.write(chunk)
    finally:
        if call is not None:
            record_pass_through(state, call, upstream.status, time.perf_counter() - started,
                                request.headers, tap, request_id=request[REQUEST_ID])
"""

from __future__ import annotations

import logging
import re
import zlib
from typing import Any

import orjson

from gemgate.translate.usage import Usage, read_usage

logger = logging.getLogger(__name__)

# Far above any real usage object (a few hundred bytes with per-modality details).
USAGE_LIMIT = 16 * 1024
MODEL_VERSION_LIMIT = 512
# Decompressed bytes are scanned in pieces of this size, so a small gzip body cannot balloon.
INFLATE_PIECE = 64 * 1024
_READABLE_TYPES = ("application/json", "text/event-stream")
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # zlib detects which of the two from the header
_INFLATABLE = {"gzip": _GZIP_OR_ZLIB, "x-gzip": _GZIP_OR_ZLIB, "deflate": _GZIP_OR_ZLIB}

# A JSON string, or one cut off at the end of the bytes seen so far. Possessive quantifiers: the
# alternatives never overlap, so nothing is worth retrying, and runs match in one step, not per byte.
_STRING = rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)'
# Usage objects nest one level (`promptTokensDetails: [{modality, tokenCount}]`).
_INNER_OBJECT = rb'\{(?:[^{}"]++|' + _STRING + rb")*+(?:\}|\Z)"
_SEPARATOR = rb"[ \t\r\n]*+(?::[ \t\r\n]*+"
# Each matches the longest prefix of `: value` found after a key: `close` is set when the value is
# complete; a match that ends before the bytes do means the key holds some other kind of value.
_OBJECT_VALUE = re.compile(
    _SEPARATOR
    + rb'(?P<value>\{(?:[^{}"]++|'
    + _STRING
    + rb"|"
    + _INNER_OBJECT
    + rb")*+(?P<close>\})?)?)?"
)
_STRING_VALUE = re.compile(_SEPARATOR + rb'(?P<value>"(?:[^"\\]++|\\.)*+(?P<close>")?)?)?')
# What may come right before a key: the start of an object, a comma, or whitespace.
_BEFORE_KEY = frozenset(b"{, \t\r\n")


class _KeyWatch:
    """The raw value of the newest complete ``key`` seen; holds back a key the chunk cut off."""

    __slots__ = ("_key", "_value", "_limit", "_held", "latest")

    def __init__(self, key: bytes, value: re.Pattern[bytes], limit: int) -> None:
        self._key = key
        self._value = value
        self._limit = limit
        self._held = b""
        self.latest: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        """Scan ``chunk`` (after the bytes held back) from its end for the newest complete value."""
        window = self._held + chunk if self._held else chunk
        pending = -1
        end = len(window)
        while (start := window.rfind(self._key, 0, end)) > 0:
            end = start
            if window[start - 1] not in _BEFORE_KEY:
                continue
            match = self._value.match(window, start + len(self._key))
            if match is not None and match["close"] is not None:
                self.latest = match["value"]
                break
            if match is not None and match.end() == len(window):
                pending = start  # the value goes on in the next chunk
        self._held = self._kept(window, pending)

    def _kept(self, window: bytes, pending: int) -> bytes:
        if pending > 0 and len(window) - pending <= self._limit:
            # From one byte before the key, so the check on what precedes it holds next time.
            return window[pending - 1 :]
        # A key may also be split between this chunk and the next.
        return window[-len(self._key) :]


class UsageTap:
    """Reads the last usage and model version of a relayed answer; see the module docstring."""

    __slots__ = ("_usage", "_model_version", "_inflater", "_is_reading")

    def __init__(self, *, encoding: str = "identity") -> None:
        self._usage = _KeyWatch(b'"usageMetadata"', _OBJECT_VALUE, USAGE_LIMIT)
        self._model_version = _KeyWatch(b'"modelVersion"', _STRING_VALUE, MODEL_VERSION_LIMIT)
        wbits = _INFLATABLE.get(encoding)
        self._inflater = zlib.decompressobj(wbits) if wbits is not None else None
        self._is_reading = wbits is not None or encoding == "identity"

    @classmethod
    def for_response(
        cls, content_type: str | None, content_encoding: str | None = None
    ) -> UsageTap:
        """A tap for an answer with these headers; it reads nothing when it cannot read the body."""
        encoding = (content_encoding or "identity").strip().lower()
        tap = cls(encoding=encoding)
        media_type = (content_type or "").partition(";")[0].strip().lower()
        if media_type and media_type not in _READABLE_TYPES:
            tap._is_reading = False
        if not tap._is_reading:
            logger.debug("no usage read from a %s answer (%s)", media_type or "typeless", encoding)
        return tap

    @property
    def is_reading(self) -> bool:
        """Whether the tap reads the body (False: unknown encoding, not JSON, or undecodable)."""
        return self._is_reading

    def feed(self, chunk: bytes) -> None:
        """Read the next relayed bytes; never raises and keeps at most a few KiB."""
        if not self._is_reading or not chunk:
            return
        if self._inflater is None:
            self._scan(chunk)
            return
        try:
            while chunk and not self._inflater.eof:
                self._scan(self._inflater.decompress(chunk, INFLATE_PIECE))
                chunk = self._inflater.unconsumed_tail
        except zlib.error:
            logger.debug("compressed answer could not be inflated; no usage read from it")
            self._is_reading = False

    def _scan(self, data: bytes) -> None:
        self._usage.feed(data)
        self._model_version.feed(data)

    def usage(self) -> Usage | None:
        """The last complete ``usageMetadata`` read, or None when there was none."""
        metadata = _parsed(self._usage.latest)
        if not isinstance(metadata, dict):
            return None
        try:
            return read_usage(metadata)
        except TypeError:
            # A malformed details list (not a list) from something that is not Google.
            logger.debug("usageMetadata of an unexpected shape; no usage read")
            return None

    def model_version(self) -> str | None:
        """The last ``modelVersion`` read (bare, without `models/`), or None."""
        version = _parsed(self._model_version.latest)
        if not isinstance(version, str) or not version:
            return None
        return version.removeprefix("models/")


def _parsed(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
