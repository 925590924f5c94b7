"""Request bodies as the gateway accepts them: JSON objects, declared as JSON, within the size limit
(the limit itself is aiohttp's `client_max_size`, answered with 413)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from gemgate import errors
from gemgate.proxy.access_log import redacted_body
from gemgate.proxy.state import REQUEST_ID, STATE

# Request bodies, when `general_settings.log_request_bodies` is on (redacted, cut to a bound).
body_logger = logging.getLogger("gemgate.bodies")

_JSON_TYPES = frozenset({"application/json", "text/json"})
# Tool-generated requests often say nothing about their type; only a wrong one is refused.
_UNDECLARED = frozenset({"", "application/octet-stream"})


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; a clear 4xx error for anything else."""
    content_type = request.content_type
    if content_type not in _JSON_TYPES and content_type not in _UNDECLARED:
        raise errors.BadRequestError(
            f"Content-Type must be application/json, got {content_type}", status_code=415
        )
    raw = await request.read()
    if request.app[STATE].config.general_settings.log_request_bodies:
        request_id = request.get(REQUEST_ID)
        body_logger.info("request body %s", request_id, extra={"request_id": request_id, "body": redacted_body(raw)})  # fmt: skip
    if not raw.strip():
        raise errors.BadRequestError("the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise errors.BadRequestError(f"the request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise errors.BadRequestError("the request body must be a JSON object")
    return body


def required_text(body: dict[str, Any], field: str) -> str:
    """``body[field]`` as a non-empty string, or a 400 naming the field."""
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise errors.BadRequestError(f"'{field}' is required and must be a non-empty string")
    return value
