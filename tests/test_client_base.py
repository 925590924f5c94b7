"""What the async and sync clients share (client_base.py), checked on each against the emulator:
calls refused before sending, streams sent as streamGenerateContent and only once opened, retry
decisions and their log, and closing a stream."""

from __future__ import annotations

import logging
import random
from typing import Any

import httpx
import pytest

from gemgate import errors
from gemgate.calls import RetryPolicy, build_call
from gemgate.client import AsyncGeminiClient
from gemgate.providers.gemini_api import GeminiApi
from gemgate.sync_client import GeminiClient
from tests.conftest import TEST_API_KEY

MODEL = "gemini-2.5-flash"
MODES = ["async", "sync"]
HELLO = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
LONG = {"contents": [{"role": "user", "parts": [{"text": "a reply in many pieces " * 20}]}]}


def gemini(url: str) -> GeminiApi:
    return GeminiApi(api_key=TEST_API_KEY, api_base=url)


def model_requests(url: str) -> list[dict[str, Any]]:
    recorded = httpx.get(f"{url}/emulator/requests").json()["requests"]
    return [entry for entry in recorded if "/models/" in entry["path"]]


async def post_json(mode: str, url: str, method: str, payload: dict[str, Any]) -> Any:
    if mode == "async":
        async with AsyncGeminiClient() as client:
            return await client.post_json(gemini(url), MODEL, method, payload, timeout=10)
    with GeminiClient() as client:
        return client.post_json(gemini(url), MODEL, method, payload, timeout=10)


async def streamed(mode: str, url: str, method: str, *, limit: int = 10_000) -> list[Any]:
    """The chunks of a stream of ``method``, read to the end or ``limit``, then closed twice; and
    whatever the closed stream still yields after them."""
    read: list[Any] = []
    if mode == "async":
        async with AsyncGeminiClient() as client:
            chunks = client.stream(gemini(url), MODEL, method, LONG, timeout=10)
            while len(read) < limit and (chunk := await anext(chunks, None)) is not None:
                read.append(chunk)
            await chunks.aclose()
            await chunks.aclose()
            return read + [chunk async for chunk in chunks]
    with GeminiClient() as client:
        sync_chunks = client.stream(gemini(url), MODEL, method, LONG, timeout=10)
        while len(read) < limit and (chunk := next(sync_chunks, None)) is not None:
            read.append(chunk)
        sync_chunks.close()
        sync_chunks.close()
        return read + list(sync_chunks)


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(part["text"] for chunk in chunks for part in chunk["candidates"][0]["content"]["parts"])  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
async def test_a_body_that_is_not_json_is_refused_before_anything_is_sent(
    mode: str, emulator_url: str
) -> None:
    with pytest.raises(errors.BadRequestError, match="not JSON"):
        await post_json(mode, emulator_url, "generateContent", {"contents": b"raw"})
    assert model_requests(emulator_url) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["countTokens", "embedContent"])
async def test_only_generation_can_be_streamed(mode: str, method: str, emulator_url: str) -> None:
    with pytest.raises(ValueError, match=f"{method} cannot be streamed"):
        await streamed(mode, emulator_url, method)
    assert model_requests(emulator_url) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["streamGenerateContent", "generateContent"])
async def test_a_stream_is_sent_as_stream_generate_content(
    mode: str, method: str, emulator_url: str
) -> None:
    chunks = await streamed(mode, emulator_url, method)
    assert len(chunks) > 1 and text_of(chunks).startswith("Echo: a reply in many pieces")
    (request,) = model_requests(emulator_url)
    assert request["path"].endswith(":streamGenerateContent") and request["query"] == "alt=sse"


@pytest.mark.parametrize("mode", MODES)
async def test_a_stream_closed_before_it_is_read_is_never_sent(
    mode: str, emulator_url: str
) -> None:
    assert await streamed(mode, emulator_url, "streamGenerateContent", limit=0) == []
    assert model_requests(emulator_url) == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_closed_stream_yields_nothing_more(mode: str, emulator_url: str) -> None:
    (first,) = await streamed(mode, emulator_url, "streamGenerateContent", limit=1)
    assert text_of([first]).startswith("Echo:")


async def retry_delay(mode: str, error: errors.GemgateError, attempt: int, num_retries: int) -> float | None:  # fmt: skip
    """The wait a client of ``mode`` decides on after ``error`` ends attempt ``attempt``."""
    policy = RetryPolicy(initial_delay=0.2, max_delay=0.2)
    call = build_call(gemini("http://h"), MODEL, "generateContent", HELLO, timeout=1,
                      num_retries=num_retries)  # fmt: skip
    if mode == "async":
        async with AsyncGeminiClient(retry_policy=policy, rng=random.Random(0)) as client:
            return client.retry_delay(error, attempt, call)
    with GeminiClient(retry_policy=policy, rng=random.Random(0)) as sync_client:
        return sync_client.retry_delay(error, attempt, call)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("error", "attempt", "num_retries", "expected"),
    [
        (errors.ServiceUnavailableError("x"), 0, 2, (0.1, 0.2)),
        (errors.ServiceUnavailableError("x"), 1, 2, (0.1, 0.2)),
        (errors.RateLimitError("x", retry_after=1.5), 1, 2, (1.5, 1.5)),
        (errors.ServiceUnavailableError("x"), 2, 2, None),
        (errors.ServiceUnavailableError("x"), 0, 0, None),
        (errors.BadRequestError("x"), 0, 2, None),
    ],
)
async def test_a_call_is_retried_until_its_retries_are_spent(
    mode: str,
    error: errors.GemgateError,
    attempt: int,
    num_retries: int,
    expected: tuple[float, float] | None,
) -> None:
    delay = await retry_delay(mode, error, attempt, num_retries)
    if expected is None:
        assert delay is None
    else:
        assert delay is not None and expected[0] <= delay <= expected[1]


@pytest.mark.parametrize("mode", MODES)
async def test_a_retry_is_logged_with_the_call_and_the_wait(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gemgate"):
        await retry_delay(mode, errors.RateLimitError("x", retry_after=1.5), 0, 2)
    assert caplog.messages == [
        "gemini/gemini-2.5-flash failed (429 RateLimitError); retry 1 of 2 in 1.50s"
    ]
