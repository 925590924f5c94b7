"""The Live API sockets (BidiGenerateContent) of the Developer API and Vertex AI.

Errors close the socket as Google does, with the status mapped to a close code: INVALID_ARGUMENT
and FAILED_PRECONDITION → 1007, NOT_FOUND, PERMISSION_DENIED and UNAUTHENTICATED → 1008, anything
else → 1011; the reason is Google's message cut to the 123 bytes a close frame can carry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gemgate.emulator import schema
from gemgate.emulator.auth import MISSING_KEY, require_api_key, require_bearer
from gemgate.emulator.bodies import camel_case
from gemgate.emulator.faults import HEADER as FAULT_HEADER
from gemgate.emulator.google_errors import GoogleApiError, invalid_argument
from gemgate.emulator.live_session import Backend, LiveSession, Outcome, open_session
from gemgate.emulator.state import EmulatorState, RecordedRequest, state_of

logger = logging.getLogger(__name__)

Authorise = Callable[[HTTPConnection, EmulatorState], str]

DEVELOPER_VERSIONS = ("v1", "v1beta", "v1alpha")
VERTEX_VERSIONS = ("v1", "v1beta1")
# Google's words for a message it cannot take at this point (e.g. a second setup).
INVALID_REQUEST = "Request contains an invalid argument."
INTERNAL = "Internal error encountered."
_CLOSE_CODES = {"INVALID_ARGUMENT": 1007, "FAILED_PRECONDITION": 1007, "OUT_OF_RANGE": 1007,
                "NOT_FOUND": 1008, "PERMISSION_DENIED": 1008, "UNAUTHENTICATED": 1008,
                "UNIMPLEMENTED": 1008}  # fmt: skip
_MAX_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes
_KINDS = frozenset({"setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate"})


def require_ephemeral_token(connection: HTTPConnection, state: EmulatorState) -> str:
    """Auth of BidiGenerateContentConstrained: `?access_token=` or `Authorization: Token …`.

    The emulator issues no ephemeral tokens, so it checks them as it checks API keys: any
    non-empty token when no keys are configured, else only a token listed among the keys.
    """
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    token = connection.query_params.get("access_token") or (
        value.strip() if scheme.lower() == "token" else ""
    )
    if not token:
        raise GoogleApiError("PERMISSION_DENIED", MISSING_KEY)
    allowed = state.settings.api_keys
    if allowed is not None and token not in allowed:
        raise invalid_argument("Ephemeral token not valid. Please pass a valid token.")
    return token


def _endpoint(backend: Backend, authorise: Authorise) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        await _serve(websocket, backend, authorise)

    return endpoint


def _routes() -> list[BaseRoute]:
    developer = "/ws/google.ai.generativelanguage.{}.GenerativeService.{}"
    vertex = "/ws/google.cloud.aiplatform.{}.LlmBidiService/BidiGenerateContent"
    routes: list[BaseRoute] = [
        WebSocketRoute(developer.format(version, "BidiGenerateContent"),
                       _endpoint(Backend(is_vertex=False, version=version), require_api_key))
        for version in DEVELOPER_VERSIONS
    ]  # fmt: skip
    routes.append(
        WebSocketRoute(developer.format("v1alpha", "BidiGenerateContentConstrained"),
                       _endpoint(Backend(is_vertex=False, version="v1alpha"), require_ephemeral_token))
    )  # fmt: skip
    routes.extend(
        WebSocketRoute(vertex.format(version), _endpoint(Backend(is_vertex=True, version=version), require_bearer))
        for version in VERTEX_VERSIONS
    )  # fmt: skip
    return routes


async def _serve(websocket: WebSocket, backend: Backend, authorise: Authorise) -> None:
    await websocket.accept()
    try:
        await _converse(websocket, backend, authorise)
    except GoogleApiError as error:
        await _close(websocket, _CLOSE_CODES.get(error.status, 1011), error.message)
    except WebSocketDisconnect:
        return
    except Exception:  # the socket's own boundary: log it and close as Google does
        logger.exception("live session on %s failed", websocket.url.path)
        await _close(websocket, 1011, INTERNAL)


async def _converse(websocket: WebSocket, backend: Backend, authorise: Authorise) -> None:
    state = state_of(websocket)
    frame = await _receive_frame(websocket)
    # Credentials are judged when the setup arrives: clients then read the close reason in
    # place of setupComplete, as Google's "closed during setup" errors show.
    authorise(websocket, state)
    kind, setup = _read_message(frame, websocket, state, backend)
    if kind != "setup":
        raise invalid_argument(INVALID_REQUEST)
    session = open_session(setup, backend, state.settings,
                           fault_header=websocket.headers.get(FAULT_HEADER))  # fmt: skip
    await _send(websocket, {"setupComplete": {}})
    await _converse_after_setup(websocket, state, backend, session)


async def _converse_after_setup(websocket: WebSocket, state: EmulatorState, backend: Backend,
                                session: LiveSession) -> None:  # fmt: skip
    while True:
        kind, body = _read_message(await _receive_frame(websocket), websocket, state, backend)
        if kind == "setup":
            raise invalid_argument(INVALID_REQUEST)  # exactly one setup per session
        await _deliver(websocket, session.handle(kind, body), state)


async def _receive_frame(websocket: WebSocket) -> str | bytes:
    """The next text or binary frame (Google takes JSON in either)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if text is not None else bytes(message.get("bytes") or b"")


def _read_message(frame: str | bytes, websocket: WebSocket, state: EmulatorState,
                  backend: Backend) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """Parse, record and check one client message; return its kind and camelCase body."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as error:
        _record(websocket, state, frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame)  # fmt: skip
        raise invalid_argument(f"Invalid JSON payload received. Unexpected token.\n{error.msg} "
                               f"(line {error.lineno}, column {error.colno})") from error  # fmt: skip
    _record(websocket, state, message)
    if state.settings.strict_schema and schema.is_available():
        extras = _VERTEX_EXTRAS if backend.is_vertex else _DEVELOPER_EXTRAS
        schema.check_message(schema.descriptor("BidiGenerateContentClientMessage"), message,
                             extras=extras)  # fmt: skip
    if not isinstance(message, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    normalised = camel_case(message)
    if len(normalised) != 1 or next(iter(normalised)) not in _KINDS:
        raise invalid_argument(INVALID_REQUEST)
    kind, body = next(iter(normalised.items()))
    if not isinstance(body, dict):
        raise invalid_argument(INVALID_REQUEST)
    return kind, body


def _record(websocket: WebSocket, state: EmulatorState, body: Any) -> None:
    state.record(RecordedRequest(method="WEBSOCKET", path=websocket.url.path,
                                 query=websocket.url.query, headers=dict(websocket.headers),
                                 body=body))  # fmt: skip


async def _deliver(websocket: WebSocket, outcome: Outcome, state: EmulatorState) -> None:
    """Send a turn's messages, with the latency, pauses or breakage its fault asks for."""
    fault = outcome.fault
    delay = fault.latency_ms / 1000 + min(
        fault.hang_seconds or 0.0, state.settings.max_hang_seconds
    )
    if delay and outcome.messages:
        await asyncio.sleep(delay)
    for index, message in enumerate(outcome.messages):
        if fault.break_after is not None and index >= fault.break_after:
            raise GoogleApiError("INTERNAL", INTERNAL)
        if index and fault.chunk_delay_ms:
            await asyncio.sleep(fault.chunk_delay_ms / 1000)
        await _send(websocket, message)


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    # Google sends its JSON in binary frames; browsers see them as Blobs.
    await websocket.send_bytes(orjson.dumps(message))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    cut = reason.encode()[:_MAX_REASON_BYTES].decode("utf-8", "ignore")
    try:
        await websocket.close(code=code, reason=cut)
    except (WebSocketDisconnect, RuntimeError):
        logger.debug("live socket %s was gone before it could be closed", websocket.url.path)


def _live_extras(base: Mapping[str, schema.ExtraCheck], *, is_vertex: bool) -> dict[str, schema.ExtraCheck]:  # fmt: skip
    """Live fields Google serves (SDK 3.x sends them) that the 0.12.1 descriptors lack."""
    extras: dict[str, schema.ExtraCheck] = dict(base)
    table: dict[str, schema.ExtraCheck] = {
        "BidiGenerateContentClientMessage.contextUpdate": schema.OBJECT,
        "BidiGenerateContentSetup.proactivity": schema.OBJECT,
        "BidiGenerateContentSetup.historyConfig": schema.OBJECT,
        "BidiGenerateContentSetup.avatarConfig": schema.OBJECT,
        "BidiGenerateContentSetup.safetySettings": schema.repeated_messages("SafetySetting", extras),
        "GenerationConfig.enableAffectiveDialog": schema.BOOL,
        "GenerationConfig.translationConfig": schema.OBJECT,
        "AudioTranscriptionConfig.languageCodes": schema.string_list,
        "RealtimeInputConfig.interimTranscriptTimestampEnabled": schema.BOOL,
    }  # fmt: skip
    if is_vertex:
        table["BidiGenerateContentSetup.explicitVadSignal"] = schema.BOOL
        table["SessionResumptionConfig.transparent"] = schema.BOOL
    else:
        table["BidiGenerateContentSetup.labels"] = schema.string_map
    extras.update(schema.both_spellings(table))
    return extras


_DEVELOPER_EXTRAS = _live_extras(schema.DEVELOPER_EXTENSIONS, is_vertex=False)
_VERTEX_EXTRAS = _live_extras(schema.VERTEX_EXTENSIONS, is_vertex=True)
ROUTES: list[BaseRoute] = _routes()
