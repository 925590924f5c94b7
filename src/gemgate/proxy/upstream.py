"""Pass-through to Google: the outgoing request's headers (pure), the Gemini API mapping and the
streaming forwarder (I/O) every pass-through route shares."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from gemgate import errors
from gemgate.proxy.config import GeneralSettings
from gemgate.proxy.pass_through_metering import Metering, metering_for
from gemgate.proxy.pass_through_paths import query_without_key, upstream_url
from gemgate.proxy.state import AppState

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1: these describe one connection, not the message, so they are never relayed.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})  # fmt: skip
# The caller's credentials are for the gateway; Google gets the configured ones instead.
CALLER_CREDENTIALS = frozenset({
    "authorization", "x-goog-api-key", "x-gemgate-api-key", "x-litellm-api-key", "cookie",
    "x-goog-user-project", "cf-aig-authorization",
})  # fmt: skip
# The HTTP client derives these from the target URL and the body it sends.
_DERIVED_REQUEST_HEADERS = frozenset({"host"})
# Our server writes its own; relaying Google's would duplicate them.
_SERVER_RESPONSE_HEADERS = frozenset({"date", "server"})
# Labels for the gateway's own spend log (pass_through_spend.py); Google has no use for them.
_GATEWAY_LABELS = frozenset({"tags", "x-gemgate-end-user"})
_NOT_FORWARDED = HOP_BY_HOP | CALLER_CREDENTIALS | _DERIVED_REQUEST_HEADERS | _GATEWAY_LABELS
_NOT_RELAYED = HOP_BY_HOP | _SERVER_RESPONSE_HEADERS


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """Where and with which headers one pass-through request goes."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(repr=False)
    # Who answers, for error messages: "The Gemini API", "Vertex AI", ...
    service: str = "The Gemini API"
    # Credential values of ours in ``headers``: never relayed back, whatever Google answers.
    secrets: tuple[str, ...] = field(default=(), repr=False)


def gemini_request(
    settings: GeneralSettings,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    *,
    base_url: str | None = None,
) -> UpstreamRequest:
    """Map a caller's `/gemini{path}?{query}` request (path already checked) onto the Gemini API
    at ``base_url`` (default: the gateway's gemini_api_base), the configured key swapped in."""
    api_key = settings.gemini_api_key
    credentials = [("x-goog-api-key", api_key.get_secret_value())] if api_key else []
    return UpstreamRequest(
        method=method,
        url=upstream_url(base_url or settings.gemini_api_base, path, query),
        headers=forwarded_headers(headers, credentials),
        secrets=secrets_of(credentials),
    )


def forwarded_headers(
    headers: Iterable[tuple[str, str]], credentials: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The caller's headers minus hop-by-hop ones (and those its Connection header names) and
    its credentials, plus ``credentials``."""
    given = list(headers)
    dropped = _NOT_FORWARDED | _connection_options(given)
    kept = [(name, value) for name, value in given if name.lower() not in dropped]
    if not any(name.lower() == "accept-encoding" for name, _ in kept):
        # Bytes are relayed as they come, so ask for what the caller can read: plain bytes.
        kept.append(("accept-encoding", "identity"))
    kept.extend(credentials)
    return kept


def secrets_of(credentials: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The secret parts of credential headers: the key, or the token of `Bearer <token>`."""
    found = []
    for name, value in credentials:
        if name.lower() in ("authorization", "x-goog-api-key"):
            scheme, _, token = value.partition(" ")
            found.append(token.strip() if token and scheme.lower() == "bearer" else value.strip())
    return tuple(secret for secret in found if secret)


def _connection_options(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    # RFC 9110 §7.6.1: headers named in Connection describe this hop only.
    return frozenset(
        option.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for option in value.split(",")
        if option.strip()
    )


def has_body(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether the caller sent a request body (RFC 9112 §6.3: length or chunked)."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "transfer-encoding" or (lowered == "content-length" and value.strip() != "0"):
            return True
    return False


def relayed_headers(
    headers: Iterable[tuple[str, str]], secrets: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Google's response headers minus hop-by-hop ones, those our server writes itself and any
    carrying one of ``secrets``; a redirect's `key=` parameters are dropped from its URL."""
    given = list(headers)
    dropped = _NOT_RELAYED | _connection_options(given)
    relayed = []
    for name, value in given:
        lowered = name.lower()
        if lowered in dropped:
            continue
        if lowered in ("location", "content-location"):
            value = _without_key_parameter(value)
        if any(secret in value for secret in secrets):
            continue
        relayed.append((name, value))
    return relayed


def _without_key_parameter(url: str) -> str:
    before, mark, query = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = query.partition("#")
    kept = query_without_key(query)
    return before + (f"?{kept}" if kept else "") + hash_mark + fragment


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    outgoing: UpstreamRequest,
    *,
    timeout: float,
    metering: Metering | None = None,
) -> web.StreamResponse:
    """Send ``outgoing`` with the caller's body streamed; the answer is streamed back as it is
    (and metered on the way when ``metering`` is given)."""
    body = request.content if has_body(request.headers.items()) else None
    host = urlsplit(outgoing.url).netloc
    try:
        upstream = await session.request(
            outgoing.method, outgoing.url, headers=outgoing.headers, data=body,
            allow_redirects=False, auto_decompress=False, timeout=_timeout(timeout),
        )  # fmt: skip
    except TimeoutError as error:
        logger.warning("upstream %s timed out", host)
        raise errors.Timeout(f"{outgoing.service} did not answer in time.") from error
    except (aiohttp.ClientError, OSError) as error:
        logger.warning("upstream %s unreachable (%s)", host, type(error).__name__)
        raise errors.APIConnectionError(f"{outgoing.service} could not be reached.") from error
    try:
        return await _relay(request, upstream, outgoing, metering)
    finally:
        upstream.close()


WHOLE_ANSWER_LIMIT = 1 << 20  # bytes; larger answers stream through as they come


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    # Streams may run long: the limit is on connecting and on each wait for more bytes.
    return aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, seconds), sock_read=seconds)


async def _relay(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    outgoing: UpstreamRequest,
    metering: Metering | None,
) -> web.StreamResponse:
    if metering is not None:
        metering.watch(upstream.headers)
    if _is_small_whole_answer(request, upstream):
        return await _relay_whole(request, upstream, outgoing, metering)
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    for name, value in relayed_headers(upstream.headers.items(), outgoing.secrets):
        response.headers.add(name, value)
    await response.prepare(request)
    # With a Content-Length the caller has the whole answer with its last byte, before our end
    # of body: the spend is recorded just before that byte is written.
    remaining = upstream.content_length
    try:
        async for chunk in upstream.content.iter_any():
            if metering is not None:
                metering.feed(chunk)
                if remaining is not None and len(chunk) >= remaining:
                    await metering.settle(request, upstream.status)
                    metering = None
            if remaining is not None:
                remaining -= len(chunk)
            await response.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as error:
        logger.warning("upstream stream broke off (%s)", type(error).__name__)
        if not _is_plain_event_stream(upstream):
            # An unfinished body makes the server drop the connection, so the caller sees a
            # truncated body instead of one that looks complete.
            raise _BrokenRelay() from error
        await response.write(_broken_stream_event(outgoing.service))
    if metering is not None:
        await metering.settle(request, upstream.status)
    await response.write_eof()
    return response


def _is_small_whole_answer(request: web.Request, upstream: aiohttp.ClientResponse) -> bool:
    # A sized answer that is not a stream (generateContent's JSON, an error) is read whole and
    # answered in one write: a third of the relay's work for the commonest call.
    length = upstream.content_length
    return (
        length is not None
        and length <= WHOLE_ANSWER_LIMIT
        and request.method != "HEAD"
        and not upstream.headers.get("content-type", "").startswith("text/event-stream")
    )


async def _relay_whole(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    outgoing: UpstreamRequest,
    metering: Metering | None,
) -> web.Response:
    try:
        body = await upstream.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        # Nothing has been sent yet: the caller gets a clean error instead of a cut body.
        logger.warning("upstream answer broke off (%s)", type(error).__name__)
        raise errors.APIConnectionError(f"{outgoing.service} answer broke off.") from error
    if metering is not None:
        metering.feed(body)
        await metering.settle(request, upstream.status)  # before the caller has any of it
    response = web.Response(body=body, status=upstream.status, reason=upstream.reason)
    for name, value in relayed_headers(upstream.headers.items(), outgoing.secrets):
        if name.lower() != "content-length":  # written by the server for the body it sends
            response.headers.add(name, value)
    return response


class _BrokenRelay(Exception):
    """The relayed body broke off; the connection to the caller is dropped."""


def _is_plain_event_stream(upstream: aiohttp.ClientResponse) -> bool:
    content_type = upstream.headers.get("content-type", "")
    encoding = upstream.headers.get("content-encoding", "identity")
    return content_type.startswith("text/event-stream") and encoding == "identity"


def _broken_stream_event(service: str) -> bytes:
    """An in-stream error as Google sends one (both SDKs raise on an `error` event)."""
    error = {
        "error": {
            "code": 502,
            "message": f"{service} stream broke off.",
            "status": "UNAVAILABLE",
        }
    }
    return b"data: " + orjson.dumps(error) + b"\r\n\r\n"


async def relay_to_gemini(request: web.Request, state: AppState, path: str) -> web.StreamResponse:
    """Pass ``request`` through to ``path`` (checked) of the Gemini API, its key swapped in."""
    settings = state.config.general_settings
    outgoing = gemini_request(
        settings, request.method, path, request.query_string, request.headers.items(),
        base_url=state.config.pass_through.gemini.base_url,
    )  # fmt: skip
    metering = await metering_for(request, state, "gemini", path)
    return await forward(
        request, state.session, outgoing, timeout=settings.request_timeout, metering=metering
    )
