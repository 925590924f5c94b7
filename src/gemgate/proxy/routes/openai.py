"""The OpenAI API: /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models (and the
same paths without /v1). Requests are translated by the SDK's own code (openai_api.py)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from gemgate import errors
from gemgate.client import AsyncChunkStream
from gemgate.openai_api import (
    ChatTarget,
    chat_body,
    chat_completion,
    embedding_result,
    prepare_chat,
    prepare_embedding,
    stream_translator,
)
from gemgate.providers.resolve import TRANSPORT_PARAMS
from gemgate.proxy.admission import admit_model
from gemgate.proxy.bodies import json_object, required_text
from gemgate.proxy.error_handlers import JSON_HEADERS
from gemgate.proxy.ledger import Charge, Settlement, charge
from gemgate.proxy.spend_tracking import record_spend, with_cost_header
from gemgate.proxy.state import MODEL, AppState, app_state
from gemgate.proxy.streaming import relay_openai
from gemgate.proxy.targets import ModelTargets, Target
from gemgate.proxy.upstream_calls import fetched_media, open_stream, send_json
from gemgate.translate.chat_stream import ChatStreamTranslator
from gemgate.translate.text_completion import (
    chat_request_from_completion,
    completion_chunk_from_chat_chunk,
    completion_response_from_chat,
)
from gemgate.translate.usage import Usage

# How a URL shape turns the request's model name into a target (`ModelTargets.pick` on /v1).
TargetPick = Callable[[ModelTargets, str], Target]
_NOT_PARAMS = frozenset({"model", "messages", "stream", "prompt", "input"})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions: an OpenAI chat completion, streamed or not."""
    return await _chat(request, ModelTargets.pick)


def chat_completions_picking(pick: TargetPick) -> Handler:
    """The chat completions handler of another URL shape, whose model names ``pick`` resolves."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _chat(request, pick)

    return handle


async def _chat(request: web.Request, pick: TargetPick) -> web.StreamResponse:
    state = app_state(request)
    body = await json_object(request)
    target = await _target(state, request, body, pick)
    chat = prepare_chat(target.provider, target.model_id, body.get("messages"), _params(target, body))  # fmt: skip
    return await _complete_chat(request, state, target, chat, body)


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions: a legacy text completion, answered through the chat translation."""
    state = app_state(request)
    body = await json_object(request)
    target = await _target(state, request, body)
    if "prompt" not in body:
        raise errors.BadRequestError("'prompt' is required")
    params = _params(target, body)
    as_chat = chat_request_from_completion({**params, "prompt": body["prompt"]},
                                           drop_unsupported=bool(params.get("drop_params")))  # fmt: skip
    messages = as_chat.pop("messages")
    chat = prepare_chat(target.provider, target.model_id, messages, as_chat)
    return await _complete_chat(request, state, target, chat, body, is_text=True)


async def embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: OpenAI embeddings from Gemini's embedContent / batchEmbedContents."""
    state = app_state(request)
    body = await json_object(request)
    target = await _target(state, request, body)
    if "input" not in body:
        raise errors.BadRequestError("'input' is required")
    embedding = prepare_embedding(target.provider, target.model_id, body["input"], _params(target, body))  # fmt: skip
    responses = [
        await send_json(
            state,
            target,
            embedding.method,
            payload,
            timeout=embedding.timeout,
            num_retries=embedding.num_retries,
        )  # fmt: skip
        for payload in embedding.bodies
    ]
    result = embedding_result(embedding, responses, body["input"])
    prompt_tokens = int((result.get("usage") or {}).get("prompt_tokens") or 0)
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=0)
    await charge(request, state, _bill(target, body, usage, result.cost))
    return _json(result, result.cost)


async def list_models(request: web.Request) -> web.StreamResponse:
    """GET /v1/models: the model names this gateway serves."""
    names = app_state(request).targets.model_names()
    return _json({"object": "list", "data": [_model_object(name) for name in names]})


async def get_model(request: web.Request) -> web.StreamResponse:
    """GET /v1/models/{model}."""
    name = request.match_info["model"]
    if name not in app_state(request).targets.model_names():
        raise errors.NotFoundError(f"The model '{name}' does not exist", code="model_not_found")
    return _json(_model_object(name))


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "gemgate"}


async def _target(
    state: AppState,
    request: web.Request,
    body: dict[str, Any],
    pick: TargetPick = ModelTargets.pick,
) -> Target:
    """The target the body's model names, once the caller is admitted to it."""
    target = pick(state.targets, required_text(body, "model"))
    request[MODEL] = target.model_name
    await admit_model(request, state, target.model_name, target.deployment)
    return target


def _bill(
    target: Target, body: dict[str, Any], usage: Usage | None, cost: Decimal | None
) -> Charge:
    """The spend-log facts of an answered OpenAI request (`user` and `metadata.tags` included)."""
    user = body.get("user")
    metadata = body.get("metadata")
    tags = body.get("tags") or (metadata.get("tags") if isinstance(metadata, dict) else None)
    return Charge(
        model=target.model_name, status=200, usage=usage, cost=cost, deployment=target.deployment,
        end_user=user if isinstance(user, str) else None,
        tags=tuple(tag for tag in tags if isinstance(tag, str)) if isinstance(tags, list) else (),
    )  # fmt: skip


def _params(target: Target, body: dict[str, Any]) -> dict[str, Any]:
    """The call's parameters: the deployment's defaults, overridden by the request's own."""
    requested = {key: value for key, value in body.items() if key not in _NOT_PARAMS}
    transport = TRANSPORT_PARAMS.intersection(requested)
    if transport:
        # Where the gateway sends (and with which credentials) is its config's business only.
        raise errors.BadRequestError(f"{sorted(transport)[0]} cannot be set in a request to the gateway")  # fmt: skip
    return {**target.defaults, **requested}


async def _complete_chat(
    request: web.Request,
    state: AppState,
    target: Target,
    chat: ChatTarget,
    body: dict[str, Any],
    *,
    is_text: bool = False,
) -> web.StreamResponse:
    media = await fetched_media(state, chat.request["messages"])
    # `cache_control` prompts: the marked prefix becomes (or reuses) a Gemini context cache.
    client, payload = await state.context_caches.attach(state.client, chat, media, chat_body(chat, media))  # fmt: skip
    if body.get("stream"):
        upstream = await open_stream(state, target, payload, timeout=chat.timeout,
                                     num_retries=chat.num_retries, client=client)  # fmt: skip
        return await _relay_chat(request, state, target, body, upstream, stream_translator(chat), is_text=is_text)  # fmt: skip
    answer = await send_json(state, target, "generateContent", payload, timeout=chat.timeout,
                             num_retries=chat.num_retries, client=client)  # fmt: skip
    completion, usage = chat_completion(chat, answer)
    cost = record_spend(state.metrics, target, usage)
    await charge(request, state, _bill(target, body, usage, cost))
    if is_text:
        return _json(completion_response_from_chat(completion), cost)
    return _json(completion, cost)


async def _relay_chat(
    request: web.Request,
    state: AppState,
    target: Target,
    body: dict[str, Any],
    upstream: AsyncChunkStream,
    translator: ChatStreamTranslator,
    *,
    is_text: bool,
) -> web.StreamResponse:
    def bill() -> Charge:  # the translator's usage is final only once the stream has ended
        cost = record_spend(state.metrics, target, translator.usage)
        return _bill(target, body, translator.usage, cost)

    settle = Settlement(request, state, bill)
    shape = completion_chunk_from_chat_chunk if is_text else None
    try:
        return await relay_openai(request, upstream, translator, shape, before_end=settle)
    finally:
        await settle()


def _json(body: Any, cost: Decimal | None = None) -> web.StreamResponse:
    response = web.Response(body=orjson.dumps(body), headers=JSON_HEADERS)
    return with_cost_header(response, cost)
