"""The Live API relay: a caller's WebSocket bridged to Google's Live socket, the setup admitted,
frames passed both ways as they come, close codes passed on, and the session billed at its end."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiohttp import WSMsgType, web

from gemgate import errors
from gemgate.proxy.live_billing import (
    CALLER_GONE,
    LiveRefusal,
    LiveSession,
    SessionEnd,
    admit_setup,
    session_end,
    settle,
)
from gemgate.proxy.live_messages import LiveUsageTally, ModelNaming
from gemgate.proxy.state import AppState
from gemgate.proxy.upstream import CALLER_CREDENTIALS, HOP_BY_HOP

logger = logging.getLogger(__name__)

# Live messages are small audio chunks and video frames; the cap bounds what one message may
# hold in memory (aiohttp buffers a whole message), four times aiohttp's default.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Sessions are idle while a user is silent, so only the handshake has a deadline.
HANDSHAKE_SECONDS = 30.0
CLOSE_SECONDS = 10.0
# Pings notice a peer that vanished without closing (a laptop lid, a dropped network).
HEARTBEAT_SECONDS = 30.0
_MAX_REASON_BYTES = 123  # RFC 6455 §5.5: a control frame's payload is at most 125 bytes
_NORMAL, _GOING_AWAY, _INTERNAL_ERROR = 1000, 1001, 1011
# The handshake headers belong to each hop; the client library writes its own.
_NOT_FORWARDED = HOP_BY_HOP | CALLER_CREDENTIALS | {"host", "origin", "content-length"}
_DATA_TYPES = (WSMsgType.TEXT, WSMsgType.BINARY)


@dataclass(frozen=True, slots=True)
class LiveUpstream:
    """Where one Live session goes: the socket URL, the headers it needs, how setup names the
    model, and ``api`` ("gemini" or "vertex_ai", the deployment label of its metrics)."""

    api: str
    url: str
    headers: list[tuple[str, str]]
    naming: ModelNaming


def websocket_base(http_base: str) -> str:
    """``http_base`` with its scheme as a WebSocket's: https → wss, http → ws."""
    scheme, separator, rest = http_base.rstrip("/").partition("://")
    secure = {"https": "wss", "http": "ws"}
    return f"{secure.get(scheme.lower(), scheme)}{separator}{rest}"


def forwarded_live_headers(
    headers: Iterable[tuple[str, str]], credentials: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The caller's headers minus credentials and handshake headers, plus Google's credentials."""
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in _NOT_FORWARDED and not name.lower().startswith("sec-websocket-")
    ]
    return [*kept, *credentials]


@dataclass(frozen=True, slots=True)
class Closure:
    """How one side ended the session: its close code (1006: no close frame) and reason."""

    code: int
    reason: str
    by_caller: bool


def sendable_close(closure: Closure) -> tuple[int, str]:
    """The code and reason to pass on to the other side (RFC 6455 §7.4 forbids sending some).

    No code (0/1005) becomes a normal close; a caller that vanished is "going away"; Google
    vanishing or sending a code nobody may send is an internal error.
    """
    code, reason = closure.code, cut_reason(closure.reason)
    if _may_send(code):
        return code, reason
    if code in (0, 1005):
        return _NORMAL, reason
    if closure.by_caller:
        return _GOING_AWAY, ""
    return _INTERNAL_ERROR, reason or "The Live API connection broke off."


def _may_send(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def cut_reason(reason: str) -> str:
    """``reason`` cut to the 123 bytes a close frame can carry, never inside a character."""
    return reason.encode()[:_MAX_REASON_BYTES].decode("utf-8", "ignore")


def close_code_for_status(status: int) -> int:
    """The close code for an HTTP status, as Google maps its own errors onto Live sockets."""
    if status == 400:
        return 1007
    if status in (401, 403, 404):
        return 1008
    if status in (429, 503):
        return 1013  # Try Again Later
    return _INTERNAL_ERROR


def require_websocket(request: web.Request) -> None:
    """Refuse a plain request on a Live route: 426, the caller must upgrade."""
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise errors.BadRequestError(
            "This is a Live API WebSocket: connect with a WebSocket client.", status_code=426
        )


async def refuse_live(request: web.Request, code: int, reason: str) -> web.WebSocketResponse:
    """Accept the caller's socket and close it at once (browsers read only close frames)."""
    caller = web.WebSocketResponse()
    await caller.prepare(request)
    await caller.close(code=code, message=cut_reason(reason).encode())
    return caller


async def relay_live(
    request: web.Request, state: AppState, upstream: LiveUpstream
) -> web.WebSocketResponse:
    """Open ``upstream``, admit the caller's setup, relay frames both ways until either side
    closes, then bill the session."""
    started, tally = time.perf_counter(), LiveUsageTally(at=datetime.now(UTC))
    deadline = min(HANDSHAKE_SECONDS, state.config.general_settings.request_timeout)
    try:
        google = await _connect(state.session, upstream, deadline)
    except _Unreachable as failure:
        logger.warning("Live socket %s not opened: %s", upstream.api, failure.reason)
        return await refuse_live(request, failure.code, failure.reason)
    # No permessage-deflate: audio gains little from it, and the relay would pay for every frame.
    caller = web.WebSocketResponse(autoclose=False, compress=False,
                                   max_msg_size=MAX_MESSAGE_BYTES, heartbeat=HEARTBEAT_SECONDS)  # fmt: skip
    session, parting = _Session(request, state, caller, google, tally), _INTERNAL_ERROR
    try:
        await caller.prepare(request)
        await _converse(session, upstream.naming)
    except asyncio.CancelledError:
        parting = _GOING_AWAY  # the caller left, or the gateway is shutting down
        raise
    except Exception:  # the socket's boundary: after the upgrade only a close frame can tell
        logger.exception("Live relay to %s failed", upstream.api)
        session.end = SessionEnd(_INTERNAL_ERROR, "gateway", 500)
    finally:
        await _close_open_sockets(caller, google, parting)
        seconds = time.perf_counter() - started
        await settle(request, state, LiveSession(upstream.api, tally, session.end, seconds))
    return caller


@dataclass(slots=True)
class _Session:
    """The two sockets of one session, what admitting and billing it needs, and how it ended
    (known before the closing handshakes, which a departing caller may cut short)."""

    request: web.Request
    state: AppState
    caller: web.WebSocketResponse
    google: aiohttp.ClientWebSocketResponse
    tally: LiveUsageTally
    end: SessionEnd = field(default_factory=lambda: SessionEnd(1006, "caller", CALLER_GONE))


async def _converse(session: _Session, naming: ModelNaming) -> None:
    """Admit and pass on the caller's setup, relay until one side closes, close the other."""
    caller, google = session.caller, session.google
    first = await caller.receive()
    if first.type not in _DATA_TYPES:
        closure = _closure_of(first, caller.close_code, by_caller=True)
    else:
        try:
            setup = await admit_setup(session.request, session.state, first.data, naming, session.tally)  # fmt: skip
        except LiveRefusal as refusal:
            logger.info("Live session refused at its setup: %s", cut_reason(refusal.reason))
            session.end = refusal.end
            await google.close(code=_NORMAL)
            await caller.close(code=refusal.end.code, message=cut_reason(refusal.reason).encode())
            return
        closure = await _relay_from(setup, caller, google, session.tally)
    session.end = session_end(closure.code, by_caller=closure.by_caller)
    await _close_both(caller, google, closure)


async def _relay_from(
    setup: str | bytes,
    caller: web.WebSocketResponse,
    google: aiohttp.ClientWebSocketResponse,
    tally: LiveUsageTally,
) -> Closure:
    """Send the admitted setup, then relay both ways until one side closes."""
    if not await _send(google, setup):
        return Closure(1006, "", by_caller=False)
    return await _pump_both_ways(caller, google, tally)


async def _close_open_sockets(
    caller: web.WebSocketResponse, google: aiohttp.ClientWebSocketResponse, code: int
) -> None:
    """Close what is still open: only when cancelled or after a failure of the relay itself."""
    if not google.closed:
        await google.close(code=_GOING_AWAY)
    if caller.prepared and not caller.closed:
        await caller.close(code=code)


class _Unreachable(Exception):
    """The upstream socket could not be opened; ``code`` and ``reason`` go to the caller."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _connect(
    session: aiohttp.ClientSession, upstream: LiveUpstream, deadline: float
) -> aiohttp.ClientWebSocketResponse:
    try:
        async with asyncio.timeout(deadline):
            return await session.ws_connect(
                upstream.url, headers=upstream.headers, autoclose=False,
                max_msg_size=MAX_MESSAGE_BYTES, heartbeat=HEARTBEAT_SECONDS,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_SECONDS),
            )  # fmt: skip
    except aiohttp.WSServerHandshakeError as error:
        reason = f"The Live API refused the connection (HTTP {error.status})."
        raise _Unreachable(close_code_for_status(error.status), reason) from error
    except TimeoutError as error:
        raise _Unreachable(_INTERNAL_ERROR, "The Live API did not answer in time.") from error
    except (aiohttp.ClientError, OSError) as error:
        raise _Unreachable(_INTERNAL_ERROR, "The Live API could not be reached.") from error


async def _pump_both_ways(
    caller: web.WebSocketResponse, google: aiohttp.ClientWebSocketResponse, tally: LiveUsageTally
) -> Closure:
    """Run both pumps until one side closes; the other pump is then stopped."""
    async with asyncio.TaskGroup() as group:
        upward = group.create_task(_caller_to_google(caller, google))
        downward = group.create_task(_google_to_caller(google, caller, tally))
        done, pending = await asyncio.wait((upward, downward), return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    return next(iter(done)).result()


async def _caller_to_google(
    caller: web.WebSocketResponse, google: aiohttp.ClientWebSocketResponse
) -> Closure:
    while True:
        message = await caller.receive()
        if message.type not in _DATA_TYPES:
            return _closure_of(message, caller.close_code, by_caller=True)
        if not await _send(google, message.data):
            return Closure(1006, "", by_caller=False)


async def _google_to_caller(
    google: aiohttp.ClientWebSocketResponse, caller: web.WebSocketResponse, tally: LiveUsageTally
) -> Closure:
    while True:
        message = await google.receive()
        if message.type not in _DATA_TYPES:
            return _closure_of(message, google.close_code, by_caller=False)
        tally.observe(message.data)
        if not await _send(caller, message.data):
            return Closure(1006, "", by_caller=True)


async def _send(
    socket: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, frame: str | bytes
) -> bool:
    """Send one frame, waiting while the peer is slow; False when the peer is gone."""
    try:
        if isinstance(frame, str):
            await socket.send_str(frame)
        else:
            await socket.send_bytes(frame)
    except (ConnectionError, aiohttp.ClientError):
        return False
    return True


def _closure_of(message: aiohttp.WSMessage, close_code: int | None, *, by_caller: bool) -> Closure:
    if message.type is WSMsgType.CLOSE:
        return Closure(int(message.data), str(message.extra or ""), by_caller)
    # CLOSING, CLOSED or ERROR: the connection ended without a close frame of its own.
    code = close_code if close_code is not None and message.type is WSMsgType.ERROR else 1006
    return Closure(code, "", by_caller)


async def _close_both(
    caller: web.WebSocketResponse, google: aiohttp.ClientWebSocketResponse, closure: Closure
) -> None:
    """Answer the side that closed, then close the other with its code and reason."""
    code, reason = sendable_close(closure)
    first, second = (caller, google) if closure.by_caller else (google, caller)
    echo = closure.code if _may_send(closure.code) else _NORMAL
    await first.close(code=echo, message=cut_reason(closure.reason).encode())
    await second.close(code=code, message=reason.encode())
