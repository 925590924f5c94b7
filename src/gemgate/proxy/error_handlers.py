"""Errors leave the gateway in the shape of the API the caller spoke: OpenAI's `{"error": {message,
type, param, code}}` on OpenAI routes, Google's `{"error": {code, message, status}}` elsewhere."""

from __future__ import annotations

import enum
import logging
import math

import orjson
from aiohttp import web

from gemgate import errors
from gemgate.translate.error_bodies import google_error_body, openai_error_body

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json"
# Passed as headers: cheaper than `content_type=`, which aiohttp parses on every response.
JSON_HEADERS = {"Content-Type": JSON_TYPE}


class Surface(enum.Enum):
    """The API a route speaks, which decides the shape of its errors."""

    OPENAI = "openai"
    GOOGLE = "google"


def http_status_of(error: errors.GemgateError) -> int:
    """The status the gateway answers with: a timeout waiting for Google is a gateway timeout."""
    if isinstance(error, errors.Timeout):
        return 504
    return error.status_code


def error_response(error: errors.GemgateError, surface: Surface) -> web.Response:
    """``error`` as a JSON response in the shape of ``surface``."""
    if surface is Surface.OPENAI:
        body = openai_error_body(error)
    else:
        status = http_status_of(error)
        body = dict(google_error_body(error))
        body["error"] = {**body["error"], "code": status}
    response = web.Response(
        body=orjson.dumps(body), status=http_status_of(error), content_type=JSON_TYPE
    )
    if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
        response.headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
    return response


def error_event(error: errors.GemgateError, surface: Surface) -> bytes:
    """``error`` as the JSON of one in-stream event (the status line was already sent)."""
    if surface is Surface.OPENAI:
        return orjson.dumps(openai_error_body(error))
    return orjson.dumps(google_error_body(error))


def error_for_http_exception(exception: web.HTTPException, path: str) -> errors.GemgateError:
    """The gemgate error for one of aiohttp's own answers (no route, bad method, too large)."""
    status = exception.status
    if status in (404, 405):
        return errors.NotFoundError(f"The requested URL {path} was not found.")
    if status == 413:
        return errors.BadRequestError("the request body is larger than the gateway accepts",
                                      status_code=413)  # fmt: skip
    if 400 <= status < 500:
        return errors.BadRequestError(exception.reason, status_code=status)
    return errors.InternalServerError(exception.reason, status_code=status)
