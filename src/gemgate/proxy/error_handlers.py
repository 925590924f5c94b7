"""Exception handlers of the gateway: every error leaves as Google's `{"error": {code, message, status}}`."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from gemgate.proxy.upstream import UpstreamFailure
from gemgate.types.gemini import ErrorBody

logger = logging.getLogger(__name__)

# google.rpc.Code names for the HTTP statuses Starlette raises itself.
_GOOGLE_STATUS_OF_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
}


def google_error(http_status: int, google_status: str, message: str) -> Response:
    """Google's error body with its HTTP status."""
    body: ErrorBody = {"error": {"code": http_status, "message": message, "status": google_status}}
    return Response(
        orjson.dumps(body), status_code=http_status, media_type="application/json; charset=UTF-8"
    )


async def _upstream_failure(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamFailure)
    return google_error(exc.http_status, exc.google_status, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        # Google's front end answers an unknown path or method with 404 NOT_FOUND.
        return google_error(
            404, "NOT_FOUND", f"The requested URL {request.url.path} was not found."
        )
    status = _GOOGLE_STATUS_OF_HTTP.get(exc.status_code, "INTERNAL")
    return google_error(exc.status_code, status, exc.detail)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this handler, so the server logs the traceback; the caller never sees it.
    logger.error(
        "gateway failed on %s %s (%s)", request.method, request.url.path, type(exc).__name__
    )
    return google_error(500, "INTERNAL", "Internal error encountered.")


EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    UpstreamFailure: _upstream_failure,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
