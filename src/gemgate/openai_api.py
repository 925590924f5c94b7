"""The OpenAI-format SDK: completion, text_completion, embedding and their async twins.

Each call resolves the model to a provider, translates the OpenAI request to Gemini (pure code
in translate/), sends it with the process's pooled client, and translates the answer back. The
sync and async twins share everything but the few lines that wait.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, cast, overload

from gemgate import errors
from gemgate.calls import DEFAULT_TIMEOUT_SECONDS
from gemgate.chat_streams import AsyncChatStream, ChatStream
from gemgate.client_pool import DEFAULT_POOL
from gemgate.context_caches import DEFAULT_CONTEXT_CACHES
from gemgate.media import fetch_media, fetch_media_sync, remote_media_urls
from gemgate.openai_objects import (
    EmbeddingResponse,
    ModelResponse,
    ModelResponseStream,
    OpenAIObject,
    TextCompletionResponse,
)
from gemgate.pricing import cost_of
from gemgate.providers.base import Provider
from gemgate.providers.resolve import resolve_model, split_transport_params
from gemgate.translate.chat_request import build_generate_request
from gemgate.translate.chat_response import translate_response
from gemgate.translate.chat_stream import ChatStreamTranslator
from gemgate.translate.embeddings import build_embed_request, embedding_response
from gemgate.translate.response_validation import enforce_response_schema, requested_schema
from gemgate.translate.text_completion import (
    chat_request_from_completion,
    completion_chunk_from_chat_chunk,
    completion_response_from_chat,
)
from gemgate.translate.usage import Usage, read_usage
from gemgate.types.gemini import Blob

# Arguments about the call itself, never sent to Google.
_CALL_OPTIONS = frozenset({"timeout", "num_retries", "drop_params", "stream_options", "metadata",
                           "user", "tags", "encoding_format"})  # fmt: skip


# More attempts than this only multiply the wait on an outage.
MAX_RETRIES = 10


def call_timeout(value: Any, *, model: str) -> float:
    """The ``timeout`` argument as seconds (the default when absent); a 400 for anything else."""
    if value is None:
        return DEFAULT_TIMEOUT_SECONDS
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise errors.BadRequestError(f"timeout must be a positive number of seconds, got {value!r}", model=model)  # fmt: skip
    return float(value)


def call_retries(value: Any, *, model: str) -> int:
    """The ``num_retries`` argument (0 when absent); a 400 for anything but 0..MAX_RETRIES."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise errors.BadRequestError(f"num_retries must be an integer from 0 to {MAX_RETRIES}, got {value!r}", model=model)  # fmt: skip
    return value


@dataclass(slots=True)  # one per call: not frozen, whose __init__ costs three times as much
class ChatTarget:
    """A chat call resolved and checked, before any network I/O."""

    provider: Provider
    model: str
    request: dict[str, Any]
    timeout: float
    num_retries: int
    drop_params: bool
    include_usage: bool


def resolve_chat(model: str, messages: Any, params: Mapping[str, Any]) -> ChatTarget:
    """Resolve ``model`` and split ``params``; raises gemgate errors for bad input."""
    if not isinstance(model, str) or not model:
        raise errors.BadRequestError("model must be a non-empty string such as 'gemini/gemini-2.5-flash'")  # fmt: skip
    transport, rest = split_transport_params(params)
    provider, model_id = resolve_model(model, transport, registry=DEFAULT_POOL.registry)
    return prepare_chat(provider, model_id, messages, rest)


def prepare_chat(
    provider: Provider, model_id: str, messages: Any, params: Mapping[str, Any]
) -> ChatTarget:
    """A chat call to an already resolved provider; ``params`` hold no transport arguments."""
    if not _is_message_list(messages):
        raise errors.BadRequestError("messages must be a non-empty list of message objects", model=model_id)  # fmt: skip
    request: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in params.items():
        (options if key in _CALL_OPTIONS else request)[key] = value
    request["messages"] = list(messages)
    stream_options = options.get("stream_options")
    include_usage = False
    # None, the usual value, is answered before the costlier ABC check.
    if stream_options is not None and isinstance(stream_options, Mapping):
        include_usage = bool(stream_options.get("include_usage"))
    return ChatTarget(
        provider=provider,
        model=model_id,
        request=request,
        timeout=call_timeout(options.get("timeout"), model=model_id),
        num_retries=call_retries(options.get("num_retries"), model=model_id),
        drop_params=bool(options.get("drop_params")),
        include_usage=include_usage,
    )


def _is_message_list(messages: Any) -> bool:
    # A list is by far the usual case and `type` answers it without the ABC check's cost.
    if type(messages) is list:
        return bool(messages)
    return isinstance(messages, Sequence) and not isinstance(messages, str) and bool(messages)


def chat_body(target: ChatTarget, media: Mapping[str, Blob]) -> dict[str, Any]:
    """The generateContent body for ``target``."""
    body = build_generate_request(
        target.request, model=target.model, media=media, drop_unsupported=target.drop_params
    )
    return cast("dict[str, Any]", body)  # a new dict each call: no copy needed


def chat_completion(target: ChatTarget, response: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
    """The OpenAI chat.completion dict for Gemini's ``response``, and the usage it reports."""
    response_id = f"chatcmpl-{response.get('responseId') or new_id()}"
    usage = read_usage(response.get("usageMetadata"))
    chat = translate_response(response, model=target.model, response_id=response_id,
                              created=int(time.time()), usage=usage)  # fmt: skip
    schema = requested_schema(target.request.get("response_format"))
    if schema is not None:
        enforce_response_schema(chat, schema, model=target.model)
    return chat, usage


def chat_result(target: ChatTarget, response: dict[str, Any]) -> ModelResponse:
    """The OpenAI chat.completion for Gemini's ``response``, with its cost."""
    chat, usage = chat_completion(target, response)
    pricing = functools.partial(_cost_when_created, target.model, usage, chat["created"])
    return ModelResponse.of(chat, pricing=pricing)


def _cost_when_created(model: str, usage: Usage, created: int) -> Decimal | None:
    # Priced on first read of `cost`, at the prices in force when the answer came.
    return cost_of(model, usage, at=datetime.fromtimestamp(created, UTC))


def new_id() -> str:
    """32 random hex digits: a response id, as unique as a uuid4 at a fifth of its cost."""
    return os.urandom(16).hex()


def stream_translator(target: ChatTarget) -> ChatStreamTranslator:
    return ChatStreamTranslator(
        model=target.model,
        response_id=f"chatcmpl-{new_id()}",
        created=int(time.time()),
        include_usage=target.include_usage,
        provider=target.provider.name,
    )


@overload
async def acompletion(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    stream: Literal[False] = False,
    **params: Any,
) -> ModelResponse: ...
@overload
async def acompletion(
    model: str, messages: Sequence[Mapping[str, Any]], *, stream: Literal[True], **params: Any
) -> AsyncChatStream: ...
@overload
async def acompletion(
    model: str, messages: Sequence[Mapping[str, Any]], *, stream: bool, **params: Any
) -> ModelResponse | AsyncChatStream: ...
async def acompletion(
    model: str, messages: Sequence[Mapping[str, Any]], *, stream: bool = False, **params: Any
) -> ModelResponse | AsyncChatStream:
    """An OpenAI-format chat completion on Gemini; with ``stream=True`` an async chunk stream."""
    target = resolve_chat(model, messages, params)
    client = DEFAULT_POOL.for_running_loop()
    urls = remote_media_urls(target.request["messages"])
    media = await fetch_media(urls, session=DEFAULT_POOL.session_for_running_loop()) if urls else {}
    body = chat_body(target, media)
    client, body = await DEFAULT_CONTEXT_CACHES.attach(client, target, media, body)
    if stream:
        upstream = client.stream(target.provider, target.model, "streamGenerateContent", body,
                                 timeout=target.timeout, num_retries=target.num_retries)  # fmt: skip
        await upstream.open()
        return AsyncChatStream(upstream, stream_translator(target), model=target.model, shape=ModelResponseStream)  # fmt: skip
    response = await client.post_json(target.provider, target.model, "generateContent", body,
                                      timeout=target.timeout, num_retries=target.num_retries)  # fmt: skip
    return chat_result(target, response)


@overload
def completion(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    stream: Literal[False] = False,
    **params: Any,
) -> ModelResponse: ...
@overload
def completion(
    model: str, messages: Sequence[Mapping[str, Any]], *, stream: Literal[True], **params: Any
) -> ChatStream: ...
@overload
def completion(
    model: str, messages: Sequence[Mapping[str, Any]], *, stream: bool, **params: Any
) -> ModelResponse | ChatStream: ...
def completion(
    model: str, messages: Sequence[Mapping[str, Any]], *, stream: bool = False, **params: Any
) -> ModelResponse | ChatStream:
    """The synchronous twin of `acompletion`."""
    target = resolve_chat(model, messages, params)
    client = DEFAULT_POOL.sync()
    urls = remote_media_urls(target.request["messages"])
    media = fetch_media_sync(urls, client=client.http) if urls else {}
    body = chat_body(target, media)
    client, body = DEFAULT_CONTEXT_CACHES.attach_sync(client, target, media, body)
    if stream:
        upstream = client.stream(target.provider, target.model, "streamGenerateContent", body,
                                 timeout=target.timeout, num_retries=target.num_retries)  # fmt: skip
        upstream.open()
        return ChatStream(upstream, stream_translator(target), model=target.model, shape=ModelResponseStream)  # fmt: skip
    response = client.post_json(target.provider, target.model, "generateContent", body,
                                timeout=target.timeout, num_retries=target.num_retries)  # fmt: skip
    return chat_result(target, response)


def _as_chat_params(prompt: Any, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    drop = bool(params.get("drop_params"))
    chat = chat_request_from_completion({**params, "prompt": prompt}, drop_unsupported=drop)
    messages = chat.pop("messages")
    return messages, chat


def _text_result(chat: ModelResponse) -> TextCompletionResponse:
    return TextCompletionResponse.of(dict(completion_response_from_chat(chat.model_dump())), cost=chat.cost)  # fmt: skip


def _text_chunk(chunk: dict[str, Any]) -> OpenAIObject | None:
    shaped = completion_chunk_from_chat_chunk(chunk)
    return None if shaped is None else TextCompletionResponse(dict(shaped))


@overload
async def atext_completion(
    model: str, prompt: Any, *, stream: Literal[False] = False, **params: Any
) -> TextCompletionResponse: ...
@overload
async def atext_completion(
    model: str, prompt: Any, *, stream: Literal[True], **params: Any
) -> AsyncChatStream: ...
@overload
async def atext_completion(
    model: str, prompt: Any, *, stream: bool, **params: Any
) -> TextCompletionResponse | AsyncChatStream: ...
async def atext_completion(
    model: str, prompt: Any, *, stream: bool = False, **params: Any
) -> TextCompletionResponse | AsyncChatStream:
    """An OpenAI-format (legacy) text completion: the prompt becomes one user message."""
    messages, chat_params = _as_chat_params(prompt, params)
    result = await acompletion(model, messages, stream=stream, **chat_params)
    if isinstance(result, AsyncChatStream):
        result.reshape(_text_chunk)
        return result
    return _text_result(result)


@overload
def text_completion(
    model: str, prompt: Any, *, stream: Literal[False] = False, **params: Any
) -> TextCompletionResponse: ...
@overload
def text_completion(
    model: str, prompt: Any, *, stream: Literal[True], **params: Any
) -> ChatStream: ...
@overload
def text_completion(
    model: str, prompt: Any, *, stream: bool, **params: Any
) -> TextCompletionResponse | ChatStream: ...
def text_completion(
    model: str, prompt: Any, *, stream: bool = False, **params: Any
) -> TextCompletionResponse | ChatStream:
    """The synchronous twin of `atext_completion`."""
    messages, chat_params = _as_chat_params(prompt, params)
    result = completion(model, messages, stream=stream, **chat_params)
    if isinstance(result, ChatStream):
        result.reshape(_text_chunk)
        return result
    return _text_result(result)


@dataclass(frozen=True, slots=True)
class EmbeddingTarget:
    provider: Provider
    model: str
    method: str
    bodies: list[dict[str, Any]]
    timeout: float
    num_retries: int
    encoding_format: str | None


def resolve_embedding(model: str, input: Any, params: Mapping[str, Any]) -> EmbeddingTarget:
    """Resolve and translate an embeddings call; raises gemgate errors for bad input."""
    if not isinstance(model, str) or not model:
        raise errors.BadRequestError("model must be a non-empty string such as 'gemini/gemini-embedding-001'")  # fmt: skip
    transport, rest = split_transport_params(params)
    provider, model_id = resolve_model(model, transport, registry=DEFAULT_POOL.registry)
    return prepare_embedding(provider, model_id, input, rest)


def prepare_embedding(
    provider: Provider, model_id: str, input: Any, params: Mapping[str, Any]
) -> EmbeddingTarget:
    """An embeddings call to an already resolved provider; ``params`` hold no transport arguments."""
    model = model_id
    rest = dict(params)
    encoding_format = rest.pop("encoding_format", None)
    task_type = rest.pop("task_type", None)
    dimensions = rest.pop("dimensions", None)
    timeout = call_timeout(rest.pop("timeout", None), model=model_id)
    num_retries = call_retries(rest.pop("num_retries", None), model=model_id)
    for ignored in ("user", "metadata", "tags", "drop_params"):
        rest.pop(ignored, None)
    if rest:
        raise errors.UnsupportedParamsError(f"embedding does not take {sorted(rest)}", model=model)
    method, bodies = build_embed_request(
        input, model=model_id, dimensions=dimensions, task_type=task_type,
        is_vertex=provider.name == "vertex_ai", encoding_format=encoding_format,
    )  # fmt: skip
    return EmbeddingTarget(
        provider, model_id, method, bodies, timeout, num_retries, encoding_format
    )


def embedding_result(target: EmbeddingTarget, responses: list[dict[str, Any]], input: Any) -> EmbeddingResponse:  # fmt: skip
    texts = [input] if isinstance(input, str) else list(input)
    estimate = sum((len(str(text)) + 3) // 4 for text in texts)  # Google's Dev API reports none
    shaped = embedding_response(responses, model=target.model, method=target.method,
                                prompt_tokens=estimate, encoding_format=target.encoding_format)  # fmt: skip
    tokens = int(shaped["usage"]["prompt_tokens"])
    cost = cost_of(target.model, read_usage({"promptTokenCount": tokens}), at=datetime.now(UTC))
    return EmbeddingResponse.of(dict(shaped), cost=cost)


async def aembedding(model: str, input: Any, **params: Any) -> EmbeddingResponse:
    """OpenAI-format embeddings on Gemini (a string or a list of strings in, vectors out)."""
    target = resolve_embedding(model, input, params)
    client = DEFAULT_POOL.for_running_loop()
    responses = [
        await client.post_json(
            target.provider,
            target.model,
            target.method,
            body,
            timeout=target.timeout,
            num_retries=target.num_retries,
        )  # fmt: skip
        for body in target.bodies
    ]
    return embedding_result(target, responses, input)


def embedding(model: str, input: Any, **params: Any) -> EmbeddingResponse:
    """The synchronous twin of `aembedding`."""
    target = resolve_embedding(model, input, params)
    client = DEFAULT_POOL.sync()
    responses = [
        client.post_json(
            target.provider,
            target.model,
            target.method,
            body,
            timeout=target.timeout,
            num_retries=target.num_retries,
        )  # fmt: skip
        for body in target.bodies
    ]
    return embedding_result(target, responses, input)
