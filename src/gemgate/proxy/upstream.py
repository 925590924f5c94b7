"""Pass-through to Google: the upstream URL and headers (pure) and the streaming forwarder (I/O)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import unquote_plus

import httpx
import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gemgate.proxy.config import GeneralSettings

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
# httpx derives these from the target URL and the body it sends.
_DERIVED_REQUEST_HEADERS = frozenset({"host"})
# Our server writes its own; relaying Google's would duplicate them.
_SERVER_RESPONSE_HEADERS = frozenset({"date", "server"})
_NOT_FORWARDED = HOP_BY_HOP | CALLER_CREDENTIALS | _DERIVED_REQUEST_HEADERS
_NOT_RELAYED = HOP_BY_HOP | _SERVER_RESPONSE_HEADERS


class UpstreamFailure(Exception):
    """Google could not be asked: the request never got an HTTP answer."""

    http_status = 502
    google_status = "UNAVAILABLE"


class UpstreamUnreachable(UpstreamFailure):
    """Connecting to or talking with the upstream failed."""


class UpstreamTimedOut(UpstreamFailure):
    """The upstream did not answer in time."""

    http_status = 504
    google_status = "DEADLINE_EXCEEDED"


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


def upstream_client(settings: GeneralSettings) -> httpx.AsyncClient:
    """The one pooled client of the process; made in the app lifespan, closed with it."""
    timeout = httpx.Timeout(settings.request_timeout, connect=min(10.0, settings.request_timeout))
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


async def forward(
    client: httpx.AsyncClient, outgoing: UpstreamRequest, body: AsyncIterator[bytes] | None
) -> Response:
    """Send ``outgoing`` with the caller's body streamed; the answer is streamed back as it is."""
    request = client.build_request(
        outgoing.method, outgoing.url, headers=outgoing.headers, content=body
    )
    try:
        upstream = await client.send(request, stream=True)
    except ClientDisconnect:
        # The caller left while its body was being relayed; nobody is there to answer.
        logger.debug("caller left before sending its whole body to %s", request.url.host)
        return Response(status_code=499)
    except httpx.TimeoutException as error:
        logger.warning("upstream %s timed out (%s)", request.url.host, type(error).__name__)
        raise UpstreamTimedOut("The Gemini API did not answer in time.") from error
    except httpx.TransportError as error:
        logger.warning("upstream %s unreachable (%s)", request.url.host, type(error).__name__)
        raise UpstreamUnreachable("The Gemini API could not be reached.") from error
    return RelayedResponse(upstream)


class RelayedResponse(Response):
    """An upstream response streamed to the caller unchanged; closed at the end or when the caller
    leaves, whichever comes first."""

    def __init__(self, upstream: httpx.Response) -> None:
        self.upstream = upstream
        self.status_code = upstream.status_code
        self.background = None
        self.raw_headers = [
            (name.lower(), value)
            for name, value in upstream.headers.raw
            if name.lower().decode("latin-1") not in _NOT_RELAYED
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.create_task(self._relay(send))
        caller_left = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((relay, caller_left), return_when=asyncio.FIRST_COMPLETED)
        finally:
            relay.cancel()
            caller_left.cancel()
            await asyncio.gather(relay, caller_left, return_exceptions=True)
            await self.upstream.aclose()
        failure = None if relay.cancelled() else relay.exception()
        if failure is not None:
            raise failure

    async def _relay(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self.upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.TransportError as error:
            logger.warning("upstream stream broke off (%s)", type(error).__name__)
            if not self._is_plain_event_stream():
                # Leaving the response unfinished makes the server drop the connection, so the
                # caller sees a truncated body instead of one that looks complete.
                return
            await send(
                {"type": "http.response.body", "body": _broken_stream_event(), "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _is_plain_event_stream(self) -> bool:
        content_type: str = self.upstream.headers.get("content-type", "")
        encoding: str = self.upstream.headers.get("content-encoding", "identity")
        return content_type.startswith("text/event-stream") and encoding == "identity"


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _broken_stream_event() -> bytes:
    """An in-stream error as Google sends one (both SDKs raise on an `error` event)."""
    error = {
        "error": {
            "code": UpstreamUnreachable.http_status,
            "message": "The Gemini API stream broke off.",
            "status": UpstreamUnreachable.google_status,
        }
    }
    return b"data: " + orjson.dumps(error) + b"\r\n\r\n"
