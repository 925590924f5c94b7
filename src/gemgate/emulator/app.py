"""create_emulator_app(): the route table, error handlers and state of the emulator."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemgate.emulator import caches, discovery, files, generate, live, oauth, vertex_jobs
from gemgate.emulator.google_errors import GoogleApiError, error_response
from gemgate.emulator.settings import EmulatorSettings
from gemgate.emulator.state import Clock, EmulatorState, state_of

logger = logging.getLogger(__name__)


def create_emulator_app(
    settings: EmulatorSettings | None = None, *, clock: Clock | None = None
) -> Starlette:
    """Build the emulator as an ASGI app; serve it with uvicorn or call it in-process."""
    state = EmulatorState(settings=settings or EmulatorSettings())
    if clock is not None:
        state.clock = clock
    routes: list[BaseRoute] = [
        Route("/emulator/requests", _list_requests, methods=["GET"]),
        Route("/emulator/requests", _clear_requests, methods=["DELETE"]),
        Route("/emulator/health", _health, methods=["GET"]),
        *oauth.ROUTES,
        *files.ROUTES,
        *caches.ROUTES,
        *vertex_jobs.ROUTES,
        *discovery.ROUTES,
        *generate.ROUTES,
        *live.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            GoogleApiError: _google_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected_error,
        },
    )
    app.state.emulator = state
    return app


async def _google_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GoogleApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(GoogleApiError("NOT_FOUND", "Method not found."))
    return error_response(
        GoogleApiError("NOT_FOUND", f"The requested URL {request.url.path} was not found.")
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The caller left mid-body; nobody reads this answer, and it is no server fault.
    logger.debug("client left during %s %s", request.method, request.url.path)
    return error_response(GoogleApiError("CANCELLED", "The operation was cancelled."))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("emulator failed on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(GoogleApiError("INTERNAL", "Internal error encountered."))


async def _list_requests(request: Request) -> Response:
    entries: list[dict[str, Any]] = [
        {
            "method": entry.method,
            "path": entry.path,
            "query": entry.query,
            "headers": entry.headers,
            "body": entry.body,
        }
        for entry in state_of(request).requests
    ]
    return Response(orjson.dumps({"requests": entries}), media_type="application/json")


async def _clear_requests(request: Request) -> Response:
    state_of(request).requests.clear()
    return Response(b"{}", media_type="application/json")


async def _health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
