"""Pass-through to Google: the upstream URL and headers (pure) and the streaming forwarder (I/O)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit

import aiohttp
import orjson
from aiohttp import web

from gemgate import errors
from gemgate.proxy.config import GeneralSettings
from gemgate.proxy.state import AppState

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1: these describe one connection, not the message, so they are never relayed.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})  # fmt: skip
# The caller's credentials are for the gateway; Google gets the configured key instead.
CALLER_CREDENTIALS = frozenset({
    "authorization", "x-goog-api-key", "x-gemgate-api-key", "x-litellm-api-key", "cookie",
})  # fmt: skip
# The HTTP client derives these from the target URL and the body it sends.
_DERIVED_REQUEST_HEADERS = frozenset({"host"})
# Our server writes its own; relaying Google's would duplicate them.
_SERVER_RESPONSE_HEADERS = frozenset({"date", "server"})
_NOT_FORWARDED = HOP_BY_HOP | CALLER_CREDENTIALS | _DERIVED_REQUEST_HEADERS
_NOT_RELAYED = HOP_BY_HOP | _SERVER_RESPONSE_HEADERS


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """Where and with which headers one pass-through request goes."""

    method: str
    url: str
    headers: list[tuple[str, str]]


def gemini_request(
    settings: GeneralSettings,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
) -> UpstreamRequest:
    """Map a caller's `/gemini{path}?{query}` request onto the configured Gemini API."""
    api_key = settings.gemini_api_key
    return UpstreamRequest(
        method=method,
        url=target_url(settings.gemini_api_base, path, query),
        headers=forwarded_headers(headers, api_key.get_secret_value() if api_key else None),
    )


def target_url(api_base: str, path: str, query: str) -> str:
    """``api_base`` + ``path`` with the query minus any `key=` (the key goes in a header)."""
    kept = query_without_key(query)
    return f"{api_base.rstrip('/')}/{path.lstrip('/')}" + (f"?{kept}" if kept else "")


def query_without_key(query: str) -> str:
    """The raw query string without `key` parameters; the others keep their order and spelling."""
    pairs = [pair for pair in query.split("&") if pair]
    return "&".join(pair for pair in pairs if unquote_plus(pair.partition("=")[0]) != "key")


def forwarded_headers(
    headers: Iterable[tuple[str, str]], api_key: str | None
) -> list[tuple[str, str]]:
    """The caller's headers minus hop-by-hop and credentials, plus the real key if there is one."""
    kept = [(name, value) for name, value in headers if name.lower() not in _NOT_FORWARDED]
    if not any(name.lower() == "accept-encoding" for name, _ in kept):
        # Bytes are relayed as they come, so ask for what the caller can read: plain bytes.
        kept.append(("accept-encoding", "identity"))
    if api_key:
        kept.append(("x-goog-api-key", api_key))
    return kept


def has_body(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether the caller sent a request body (RFC 9112 §6.3: length or chunked)."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "transfer-encoding" or (lowered == "content-length" and value.strip() != "0"):
            return True
    return False


def relayed_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Google's response headers minus hop-by-hop ones and those our server writes itself."""
    return [(name, value) for name, value in headers if name.lower() not in _NOT_RELAYED]


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    outgoing: UpstreamRequest,
    *,
    timeout: float,
) -> web.StreamResponse:
    """Send ``outgoing`` with the caller's body streamed; the answer is streamed back as it is."""
    body = request.content if has_body(request.headers.items()) else None
    host = urlsplit(outgoing.url).netloc
    try:
        upstream = await session.request(
            outgoing.method, outgoing.url, headers=outgoing.headers, data=body,
            allow_redirects=False, auto_decompress=False, timeout=_timeout(timeout),
        )  # fmt: skip
    except TimeoutError as error:
        logger.warning("upstream %s timed out", host)
        raise errors.Timeout("The Gemini API did not answer in time.") from error
    except (aiohttp.ClientError, OSError) as error:
        logger.warning("upstream %s unreachable (%s)", host, type(error).__name__)
        raise errors.APIConnectionError("The Gemini API could not be reached.") from error
    try:
        return await _relay(request, upstream)
    finally:
        upstream.close()


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    # Streams may run long: the limit is on connecting and on each wait for more bytes.
    return aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, seconds), sock_read=seconds)


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    for name, value in relayed_headers(upstream.headers.items()):
        response.headers.add(name, value)
    await response.prepare(request)
    try:
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as error:
        logger.warning("upstream stream broke off (%s)", type(error).__name__)
        if not _is_plain_event_stream(upstream):
            # An unfinished body makes the server drop the connection, so the caller sees a
            # truncated body instead of one that looks complete.
            raise _BrokenRelay() from error
        await response.write(_broken_stream_event())
    await response.write_eof()
    return response


class _BrokenRelay(Exception):
    """The relayed body broke off; the connection to the caller is dropped."""


def _is_plain_event_stream(upstream: aiohttp.ClientResponse) -> bool:
    content_type = upstream.headers.get("content-type", "")
    encoding = upstream.headers.get("content-encoding", "identity")
    return content_type.startswith("text/event-stream") and encoding == "identity"


def _broken_stream_event() -> bytes:
    """An in-stream error as Google sends one (both SDKs raise on an `error` event)."""
    error = {
        "error": {
            "code": 502,
            "message": "The Gemini API stream broke off.",
            "status": "UNAVAILABLE",
        }
    }
    return b"data: " + orjson.dumps(error) + b"\r\n\r\n"


async def relay_to_gemini(request: web.Request, state: AppState, path: str) -> web.StreamResponse:
    """Pass ``request`` through to ``path`` of the configured Gemini API, its key swapped in."""
    settings = state.config.general_settings
    outgoing = gemini_request(
        settings, request.method, path, request.query_string, request.headers.items()
    )
    return await forward(request, state.session, outgoing, timeout=settings.request_timeout)
