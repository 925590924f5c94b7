"""Calls from the gateway's translated routes to Google through the shared client, timed and
counted per deployment (the pass-through relay lives in upstream.py)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gemgate import errors
from gemgate.calls import build_call
from gemgate.client import AsyncChunkStream, AsyncGeminiClient
from gemgate.media import fetch_media, remote_media_urls
from gemgate.proxy.state import AppState
from gemgate.proxy.targets import Target
from gemgate.types.gemini import Blob


async def send_json(
    state: AppState,
    target: Target,
    method: str,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    num_retries: int = 0,
    client: AsyncGeminiClient | None = None,
) -> dict[str, Any]:
    """POST ``payload`` to ``method`` of the target's model and return Google's JSON answer."""
    call = build_call(target.provider, target.model_id, method, payload,
                      timeout=timeout, num_retries=num_retries)  # fmt: skip
    with _observed(state, target):
        return await (client or state.client).send(call)


async def open_stream(
    state: AppState,
    target: Target,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    num_retries: int = 0,
    client: AsyncGeminiClient | None = None,
) -> AsyncChunkStream:
    """Open streamGenerateContent on the target; Google's error is raised before any byte is sent."""
    stream = (client or state.client).stream(target.provider, target.model_id, "streamGenerateContent",
                                 payload, timeout=timeout, num_retries=num_retries)  # fmt: skip
    with _observed(state, target):
        return await stream.open()


@contextmanager
def _observed(state: AppState, target: Target) -> Iterator[None]:
    """Time the upstream call in the block and count the error it ends with, per deployment."""
    started = time.perf_counter()
    try:
        yield
    except errors.GemgateError as error:
        state.metrics.count_upstream_error(target.model_name, target.deployment.id, error.status_code)  # fmt: skip
        raise
    finally:
        state.metrics.observe_upstream(target.model_name, target.deployment.id, time.perf_counter() - started)  # fmt: skip


async def fetched_media(state: AppState, messages: Iterable[Mapping[str, Any]]) -> dict[str, Blob]:
    """Remote images and files the messages link to, fetched as inline data."""
    urls = remote_media_urls(messages)
    if not urls:
        return {}
    return await fetch_media(urls, session=state.media_session)
