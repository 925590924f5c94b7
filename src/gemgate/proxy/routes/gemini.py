"""The native Gemini API under /v1beta, /v1 and /v1alpha: `models/{model}:{method}` and the
model list. `{model}` is a model_list name first, else a Gemini model id; errors are Google's."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gemgate import errors
from gemgate.proxy.admission import admit_model
from gemgate.proxy.bodies import json_object
from gemgate.proxy.error_handlers import JSON_HEADERS
from gemgate.proxy.ledger import Charge, Settlement, charge
from gemgate.proxy.spend_tracking import record_spend, with_cost_header
from gemgate.proxy.state import MODEL, AppState, app_state
from gemgate.proxy.streaming import GeminiRelay
from gemgate.proxy.targets import Target
from gemgate.proxy.upstream import relay_to_gemini
from gemgate.proxy.upstream_calls import open_stream, send_json
from gemgate.translate.usage import read_usage

STREAM = "streamGenerateContent"
# The methods the gateway answers itself; usage (and so cost) comes back from the first two.
METHODS = frozenset(
    {"generateContent", STREAM, "countTokens", "embedContent", "batchEmbedContents"}
)
_GENERATION = ("generateContent", "streamGenerateContent", "countTokens")


async def call_model(request: web.Request) -> web.StreamResponse:
    """POST /{version}/models/{model}:{method}."""
    state = app_state(request)
    model, _, method = request.match_info["name"].rpartition(":")
    if not model or method not in METHODS:
        raise errors.NotFoundError(f"The requested URL {request.path} was not found.")
    target = state.targets.pick_native(model)
    request[MODEL] = target.model_name
    await admit_model(request, state, target.model_name, target.deployment)
    body = _for_target(await json_object(request), method, target)
    timeout = float(target.defaults.get("timeout") or state.config.general_settings.request_timeout)
    retries = int(target.defaults.get("num_retries") or 0)
    if method == STREAM:
        return await _stream(request, state, target, body, timeout, retries)
    answer = await send_json(state, target, method, body, timeout=timeout, num_retries=retries)
    usage = read_usage(answer.get("usageMetadata")) if method == "generateContent" else None
    cost = record_spend(state.metrics, target, usage)
    await charge(request, state, Charge(target.model_name, 200, usage, cost, target.deployment))
    return with_cost_header(_json(answer), cost)


async def _stream(
    request: web.Request,
    state: AppState,
    target: Target,
    body: dict[str, Any],
    timeout: float,
    retries: int,
) -> web.StreamResponse:
    upstream = await open_stream(state, target, body, timeout=timeout, num_retries=retries)
    relay = GeminiRelay(is_sse=request.query.get("alt") == "sse")

    def bill() -> Charge:
        cost = record_spend(state.metrics, target, relay.usage)
        return Charge(target.model_name, 200, relay.usage, cost, target.deployment)

    settle = Settlement(request, state, bill)
    try:
        return await relay.relay(request, upstream, before_end=settle)
    finally:
        await settle()


def _for_target(body: dict[str, Any], method: str, target: Target) -> dict[str, Any]:
    """``body`` with the public model name inside it (batch requests, countTokens) replaced."""
    resource = f"models/{target.model_id}"
    if method == "batchEmbedContents" and isinstance(body.get("requests"), list):
        body["requests"] = [
            {**item, "model": resource} if isinstance(item, dict) else item
            for item in body["requests"]
        ]
    inner = body.get("generateContentRequest")
    if method == "countTokens" and isinstance(inner, dict):
        body["generateContentRequest"] = {**inner, "model": resource}
    return body


async def list_models(request: web.Request) -> web.StreamResponse:
    """GET /{version}/models: model_list's names, or Google's own list without a model_list."""
    state = app_state(request)
    if state.targets.accepts_direct_names:
        return await relay_to_gemini(request, state, f"/{request.match_info['version']}/models")
    return _json({"models": [_model(name, state) for name in state.targets.model_names()]})


async def get_model(request: web.Request) -> web.StreamResponse:
    """GET /{version}/models/{model}."""
    state = app_state(request)
    name = request.match_info["model"]
    if state.targets.accepts_direct_names:
        path = f"/{request.match_info['version']}/models/{name}"
        return await relay_to_gemini(request, state, path)
    if name.removeprefix("models/") not in state.targets.model_names():
        raise errors.NotFoundError(f"models/{name} is not found for API version {request.match_info['version']}")  # fmt: skip
    return _json(_model(name.removeprefix("models/"), state))


def _model(name: str, state: AppState) -> dict[str, Any]:
    model_id = state.targets.pick(name).model_id
    methods = (
        ["embedContent", "batchEmbedContents"] if "embedding" in model_id else list(_GENERATION)
    )
    return {"name": f"models/{name}", "displayName": name, "description": f"{model_id} via gemgate",
            "supportedGenerationMethods": methods}  # fmt: skip


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), headers=JSON_HEADERS)
