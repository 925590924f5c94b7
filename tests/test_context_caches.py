"""Context caches against the emulator: made once, reused, remade when lost or expired, skipped
when Google will not cache the prefix; on the Developer API and on Vertex AI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from gemgate import errors
from gemgate.client import AsyncGeminiClient
from gemgate.context_caches import EXPIRY_MARGIN_SECONDS, ContextCaches
from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from gemgate.openai_api import ChatTarget, chat_body, resolve_chat
from gemgate.sync_client import GeminiClient
from tests.clock import FakeClock
from tests.conftest import TEST_API_KEY
from tests.servers import free_port, serve

START = 1_790_000_000.0
DOCUMENT = "Here is the full text of a complex legal agreement. " * 20
QUESTION = "What are the key terms and conditions in this agreement?"
EPHEMERAL = {"type": "ephemeral"}
SEED_MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": DOCUMENT, "cache_control": EPHEMERAL}]},
    {"role": "user", "content": [{"type": "text", "text": QUESTION, "cache_control": EPHEMERAL}]},
]
OTHER_KEY = "other-key"
VERTEX_PARENT = "projects/emulator-project/locations/us-central1"


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """The shared emulator, trusting a second key (caches of one key are not another's)."""
    return EmulatorSettings(api_keys=frozenset({TEST_API_KEY, OTHER_KEY}), min_cache_tokens=16)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def caches(clock: FakeClock) -> ContextCaches:
    return ContextCaches(clock=clock)


@pytest.fixture
async def client() -> AsyncIterator[AsyncGeminiClient]:
    async with AsyncGeminiClient() as opened:
        yield opened


@pytest.fixture
def sync_client() -> Iterator[GeminiClient]:
    with GeminiClient() as opened:
        yield opened


def gemini_chat(url: str, messages: list[dict[str, Any]], **params: Any) -> ChatTarget:
    return resolve_chat("gemini/gemini-2.5-flash", messages, {"api_key": TEST_API_KEY, "api_base": url, **params})  # fmt: skip


async def send(caches: ContextCaches, client: AsyncGeminiClient, target: ChatTarget) -> dict[str, Any]:  # fmt: skip
    """One chat call as acompletion makes it: body, cache, then generateContent."""
    sender, body = await caches.attach(client, target, {}, chat_body(target, {}))
    return await sender.post_json(target.provider, target.model, "generateContent", body, timeout=10)  # fmt: skip


def recorded(http: httpx.Client) -> list[tuple[str, str, Any]]:
    entries = http.get("/emulator/requests").json()["requests"]
    return [(entry["method"], entry["path"], entry["body"]) for entry in entries]


def creations(http: httpx.Client) -> list[Any]:
    return [body for method, path, body in recorded(http) if method == "POST" and path.endswith("/cachedContents")]  # fmt: skip


def generations(http: httpx.Client) -> list[Any]:
    return [body for _, path, body in recorded(http) if "Content" in path and ":" in path]


async def test_unmarked_messages_pass_through_untouched(caches: ContextCaches, client: AsyncGeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    target = gemini_chat(emulator_url, [{"role": "user", "content": "Hi"}])
    body = chat_body(target, {})
    assert await caches.attach(client, target, {}, body) == (client, body)
    assert recorded(http) == []


async def test_a_marked_prefix_is_cached_once_and_reused(caches: ContextCaches, client: AsyncGeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    first = await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    second = await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    [created] = creations(http)
    assert created["model"] == "models/gemini-2.5-flash" and created["ttl"] == "300s"
    assert created["systemInstruction"] == {"parts": [{"text": DOCUMENT}]}
    bodies = generations(http)
    assert len(bodies) == 2 and bodies[0]["cachedContent"] == bodies[1]["cachedContent"]
    assert "systemInstruction" not in bodies[0]
    for answer in (first, second):
        assert answer["usageMetadata"]["cachedContentTokenCount"] > 0


def test_the_sync_twin_caches_once_and_reuses(caches: ContextCaches, sync_client: GeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    for _ in range(2):
        target = gemini_chat(emulator_url, SEED_MESSAGES)
        sender, body = caches.attach_sync(sync_client, target, {}, chat_body(target, {}))
        answer = sender.post_json(target.provider, target.model, "generateContent", body, timeout=10)  # fmt: skip
        assert answer["usageMetadata"]["cachedContentTokenCount"] > 0
    assert len(creations(http)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gemini/gemini-2.5-pro"},
        {
            "messages": [
                {"role": "system", "content": "Amended. " + DOCUMENT, "cache_control": EPHEMERAL},
                SEED_MESSAGES[1],
            ]
        },
        {"api_key": OTHER_KEY},
    ],
)
async def test_another_model_prefix_or_key_gets_its_own_cache(change: dict[str, Any], caches: ContextCaches, client: AsyncGeminiClient,  # fmt: skip
                                                              emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    params = {"api_key": change.get("api_key", TEST_API_KEY), "api_base": emulator_url}
    target = resolve_chat(change.get("model", "gemini/gemini-2.5-flash"), change.get("messages", SEED_MESSAGES), params)  # fmt: skip
    await send(caches, client, target)
    assert len(creations(http)) == 2


async def test_a_cache_google_lost_is_made_again_once(caches: ContextCaches, client: AsyncGeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    [lost] = {body["cachedContent"] for body in generations(http)}
    http.delete(f"/v1beta/{lost}", headers={"x-goog-api-key": TEST_API_KEY}).raise_for_status()
    answer = await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    assert answer["usageMetadata"]["cachedContentTokenCount"] > 0
    names = [body["cachedContent"] for body in generations(http)]
    assert names[:2] == [lost, lost] and names[2] != lost and len(creations(http)) == 2
    await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    assert generations(http)[-1]["cachedContent"] == names[2]


async def test_a_cache_refused_again_after_remaking_it_raises(caches: ContextCaches, client: AsyncGeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    target = gemini_chat(emulator_url, SEED_MESSAGES, extra_headers={"x-emulator-fault": "status=404"})  # fmt: skip
    with pytest.raises(errors.NotFoundError):
        await send(caches, client, target)
    assert len(creations(http)) == 2 and len(generations(http)) == 2


def test_a_lost_cache_is_made_again_for_a_sync_stream(caches: ContextCaches, sync_client: GeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    def stream_text() -> str:
        target = gemini_chat(emulator_url, SEED_MESSAGES)
        sender, body = caches.attach_sync(sync_client, target, {}, chat_body(target, {}))
        with sender.stream(target.provider, target.model, "streamGenerateContent", body, timeout=10) as chunks:  # fmt: skip
            return "".join(part.get("text", "") for chunk in chunks for part in chunk["candidates"][0]["content"]["parts"])  # fmt: skip

    assert stream_text() == f"Echo: {QUESTION}"
    [name] = {body["cachedContent"] for body in generations(http)}
    http.delete(f"/v1beta/{name}", headers={"x-goog-api-key": TEST_API_KEY}).raise_for_status()
    assert stream_text() == f"Echo: {QUESTION}"
    assert len(creations(http)) == 2


async def test_a_cache_near_its_expiry_is_replaced(caches: ContextCaches, client: AsyncGeminiClient, clock: FakeClock, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    clock.now += 300 - EXPIRY_MARGIN_SECONDS - 1
    await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    assert len(creations(http)) == 1
    clock.now += 1
    await send(caches, client, gemini_chat(emulator_url, SEED_MESSAGES))
    assert len(creations(http)) == 2


async def test_a_prefix_too_small_to_cache_goes_out_whole_and_is_not_tried_again(caches: ContextCaches, client: AsyncGeminiClient, clock: FakeClock,  # fmt: skip
                                                                                  emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief.", "cache_control": EPHEMERAL}, {"role": "user", "content": "Hi"}]  # fmt: skip
    for _ in range(2):
        answer = await send(caches, client, gemini_chat(emulator_url, messages))
        assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Echo: Hi"
    bodies = generations(http)
    assert [body["systemInstruction"] for body in bodies] == [{"parts": [{"text": "Be brief."}]}] * 2  # fmt: skip
    assert all("cachedContent" not in body for body in bodies)
    assert [method for method, path, _ in recorded(http) if path.endswith("/cachedContents")] == ["POST"]  # fmt: skip
    clock.now += 300
    await send(caches, client, gemini_chat(emulator_url, messages))
    assert len(creations(http)) == 2


async def test_a_cache_the_caller_named_is_left_alone(caches: ContextCaches, client: AsyncGeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Hi", "cache_control": EPHEMERAL}, {"role": "user", "content": "Again"}]  # fmt: skip
    target = gemini_chat(emulator_url, messages, cached_content="cachedContents/mine")
    body = chat_body(target, {})
    assert await caches.attach(client, target, {}, body) == (client, body)
    assert recorded(http) == []


async def test_an_async_stream_reads_its_prefix_from_the_cache(caches: ContextCaches, client: AsyncGeminiClient, emulator_url: str, http: httpx.Client) -> None:  # fmt: skip
    target = gemini_chat(emulator_url, SEED_MESSAGES)
    sender, body = await caches.attach(client, target, {}, chat_body(target, {}))
    async with sender.stream(target.provider, target.model, "streamGenerateContent", body, timeout=10) as chunks:  # fmt: skip
        usage = [chunk["usageMetadata"] async for chunk in chunks][-1]
    assert usage["cachedContentTokenCount"] > 0
    assert len(creations(http)) == 1


@pytest.fixture(scope="module")
def vertex() -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    key_file, account = new_service_account(
        client_email="caches@emulator-project.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token", project_id="emulator-project",
    )  # fmt: skip
    settings = EmulatorSettings(api_keys=frozenset({TEST_API_KEY}), service_accounts=(account,), min_cache_tokens=16)  # fmt: skip
    with serve(create_emulator_app(settings), port=port) as url:
        yield url, key_file


async def test_vertex_caches_live_in_the_project(caches: ContextCaches, client: AsyncGeminiClient, vertex: tuple[str, dict[str, str]]) -> None:  # fmt: skip
    url, key_file = vertex
    httpx.delete(f"{url}/emulator/requests")
    params = {"vertex_credentials": key_file, "vertex_location": "us-central1", "api_base": url}
    for _ in range(2):
        answer = await send(caches, client, resolve_chat("vertex_ai/gemini-2.5-flash", SEED_MESSAGES, params))  # fmt: skip
        assert answer["usageMetadata"]["cachedContentTokenCount"] > 0
    entries = httpx.get(f"{url}/emulator/requests").json()["requests"]
    [created] = [entry for entry in entries if entry["path"].endswith("/cachedContents")]
    assert created["path"] == f"/v1/{VERTEX_PARENT}/cachedContents"
    assert created["body"]["model"] == f"{VERTEX_PARENT}/publishers/google/models/gemini-2.5-flash"


async def test_vertex_express_mode_sends_the_prefix_whole(caches: ContextCaches, client: AsyncGeminiClient, vertex: tuple[str, dict[str, str]],  # fmt: skip
                                                          caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    url, _ = vertex
    params = {"api_key": TEST_API_KEY, "vertex_location": "global", "api_base": url}
    target = resolve_chat("vertex_ai/gemini-2.5-flash", SEED_MESSAGES, params)
    body = chat_body(target, {})
    assert await caches.attach(client, target, {}, body) == (client, body)
    assert "cache_control ignored" in caplog.text
