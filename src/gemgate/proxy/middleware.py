"""The one middleware every request passes: request id, master-key check, error rendering in the
caller's API shape, metrics and the access log."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import SQLAlchemyError

from gemgate import errors
from gemgate.proxy.access_log import log_access, new_request_id, request_id_of
from gemgate.proxy.auth import GOOGLE_KEY_HEADER, KEY_QUERY_PARAM, gateway_key
from gemgate.proxy.callers import ANONYMOUS, identify
from gemgate.proxy.error_handlers import Surface, error_for_http_exception, error_response
from gemgate.proxy.ledger import Charge, charge
from gemgate.proxy.state import (
    CALLER,
    GATEWAY_REQUEST_ID,
    MODEL,
    REQUEST_ID,
    STARTED_AT,
    STATE,
    AppState,
)

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("gemgate.access")

# Probes and scrapes answer without a key: they carry no model traffic.
OPEN_PATHS = frozenset({"/health/liveliness", "/health/readiness", "/metrics"})
# Sent by Google's SDKs (google-genai sends both), never by OpenAI's.
GOOGLE_CALLER_HEADERS = (GOOGLE_KEY_HEADER, "x-goog-api-client")
# The hosted-gateway shape's Gemini API segment (proxy/routes/cloudflare.py).
HOSTED_GOOGLE_SEGMENT = "google-ai-studio"
# A caller that leaves before the answer (nginx's convention; never sent on the wire).
CLIENT_CLOSED = 499


def surface_of(request: web.Request) -> Surface:
    """The API a request speaks: Google's under /gemini, /v1beta and the model verbs; else OpenAI."""
    path = request.path
    if path.startswith(("/gemini/", "/v1beta/", "/v1alpha/", "/vertex_ai/", "/vertex-ai/")):
        return Surface.GOOGLE
    if path.startswith("/v1/") and path.split("/", 5)[4:5] == [HOSTED_GOOGLE_SEGMENT]:
        return Surface.GOOGLE  # /v1/{account}/{gateway}/google-ai-studio/…
    if path.startswith("/v1/models/") and ":" in path:
        return Surface.GOOGLE
    # GET /v1/models[/m] is both APIs' model list; Google's clients send its key header or ?key=.
    if path.startswith("/v1/models") and _is_google_caller(request):
        return Surface.GOOGLE
    return Surface.OPENAI


def _is_google_caller(request: web.Request) -> bool:
    headers = request.headers
    return (
        any(name in headers for name in GOOGLE_CALLER_HEADERS) or KEY_QUERY_PARAM in request.query
    )


def by_surface(*, google: Handler, openai: Handler) -> Handler:
    """A handler for a path both APIs share, answering in the API the caller speaks."""

    async def handle(request: web.Request) -> web.StreamResponse:
        handler = google if surface_of(request) is Surface.GOOGLE else openai
        return await handler(request)

    return handle


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run ``handler`` with auth, error rendering, metrics and logging around it."""
    state = request.app[STATE]
    started = time.perf_counter()
    request[GATEWAY_REQUEST_ID] = own = new_request_id()
    request[REQUEST_ID] = request_id_of(request.headers.get("x-request-id"), own)
    request[STARTED_AT] = datetime.now(UTC)
    status = 500
    try:
        response = await _answer(request, handler, state)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        _observe(request, state, status, time.perf_counter() - started)


async def _answer(request: web.Request, handler: Handler, state: AppState) -> web.StreamResponse:
    try:
        await _authenticate(request, state)
        response: web.StreamResponse = await handler(request)
        return response
    except errors.GemgateError as error:
        await _charge_failure(request, state, error.status_code)
        return error_response(error, surface_of(request))
    except web.HTTPException as exception:
        if exception.status < 400:
            raise
        return error_response(
            error_for_http_exception(exception, request.path), surface_of(request)
        )
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except (SQLAlchemyError, OSError) as error:
        # Admin routes (keys, teams, spend) use the database directly (model routes never wait on
        # it); its drivers raise their connection failures as OSError. Upstream failures are
        # GemgateErrors by now, so what arrives here is the database's.
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, type(error).__name__)  # fmt: skip
        unavailable = errors.ServiceUnavailableError("The gateway's database is unavailable; try again shortly.")  # fmt: skip
        return error_response(unavailable, surface_of(request))
    except Exception:
        logger.exception("gateway failed on %s %s", request.method, request.path)
        failure = errors.InternalServerError("The gateway failed to answer this request.")
        return error_response(failure, surface_of(request))


async def _authenticate(request: web.Request, state: AppState) -> None:
    if request.path in OPEN_PATHS:
        request[CALLER] = ANONYMOUS
        return
    presented = gateway_key(request.path, request.headers, request.query)
    cache = state.store.keys if state.store is not None else None
    request[CALLER] = await identify(presented, state.master_key, cache, request[STARTED_AT])


async def _charge_failure(request: web.Request, state: AppState, status: int) -> None:
    """A refused or failed model request still gets its spend-log row (at no cost)."""
    model = request.get(MODEL)
    if model is not None and CALLER in request:
        await charge(request, state, Charge(model=model, status=status))


def _observe(request: web.Request, state: AppState, status: int, seconds: float) -> None:
    model = request.get(MODEL)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    state.metrics.observe_request(route, model, status, seconds)
    log_access(
        access_logger, request_id=request[REQUEST_ID], method=request.method, path=request.path,
        status=status, duration_ms=seconds * 1000, model=model, client=request.remote,
    )  # fmt: skip


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer, streamed ones included, carries the request id."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["x-request-id"] = request_id
