"""Model routes: generateContent, streamGenerateContent, countTokens, embeddings, models list/get."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gemgate.emulator import embeddings, imagen, schema
from gemgate.emulator.answers import compose_reply
from gemgate.emulator.auth import require_api_key, require_bearer
from gemgate.emulator.bodies import camel_case, read_json
from gemgate.emulator.caches import find_cache
from gemgate.emulator.faults import HEADER, Fault, find_fault
from gemgate.emulator.files import find_file, missing_file_error
from gemgate.emulator.google_errors import (
    GoogleApiError,
    error_for_http_status,
    invalid_argument,
    model_not_found,
    not_found,
    rate_limited,
)
from gemgate.emulator.listing import page_of
from gemgate.emulator.models import ModelInfo, find_model, list_models
from gemgate.emulator.rendering import Envelope, render_chunks, render_response
from gemgate.emulator.request_rules import check_contents, check_generate
from gemgate.emulator.signatures import check_history
from gemgate.emulator.state import EmulatorState, state_of
from gemgate.emulator.tokens import modality_details, request_tokens
from gemgate.sse import close_array, encode_array_element, encode_event

DEVELOPER_VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
VERTEX_VERSIONS = frozenset({"v1", "v1beta1"})
JSON = "application/json; charset=UTF-8"


async def _developer_model(request: Request) -> Response:
    version = _version(request, DEVELOPER_VERSIONS)
    model_id, method = _split_target(request)
    state = state_of(request)
    if request.method == "GET":
        require_api_key(request, state)
        return _json(_model_or_404(model_id, version, "get", state).resource())
    body = await read_json(request)
    require_api_key(request, state)
    return await _dispatch(request, state, model_id, method, body, is_vertex=False)


async def _vertex_model(request: Request) -> Response:
    version = _version(request, VERTEX_VERSIONS)
    model_id, method = _split_target(request)
    state = state_of(request)
    if request.method == "GET":
        require_bearer(request, state)
        return _json(_vertex_model_resource(_model_or_404(model_id, version, "get", state)))
    body = await read_json(request)
    require_bearer(request, state)
    return await _dispatch(request, state, model_id, method, body, is_vertex=True)


async def _dispatch(
    request: Request,
    state: EmulatorState,
    model_id: str,
    method: str,
    body: Any,
    *,
    is_vertex: bool,
) -> Response:
    version = request.path_params["version"]
    is_array_stream = method == "streamGenerateContent" and request.query_params.get("alt") != "sse"
    try:
        model = _model_or_404(model_id, version, method, state, is_vertex=is_vertex)
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. Expected an object.")
        if method in {"generateContent", "streamGenerateContent"}:
            return await _generate(request, state, model, method, body, is_vertex=is_vertex)
        if method == "countTokens":
            return _json(_count_tokens(state, model, body, is_vertex=is_vertex))
        return _json(_embed(state, model, method, body, is_vertex=is_vertex))
    except GoogleApiError as error:
        if not is_array_stream:
            raise
        # Without alt=sse, Google wraps even errors in the JSON array.
        return Response(
            orjson.dumps([error.body()]), status_code=error.http_status, media_type=JSON
        )


async def _generate(
    request: Request,
    state: EmulatorState,
    model: ModelInfo,
    method: str,
    body: dict[str, Any],
    *,
    is_vertex: bool,
) -> Response:
    if state.settings.strict_schema:
        schema.check_request("GenerateContentRequest", body, is_vertex=is_vertex)
    generate_request = camel_case(body)
    check_generate(generate_request, model, is_vertex=is_vertex)
    cached = _cache_for(state, generate_request, model)
    if not is_vertex:
        _check_files_exist(state, generate_request)
    _check_context_window(generate_request, model, cached)
    check_history(generate_request, model, state.settings.signature_secret)
    fault = find_fault(request.headers.get(HEADER), generate_request)
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.hang_seconds is not None:
        return _hanging(min(fault.hang_seconds, state.settings.max_hang_seconds))
    if fault.status is not None:
        raise (
            rate_limited(fault.retry_seconds, model.id)
            if fault.status == 429
            else error_for_http_status(fault.status)
        )
    reply = compose_reply(
        generate_request, model, secret=state.settings.signature_secret, cached=cached, fault=fault
    )
    envelope = Envelope(model.id, secrets.token_urlsafe(16), is_vertex, state.clock())
    if method == "generateContent":
        return _json(render_response(reply, envelope))
    chunks = render_chunks(reply, envelope, chunk_chars=state.settings.stream_chunk_chars)
    if request.query_params.get("alt") == "sse":
        return StreamingResponse(_sse(chunks, fault), media_type="text/event-stream")
    return StreamingResponse(_json_array(chunks, fault), media_type=JSON)


async def _sse(chunks: list[dict[str, Any]], fault: Fault) -> AsyncIterator[bytes]:
    async for chunk in _paced(chunks, fault):
        yield encode_event(orjson.dumps(chunk))


async def _json_array(chunks: list[dict[str, Any]], fault: Fault) -> AsyncIterator[bytes]:
    is_first = True
    async for chunk in _paced(chunks, fault):
        yield encode_array_element(orjson.dumps(chunk), is_first=is_first)
        is_first = False
    yield close_array(is_empty=is_first)


async def _paced(chunks: list[dict[str, Any]], fault: Fault) -> AsyncIterator[dict[str, Any]]:
    """Chunks with the fault's delay between them; a broken stream ends on an error chunk."""
    for number, chunk in enumerate(chunks):
        if fault.break_after is not None and number >= fault.break_after:
            yield dict(error_for_http_status(fault.status or 500).body())
            return
        if number and fault.chunk_delay_ms:
            await asyncio.sleep(fault.chunk_delay_ms / 1000)
        yield chunk


def _hanging(seconds: float) -> Response:
    async def never() -> AsyncIterator[bytes]:
        await asyncio.sleep(seconds)
        yield b""

    return StreamingResponse(never(), media_type=JSON)


def _count_tokens(
    state: EmulatorState, model: ModelInfo, body: dict[str, Any], *, is_vertex: bool
) -> dict[str, Any]:
    if state.settings.strict_schema:
        name = "GenerateContentRequest" if is_vertex else "CountTokensRequest"
        schema.check_request(name, body, is_vertex=is_vertex)
    request = camel_case(body)
    inner = request.get("generateContentRequest")
    if inner is not None and request.get("contents"):
        raise invalid_argument("Only one of contents or generate_content_request may be set.")
    target = inner if isinstance(inner, dict) else request
    message = "GenerateContentRequest" if inner is not None else "CountTokensRequest"
    check_contents(target.get("contents"), is_vertex=is_vertex, message=message)
    totals = request_tokens(target)
    cached = _cache_for(state, target, model)
    cached_tokens = int((cached or {}).get("usageMetadata", {}).get("totalTokenCount", 0))
    response: dict[str, Any] = {"totalTokens": sum(totals.values()) + cached_tokens}
    if cached_tokens:
        response["cachedContentTokenCount"] = cached_tokens
        response["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached_tokens}]
    if is_vertex:
        response["totalBillableCharacters"] = len(orjson.dumps(target.get("contents")))
    response["promptTokensDetails"] = modality_details(totals)
    return response


def _embed(
    state: EmulatorState, model: ModelInfo, method: str, body: dict[str, Any], *, is_vertex: bool
) -> dict[str, Any]:
    strict = state.settings.strict_schema
    if method == "embedContent":
        return embeddings.embed_content(body, model, strict=strict, is_vertex=is_vertex)
    if method == "batchEmbedContents":
        return embeddings.batch_embed_contents(body, model, strict=strict)
    if model.kind == "imagen":
        return imagen.predict_images(body, model)
    return embeddings.predict(body, model)


def _cache_for(
    state: EmulatorState, request: dict[str, Any], model: ModelInfo
) -> dict[str, Any] | None:
    name = request.get("cachedContent")
    if not name:
        return None
    cached = find_cache(state, str(name))
    if cached is None:
        raise GoogleApiError(
            "PERMISSION_DENIED", f"CachedContent not found (or permission denied): {name}"
        )
    if str(cached.get("model", "")).rsplit("/", 1)[-1] != model.id:
        raise invalid_argument(
            f"Model used by GenerateContent request (models/{model.id}) and CachedContent "
            f"({cached.get('model')}) has to be the same."
        )
    return cached


def _check_files_exist(state: EmulatorState, request: dict[str, Any]) -> None:
    """Files API URIs in the prompt must name an uploaded, unexpired file, as on Google."""
    for content in request.get("contents") or []:
        for part in content.get("parts") or []:
            uri = str((part.get("fileData") or {}).get("fileUri", ""))
            if "/files/" in uri and find_file(state, uri) is None:
                raise missing_file_error(uri)


def _check_context_window(
    request: dict[str, Any], model: ModelInfo, cached: dict[str, Any] | None
) -> None:
    total = sum(request_tokens(request).values())
    total += int((cached or {}).get("usageMetadata", {}).get("totalTokenCount", 0))
    if total > model.input_token_limit:
        raise invalid_argument(
            f"The input token count ({total}) exceeds the maximum number of tokens allowed "
            f"({model.input_token_limit})."
        )


def _model_or_404(
    model_id: str, version: str, method: str, state: EmulatorState, *, is_vertex: bool = False
) -> ModelInfo:
    model = find_model(model_id, extra=state.settings.extra_models)
    supported = model is not None and (method == "get" or method in model.methods())
    if model is not None and supported:
        return model
    name = f"publishers/google/models/{model_id}" if is_vertex else f"models/{model_id}"
    raise model_not_found(name, is_vertex=is_vertex, version=version, method=method)


async def _list_developer_models(request: Request) -> Response:
    _version(request, DEVELOPER_VERSIONS)
    state = state_of(request)
    require_api_key(request, state)
    models = [model.resource() for model in list_models(state.settings.extra_models)]
    page, token = page_of(models, request.query_params, default_size=50, max_size=1000)
    listing: dict[str, Any] = {"models": page}
    if token:
        listing["nextPageToken"] = token
    return _json(listing)


def _vertex_model_resource(model: ModelInfo) -> dict[str, Any]:
    return {
        "name": f"publishers/google/models/{model.id}",
        "versionId": "001",
        "openSourceCategory": "PROPRIETARY",
        "launchStage": "GA",
    }


def _version(request: Request, allowed: frozenset[str]) -> str:
    version = str(request.path_params["version"])
    if version not in allowed:
        raise not_found(f"The requested URL {request.url.path} was not found on this server.")
    return version


def _split_target(request: Request) -> tuple[str, str]:
    model_id, _, method = str(request.path_params["target"]).partition(":")
    if request.method == "POST" and not method:
        raise not_found(f"The requested URL {request.url.path} was not found on this server.")
    return model_id, method


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type=JSON)


_VERTEX_PREFIX = "/{version}/projects/{project}/locations/{location}/publishers/google/models"
ROUTES: list[BaseRoute] = [
    Route("/{version}/models", _list_developer_models, methods=["GET"]),
    Route("/{version}/models/{target}", _developer_model, methods=["GET", "POST"]),
    Route(_VERTEX_PREFIX + "/{target}", _vertex_model, methods=["GET", "POST"]),
    Route("/{version}/publishers/google/models/{target}", _vertex_model, methods=["GET", "POST"]),
]
