"""Native Gemini calls without translation: generate_content and streaming, sync and async.

Contents and config take google-genai's shapes (dicts, or the SDK's own typed objects); the
answer is Google's JSON as an object with attribute access, `.text` and the request's `.cost`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gemgate import errors
from gemgate.calls import DEFAULT_TIMEOUT_SECONDS
from gemgate.client import AsyncChunkStream
from gemgate.client_pool import DEFAULT_POOL
from gemgate.openai_objects import OpenAIObject
from gemgate.pricing import cost_of
from gemgate.providers.base import Provider
from gemgate.providers.resolve import resolve_model, split_transport_params
from gemgate.sync_client import ChunkStream
from gemgate.translate.native_request import build_native_request
from gemgate.translate.usage import read_usage


class GenerateContentResult(OpenAIObject):
    """One GenerateContentResponse (or one stream chunk), as Google sent it."""

    @property
    def text(self) -> str | None:
        """The first candidate's answer text, without thought parts (as google-genai's `.text`)."""
        candidates = self.get("candidates") or []
        parts = ((candidates[0].get("content") or {}).get("parts") or []) if candidates else []
        texts = [p["text"] for p in parts if "text" in p and not p.get("thought")]
        return "".join(texts) if texts else None


@dataclass(frozen=True, slots=True)
class NativeTarget:
    provider: Provider
    model: str
    body: dict[str, Any]
    timeout: float
    num_retries: int


def resolve_native(
    model: str, contents: Any, config: Any, params: Mapping[str, Any]
) -> NativeTarget:
    """Resolve ``model`` and build the request; raises gemgate errors for bad input."""
    if not isinstance(model, str) or not model:
        raise errors.BadRequestError("model must be a non-empty string such as 'gemini/gemini-2.5-flash'")  # fmt: skip
    transport, rest = split_transport_params(params)
    provider, model_id = resolve_model(model, transport, registry=DEFAULT_POOL.registry)
    timeout = float(rest.pop("timeout", None) or DEFAULT_TIMEOUT_SECONDS)
    num_retries = int(rest.pop("num_retries", None) or 0)
    drop = bool(rest.pop("drop_params", False))
    body = build_native_request(_plain(contents), _plain(config), rest, model=model_id, drop_unsupported=drop)  # fmt: skip
    return NativeTarget(provider, model_id, body, timeout, num_retries)


def _result(target: NativeTarget, response: dict[str, Any]) -> GenerateContentResult:
    usage = read_usage(response.get("usageMetadata"))
    cost: Decimal | None = cost_of(target.model, usage, at=datetime.now(UTC))
    return GenerateContentResult.of(response, cost=cost)


async def agenerate_content(model: str, contents: Any, *, config: Any = None, **params: Any) -> GenerateContentResult:  # fmt: skip
    """Call generateContent natively (no OpenAI translation)."""
    target = resolve_native(model, contents, config, params)
    client = DEFAULT_POOL.for_running_loop()
    response = await client.post_json(target.provider, target.model, "generateContent", target.body,
                                      timeout=target.timeout, num_retries=target.num_retries)  # fmt: skip
    return _result(target, response)


def generate_content(model: str, contents: Any, *, config: Any = None, **params: Any) -> GenerateContentResult:  # fmt: skip
    """The synchronous twin of `agenerate_content`."""
    target = resolve_native(model, contents, config, params)
    response = DEFAULT_POOL.sync().post_json(target.provider, target.model, "generateContent", target.body,
                                             timeout=target.timeout, num_retries=target.num_retries)  # fmt: skip
    return _result(target, response)


async def agenerate_content_stream(model: str, contents: Any, *, config: Any = None,
                                   **params: Any) -> AsyncIterator[GenerateContentResult]:  # fmt: skip
    """Stream generateContent natively; the upstream closes when iteration stops."""
    target = resolve_native(model, contents, config, params)
    upstream = DEFAULT_POOL.for_running_loop().stream(
        target.provider, target.model, "streamGenerateContent", target.body,
        timeout=target.timeout, num_retries=target.num_retries,
    )  # fmt: skip
    await upstream.open()
    return _async_chunks(upstream)


def generate_content_stream(model: str, contents: Any, *, config: Any = None,
                            **params: Any) -> Iterator[GenerateContentResult]:  # fmt: skip
    """The synchronous twin of `agenerate_content_stream`."""
    target = resolve_native(model, contents, config, params)
    upstream = DEFAULT_POOL.sync().stream(
        target.provider, target.model, "streamGenerateContent", target.body,
        timeout=target.timeout, num_retries=target.num_retries,
    )  # fmt: skip
    upstream.open()
    return _chunks(upstream)


async def _async_chunks(upstream: AsyncChunkStream) -> AsyncIterator[GenerateContentResult]:
    try:
        async for chunk in upstream:
            yield GenerateContentResult(chunk)
    finally:
        await upstream.aclose()


def _chunks(upstream: ChunkStream) -> Iterator[GenerateContentResult]:
    try:
        for chunk in upstream:
            yield GenerateContentResult(chunk)
    finally:
        upstream.close()


def _plain(value: Any) -> Any:
    """google-genai typed objects (pydantic) become JSON dicts; dicts and lists pass through."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
