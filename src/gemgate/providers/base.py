"""The Provider protocol: where a Google backend lives, how it authenticates, and its body quirks."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from gemgate import errors

GENERATE = "generateContent"
STREAM_GENERATE = "streamGenerateContent"
METHODS = frozenset(
    {GENERATE, STREAM_GENERATE, "countTokens", "embedContent", "batchEmbedContents", "predict"}
)
# Model ids go into the URL path, so anything that could change the path or query is refused.
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@\-]*$")
_VERSION_SEGMENT = re.compile(r"^v\d+(?:(?:alpha|beta)\d*)?$")


class Provider(Protocol):
    """One backend (the Gemini Developer API or Vertex AI); the wire format is the same for both."""

    @property
    def name(self) -> str:
        """ "gemini" or "vertex_ai"."""
        ...

    @property
    def extra_headers(self) -> Mapping[str, str]:
        """Headers the caller asked to add to every request (they win over ours)."""
        ...

    def url(self, model: str, method: str, *, stream: bool = False) -> str:
        """The full URL of ``method`` on ``model``; streams get `?alt=sse`."""
        ...

    def cached_contents_url(self) -> str:
        """The URL of the cachedContents collection (context caches)."""
        ...

    def cached_model_name(self, model: str) -> str:
        """``model`` as a context cache names it."""
        ...

    async def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a request (may fetch a token without blocking)."""
        ...

    def auth_headers_sync(self) -> dict[str, str]:
        """The same headers, fetched inline for the synchronous client."""
        ...

    def adapt_request(
        self, body: Mapping[str, Any], method: str, *, model: str = ""
    ) -> dict[str, Any]:
        """``body`` with this backend's quirks applied (a new dict; ``body`` is left alone)."""
        ...


def model_id(model: str, *, provider: str) -> str:
    """The bare model id for a URL; a clear error for one that is empty or could alter the URL."""
    bare = model.strip()
    for prefix in ("publishers/google/models/", "models/"):
        bare = bare.removeprefix(prefix)
    if not _MODEL_ID.match(bare):
        raise errors.BadRequestError(
            f"{model!r} is not a model id (expected something like 'gemini-2.5-flash')",
            provider=provider,
            model=model,
        )
    return bare


def method_suffix(method: str, *, stream: bool) -> str:
    """`:{method}`, or `:streamGenerateContent?alt=sse` for a stream."""
    if stream or method == STREAM_GENERATE:
        return f":{STREAM_GENERATE}?alt=sse"
    if method not in METHODS:
        raise ValueError(f"unknown Gemini method {method!r}; expected one of {sorted(METHODS)}")
    return f":{method}"


@functools.lru_cache(maxsize=256)
def versioned_base(api_base: str, version: str, *, provider: str) -> str:
    """``api_base`` with ``version`` appended, unless its path already ends in a version."""
    base = api_base.strip().rstrip("/")
    if not _is_http_url(base):
        raise errors.BadRequestError(
            f"api_base must be an http:// or https:// URL, got {base!r}", provider=provider
        )
    last_segment = base.rsplit("/", 1)[-1]
    if _VERSION_SEGMENT.match(last_segment) and base.count("/") > 2:
        return base
    return f"{base}/{version}"


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
