"""Reading request bodies the way Google's front end does, and spelling their keys one way."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from gemgate.emulator.google_errors import invalid_argument
from gemgate.emulator.state import RecordedRequest, state_of

# Keys whose values are free-form JSON (Struct/Value) and are never renamed.
_OPAQUE_KEYS = frozenset(
    {
        "args",
        "response",
        "parametersJsonSchema",
        "parameters_json_schema",
        "responseJsonSchema",
        "response_json_schema",
        "default",
        "example",
        "instances",
        "parameters_json",
        "metadata",
    }
)
# Keys whose values are maps: their own keys are names, their values are renamed.
_MAP_KEYS = frozenset({"properties", "labels", "defs", "$defs"})
_SNAKE = re.compile(r"_([a-z0-9])")


async def read_json(request: Request) -> Any:
    """Parse the JSON body (an empty body is `{}`) and record the request; 400 on bad JSON."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as error:
        record(request, raw.decode("utf-8", "replace"))
        raise invalid_argument(
            f"Invalid JSON payload received. Unexpected token.\n{error.msg} "
            f"(line {error.lineno}, column {error.colno})"
        ) from error
    record(request, body)
    return body


def record(request: Request, body: Any) -> None:
    """Keep the request in the emulator's request log (see GET /emulator/requests)."""
    state_of(request).record(
        RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=dict(request.headers),
            body=body,
        )
    )


def camel_case(value: Any) -> Any:
    """Return ``value`` with every protobuf key spelled lowerCamel, leaving free-form JSON alone."""
    if isinstance(value, list):
        return [camel_case(item) for item in value]
    if not isinstance(value, dict):
        return value
    spelled: dict[str, Any] = {}
    for key, item in value.items():
        name = _SNAKE.sub(lambda match: match.group(1).upper(), key)
        if name in _OPAQUE_KEYS:
            spelled[name] = item
        elif name in _MAP_KEYS and isinstance(item, dict):
            spelled[name] = {inner: camel_case(entry) for inner, entry in item.items()}
        else:
            spelled[name] = camel_case(item)
    return spelled
