"""cachedContents: explicit context caches of the Developer API and Vertex AI, and their expiry.

Responses carry only a cache's metadata, as Google's do; the contents stay in
`EmulatorState.cached_contents` for generateContent to read through find_cache().
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemgate.emulator.auth import require_api_key, require_bearer
from gemgate.emulator.bodies import camel_case, read_json, record
from gemgate.emulator.files import find_file, missing_file_error
from gemgate.emulator.google_errors import (
    GoogleApiError,
    invalid_argument,
    model_not_found,
    not_found,
)
from gemgate.emulator.listing import page_of, rfc3339
from gemgate.emulator.models import find_model
from gemgate.emulator.schema import (
    DEVELOPER_EXTENSIONS,
    VERTEX_EXTENSIONS,
    check_message,
    descriptor,
)
from gemgate.emulator.state import EmulatorState, state_of
from gemgate.emulator.tokens import request_tokens

DEV_VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
VERTEX_VERSIONS = frozenset({"v1", "v1beta1"})
# What Google returns for a cache: never its contents, system instruction or tools.
_METADATA = ("name", "model", "displayName", "createTime", "updateTime", "expireTime",
             "usageMetadata")  # fmt: skip
_OUTPUT_ONLY = frozenset({"name", "createTime", "updateTime", "usageMetadata", "ttl", "expireTime"})
_MUTABLE = frozenset({"ttl", "expireTime"})
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_DEV_MODEL = re.compile(r"^models/[^/]+$")
_VERTEX_MODEL = re.compile(r"^projects/[^/]+/locations/[^/]+/publishers/google/models/[^/]+$")
_SNAKE = re.compile(r"_([a-z])")
_FILE_URI = re.compile(r"/files/[a-z0-9-]+$")
_DEFAULT_PAGE_SIZE = 10
_MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where caches live: the Developer API (parent "") or one Vertex project and location."""

    parent: str
    version: str

    @property
    def is_vertex(self) -> bool:
        return bool(self.parent)

    def name_of(self, cache_id: str) -> str:
        prefix = f"{self.parent}/" if self.parent else ""
        return f"{prefix}cachedContents/{cache_id}"


def find_cache(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """The stored, unexpired cache called ``name`` (with contents and usageMetadata), or None."""
    full_name = name if "cachedContents/" in name else f"cachedContents/{name}"
    resource = state.cached_contents.get(full_name)
    if resource is not None and _parse_time(resource["expireTime"]) <= state.clock():
        del state.cached_contents[full_name]
        return None
    return resource


def missing_cache_error(name: str) -> GoogleApiError:
    """What Google answers for a cache that does not exist or has expired."""
    if name.startswith("projects/"):
        return not_found(f"Not found: cached content metadata for {name.rsplit('/', 1)[-1]}.")
    return GoogleApiError("PERMISSION_DENIED", "CachedContent not found (or permission denied)")


async def create_cache(request: Request) -> Response:
    state, scope = _authorize(request)
    body = camel_case(await read_json(request))
    _check_body(state, scope, body)
    _check_model(state, scope, body.get("model"))
    now = state.clock()
    expires_at = _expiry(state, body, now)
    total = _total_tokens(state, scope, body)
    resource = {key: value for key, value in body.items() if key not in _OUTPUT_ONLY}
    resource.update(
        name=scope.name_of(_new_id(scope)),
        createTime=rfc3339(now),
        updateTime=rfc3339(now),
        expireTime=rfc3339(expires_at),
        usageMetadata={"totalTokenCount": total},
    )
    state.cached_contents[resource["name"]] = resource
    return _json(_metadata(resource))


async def get_cache(request: Request) -> Response:
    state, scope = _authorize(request)
    record(request, None)
    return _json(_metadata(_existing(state, scope, request)))


async def list_caches(request: Request) -> Response:
    state, scope = _authorize(request)
    record(request, None)
    prefix = scope.name_of("")
    names = [
        name
        for name in list(state.cached_contents)
        if name.startswith(prefix) and find_cache(state, name) is not None
    ]
    page, token = page_of(
        names, request.query_params, default_size=_DEFAULT_PAGE_SIZE, max_size=_MAX_PAGE_SIZE
    )
    listing: dict[str, Any] = {}
    if page:
        listing["cachedContents"] = [_metadata(state.cached_contents[name]) for name in page]
    if token:
        listing["nextPageToken"] = token
    return _json(listing)


async def update_cache(request: Request) -> Response:
    state, scope = _authorize(request)
    body = camel_case(await read_json(request))
    _check_body(state, scope, body)
    resource = _existing(state, scope, request)
    fields = _fields_to_update(request, body)
    if not fields <= _MUTABLE:
        wrong = ", ".join(sorted(fields - _MUTABLE))
        raise invalid_argument(f"Only ttl or expire_time can be updated, not: {wrong}.")
    update = {key: body.get(key) for key in fields}
    if not any(value is not None for value in update.values()):
        raise invalid_argument("The update sets neither ttl nor expire_time.")
    now = state.clock()
    resource.update(expireTime=rfc3339(_expiry(state, update, now)), updateTime=rfc3339(now))
    return _json(_metadata(resource))


async def delete_cache(request: Request) -> Response:
    state, scope = _authorize(request)
    record(request, None)
    resource = _existing(state, scope, request)
    del state.cached_contents[resource["name"]]
    return _json({})


def _authorize(request: Request) -> tuple[EmulatorState, _Scope]:
    """Check the API version and the caller's credentials; return the cache scope."""
    state = state_of(request)
    params = request.path_params
    is_vertex = "project" in params
    if params["version"] not in (VERTEX_VERSIONS if is_vertex else DEV_VERSIONS):
        raise not_found(f"The requested URL {request.url.path} was not found.")
    if is_vertex:
        require_bearer(request, state)
        parent = f"projects/{params['project']}/locations/{params['location']}"
        return state, _Scope(parent, params["version"])
    require_api_key(request, state)
    return state, _Scope("", params["version"])


def _existing(state: EmulatorState, scope: _Scope, request: Request) -> dict[str, Any]:
    name = scope.name_of(request.path_params["cache_id"])
    resource = find_cache(state, name)
    if resource is None:
        raise missing_cache_error(name)
    return resource


def _check_body(state: EmulatorState, scope: _Scope, body: Any) -> None:
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    if state.settings.strict_schema:
        extras = _VERTEX_CACHE_FIELDS if scope.is_vertex else DEVELOPER_EXTENSIONS
        check_message(descriptor("CachedContent"), body, extras=extras)
    if body.get("ttl") is not None and body.get("expireTime") is not None:
        raise invalid_argument(
            "Invalid JSON payload received. Oneof field 'expiration' is already set. "
            "Cannot set 'expire_time'"
        )


def _check_model(state: EmulatorState, scope: _Scope, model: Any) -> None:
    if not model:
        raise invalid_argument("CachedContent.model is required.", field="model")
    form = _VERTEX_MODEL if scope.is_vertex else _DEV_MODEL
    if not isinstance(model, str) or not form.match(model):
        expected = form.pattern.strip("^$").replace("[^/]+", "*")
        raise invalid_argument(f"Invalid model name {model!r}: expected {expected}.", field="model")
    info = find_model(model, extra=state.settings.extra_models)
    if info is None or "createCachedContent" not in info.methods():
        raise model_not_found(
            model, is_vertex=scope.is_vertex, version=scope.version, method="createCachedContent"
        )


def _total_tokens(state: EmulatorState, scope: _Scope, body: dict[str, Any]) -> int:
    """The cache's size in tokens; Google refuses caches below its minimum."""
    counted = body if scope.is_vertex else {**body, "contents": _with_file_bytes(state, body)}
    total = sum(request_tokens(counted).values())
    minimum = state.settings.min_cache_tokens
    if total < minimum:
        raise invalid_argument(
            f"Cached content is too small. total_token_count={total}, "
            f"min_total_token_count={minimum}"
        )
    return total


def _with_file_bytes(state: EmulatorState, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Contents with each uploaded file inlined, so it is counted by its bytes.

    A file that does not exist (any more) is refused, as Google refuses it.
    """
    contents = []
    for content in body.get("contents") or []:
        if not isinstance(content, dict):
            raise invalid_argument("Invalid value at 'cached_content.contents': not a Content.")
        parts = []
        for part in content.get("parts") or []:
            uri = (part.get("fileData") or {}).get("fileUri") if isinstance(part, dict) else None
            if isinstance(uri, str) and _FILE_URI.search(uri):
                part = {"inlineData": _inline_file(state, uri)}
            parts.append(part)
        contents.append({**content, "parts": parts})
    return contents


def _inline_file(state: EmulatorState, uri: str) -> dict[str, str]:
    entry = find_file(state, uri)
    if entry is None:
        raise missing_file_error(uri.rsplit("/", 1)[-1])
    data = base64.b64encode(entry["data"]).decode()
    return {"mimeType": entry["file"]["mimeType"], "data": data}


def _expiry(state: EmulatorState, body: dict[str, Any], now: float) -> float:
    """When a cache created or updated with ``body`` at ``now`` expires (epoch seconds)."""
    if body.get("expireTime") is not None:
        expires_at = _parse_time(body["expireTime"])
    elif body.get("ttl") is not None:
        expires_at = now + _parse_duration(body["ttl"])
    else:
        expires_at = now + state.settings.default_cache_ttl_seconds
    if expires_at <= now:
        raise invalid_argument(
            "The cache would expire immediately: ttl must be positive, expire_time in the future."
        )
    return expires_at


def _parse_duration(value: Any) -> float:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise invalid_argument(f'Invalid ttl {value!r}: a duration must look like "3600s".')
    return float(value[:-1])


def _parse_time(value: Any) -> float:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid_argument(f"Invalid expire_time {value!r}: use RFC 3339 with a time zone.")
    return moment.timestamp()


def _fields_to_update(request: Request, body: dict[str, Any]) -> set[str]:
    """The fields a PATCH changes: its `updateMask`, else the fields its body sets."""
    mask = request.query_params.get("updateMask") or request.query_params.get("update_mask")
    if mask is None:
        return {key for key in body if key not in {"name", "model"}}
    paths = (path.strip() for path in mask.split(","))
    return {_SNAKE.sub(lambda match: match.group(1).upper(), path) for path in paths if path}


def _new_id(scope: _Scope) -> str:
    # Vertex cache ids are decimal numbers; the Developer API's are short lowercase strings.
    if scope.is_vertex:
        return str(10**18 + secrets.randbelow(9 * 10**18))
    return secrets.token_hex(8)


def _metadata(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: resource[key] for key in _METADATA if key in resource}


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json; charset=UTF-8")


def _object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise invalid_argument(f"Invalid value at '{path}' (TYPE_MESSAGE), {value!r}")


# Vertex's extensions, plus CachedContent fields absent from the Developer API descriptor.
_VERTEX_CACHE_FIELDS = VERTEX_EXTENSIONS | {
    "CachedContent.encryptionSpec": _object,
    "CachedContent.encryption_spec": _object,
}

_DEV = "/{version}/cachedContents"
_VERTEX = "/{version}/projects/{project}/locations/{location}/cachedContents"
ROUTES: list[BaseRoute] = [
    route
    for collection in (_DEV, _VERTEX)
    for route in (
        Route(collection, create_cache, methods=["POST"]),
        Route(collection, list_caches, methods=["GET"]),
        Route(collection + "/{cache_id}", get_cache, methods=["GET"]),
        Route(collection + "/{cache_id}", update_cache, methods=["PATCH"]),
        Route(collection + "/{cache_id}", delete_cache, methods=["DELETE"]),
    )
]
