"""The OpenAI-format SDK end to end against the emulator (strict: every body is schema-checked)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

import gemgate
from gemgate.client_pool import DEFAULT_POOL
from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from gemgate.openai_api import chat_completion, prepare_chat
from gemgate.providers.gemini_api import GeminiApi
from tests.conftest import TEST_API_KEY
from tests.servers import free_port, serve

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def gemini(emulator_url: str) -> dict[str, Any]:
    """Keyword arguments pointing gemini/ models at the emulator."""
    return {"api_key": TEST_API_KEY, "api_base": emulator_url}


@pytest.fixture(autouse=True)
async def _close_loop_client() -> AsyncIterator[None]:
    yield
    await DEFAULT_POOL.aclose_running_loop()


def _sent_bodies(http: httpx.Client) -> list[dict[str, Any]]:
    return [entry["body"] for entry in http.get("/emulator/requests").json()["requests"]]


def test_completion_answers_in_openai_shape_with_usage_and_cost(gemini: dict[str, Any]) -> None:
    response = gemgate.completion(model="gemini/gemini-2.5-flash", messages=USER, **gemini)
    assert response.object == "chat.completion"
    assert response.model == "gemini-2.5-flash"
    assert response.choices[0].message.content == "Echo: Hello there"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens > 0  # 2.5 thinks by default
    assert response.cost is not None and response.cost > 0


def test_system_messages_and_turns_reach_google_as_gemini_contents(gemini: dict[str, Any], http: httpx.Client) -> None:  # fmt: skip
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
    ]
    gemgate.completion(model="gemini/gemini-2.5-flash", messages=messages, temperature=0.2, max_tokens=300, **gemini)  # fmt: skip
    [body] = _sent_bodies(http)
    assert [part["text"] for part in body["systemInstruction"]["parts"]] == [
        "Be brief.",
        "Answer in French.",
    ]
    assert [content["role"] for content in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"]["temperature"] == 0.2
    assert body["generationConfig"]["maxOutputTokens"] == 300


def test_api_key_travels_in_a_header_not_the_url(
    gemini: dict[str, Any], http: httpx.Client
) -> None:
    gemgate.completion(model="gemini/gemini-2.5-flash", messages=USER, **gemini)
    [entry] = http.get("/emulator/requests").json()["requests"]
    assert entry["headers"]["x-goog-api-key"] == TEST_API_KEY
    assert TEST_API_KEY not in entry["query"]


def test_seed_tool_calling_example(gemini: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": "What's the weather like in Boston today?"}]
    response = gemgate.completion(model="gemini/gemini-1.5-flash", messages=messages, tools=[WEATHER], **gemini)  # fmt: skip
    call = response.choices[0].message.tool_calls[0]
    assert call.function.name == "get_current_weather"
    assert orjson.loads(call.function.arguments)["location"] == "Boston"
    assert response.choices[0].finish_reason == "tool_calls"


async def test_gemini_3_streamed_tool_calls_round_trip_their_signatures(
    gemini: dict[str, Any],
) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Rome?"}]
    stream = await gemgate.acompletion(model="gemini/gemini-3-flash-preview", messages=messages, tools=[WEATHER], stream=True, **gemini)  # fmt: skip
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0] if chunk.choices else None
        for delta in (choice.delta.tool_calls or []) if choice else []:
            entry = calls.setdefault(delta.index, {"id": delta.id, "type": "function", "function": {"name": "", "arguments": ""}})  # fmt: skip
            entry["function"]["name"] += delta.function.name or ""
            entry["function"]["arguments"] += delta.function.arguments or ""
        finish = (choice.finish_reason if choice else None) or finish
    assert finish == "tool_calls" and len(calls) == 1
    call = calls[0]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 21}'},
    ]
    second = await gemgate.acompletion(model="gemini/gemini-3-flash-preview", messages=messages, tools=[WEATHER], stream=True, **gemini)  # fmt: skip
    text = "".join(
        [chunk.choices[0].delta.content or "" async for chunk in second if chunk.choices]
    )
    assert text == 'Function results: get_current_weather returned {"temperature":21}'


async def test_gemini_3_history_without_signatures_is_refused_by_google(
    gemini: dict[str, Any],
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_current_weather", "arguments": '{"location": "Rome"}'}}  # fmt: skip
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    with pytest.raises(gemgate.BadRequestError, match="thought_signature"):
        await gemgate.acompletion(model="gemini/gemini-3-flash-preview", messages=messages, tools=[WEATHER], **gemini)  # fmt: skip


def test_stream_chunks_and_final_usage(gemini: dict[str, Any]) -> None:
    prompt = [{"role": "user", "content": "Tell me a story about a lighthouse keeper and the sea"}]
    stream = gemgate.completion(model="gemini/gemini-2.5-flash", messages=prompt, stream=True,
                                stream_options={"include_usage": True}, **gemini)  # fmt: skip
    chunks = list(stream)
    with_choices = [c for c in chunks if c.choices]
    assert (
        "".join(c.choices[0].delta.content or "" for c in with_choices)
        == f"Echo: {prompt[0]['content']}"
    )
    assert [c.choices[0].finish_reason for c in with_choices][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert stream.cost is not None


def test_stopping_a_stream_early_closes_the_upstream(gemini: dict[str, Any]) -> None:
    prompt = [{"role": "user", "content": "a long answer please, streamed slowly " * 3 + "[[emulator: chunk-delay=200]]"}]  # fmt: skip
    stream = gemgate.completion(model="gemini/gemini-2.5-flash", messages=prompt, stream=True, **gemini)  # fmt: skip
    started = time.monotonic()
    for _ in stream:
        break
    # Closed: nothing more comes, at once (an open stream would wait 200 ms for its next chunk).
    assert list(stream._upstream) == []
    assert time.monotonic() - started < 0.2


def test_json_schema_response_format_returns_valid_json(gemini: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"recipe_name": {"type": "string"}}, "required": ["recipe_name"], "additionalProperties": False}  # fmt: skip
    response = gemgate.completion(
        model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "List a cookie recipe."}],
        response_format={"type": "json_schema", "json_schema": {"name": "recipe", "schema": schema, "strict": True}}, **gemini,
    )  # fmt: skip
    assert set(orjson.loads(response.choices[0].message.content)) == {"recipe_name"}


def test_enforce_validation_raises_with_the_raw_response(gemini: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer", "multipleOf": 7}}, "required": ["count"]}  # fmt: skip
    with pytest.raises(gemgate.JSONSchemaValidationError) as caught:
        gemgate.completion(
            model="gemini/gemini-1.5-pro", messages=[{"role": "user", "content": "count"}],
            response_format={"type": "json_object", "response_schema": schema, "enforce_validation": True}, **gemini,
        )  # fmt: skip
    assert orjson.loads(caught.value.raw_response) == {"count": 1}


def test_rate_limit_carries_googles_retry_delay(gemini: dict[str, Any]) -> None:
    with pytest.raises(gemgate.RateLimitError) as caught:
        gemgate.completion(model="gemini/gemini-2.5-flash", messages=USER,
                           extra_headers={"x-emulator-fault": "status=429, retry=7"}, **gemini)  # fmt: skip
    assert caught.value.retry_after == 7 and caught.value.status_code == 429


def test_retries_recover_from_a_transient_error(gemini: dict[str, Any], http: httpx.Client) -> None:
    with pytest.raises(gemgate.ServiceUnavailableError):
        gemgate.completion(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "x [[emulator: status=503]]"}],
                           num_retries=1, **gemini)  # fmt: skip
    assert len(_sent_bodies(http)) == 2


def test_blocked_prompt_is_a_content_policy_error(gemini: dict[str, Any]) -> None:
    with pytest.raises(gemgate.ContentPolicyViolationError, match="PROHIBITED_CONTENT"):
        gemgate.completion(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "x [[emulator: block=PROHIBITED_CONTENT]]"}], **gemini)  # fmt: skip


@pytest.mark.parametrize(
    ("model", "messages", "error"),
    [
        ("openai/gpt-4", USER, gemgate.BadRequestError),
        ("gemini/gemini-2.5-flash", [], gemgate.BadRequestError),
        ("gemini/gemini-2.5-flash", [{"role": "wizard", "content": "x"}], gemgate.BadRequestError),
        (
            "gemini/gemini-2.5-flash",
            [{"role": "tool", "tool_call_id": "nope", "content": "x"}],
            gemgate.BadRequestError,
        ),
    ],
)
def test_bad_input_fails_before_any_network_call(model: str, messages: list[dict[str, Any]], error: type[Exception],
                                                 gemini: dict[str, Any], http: httpx.Client) -> None:  # fmt: skip
    with pytest.raises(error):
        gemgate.completion(model=model, messages=messages, **gemini)
    assert _sent_bodies(http) == []


def test_missing_key_is_an_authentication_error(
    emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(gemgate.AuthenticationError):
        gemgate.completion(model="gemini/gemini-2.5-flash", messages=USER, api_base=emulator_url)


@pytest.mark.parametrize(
    ("effort", "budget"), [("low", 1024), ("medium", 2048), ("high", 4096), ("disable", 0)]
)
def test_reasoning_effort_sets_the_thinking_budget(effort: str, budget: int, gemini: dict[str, Any], http: httpx.Client) -> None:  # fmt: skip
    gemgate.completion(
        model="gemini/gemini-2.5-flash", messages=USER, reasoning_effort=effort, **gemini
    )
    [body] = _sent_bodies(http)
    assert body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == budget


def test_reasoning_content_comes_back_when_thinking(gemini: dict[str, Any]) -> None:
    response = gemgate.completion(model="gemini/gemini-2.5-flash", messages=USER,
                                  thinking={"type": "enabled", "budget_tokens": 1024}, **gemini)  # fmt: skip
    assert response.choices[0].message.reasoning_content


def test_n_gives_several_choices(gemini: dict[str, Any]) -> None:
    response = gemgate.completion(model="gemini/gemini-2.5-flash", messages=USER, n=2, **gemini)
    assert [choice.index for choice in response.choices] == [0, 1]


def test_text_completion(gemini: dict[str, Any]) -> None:
    response = gemgate.text_completion(model="gemini/gemini-2.5-flash", prompt="Say hi", **gemini)
    assert response.object == "text_completion"
    assert response.choices[0].text == "Echo: Say hi"


def test_embedding_list_input_with_dimensions(gemini: dict[str, Any]) -> None:
    response = gemgate.embedding(model="gemini/gemini-embedding-001", input=["a", "b"], dimensions=8, **gemini)  # fmt: skip
    assert [len(item.embedding) for item in response.data] == [8, 8]
    assert response.usage.prompt_tokens > 0


async def test_native_agenerate_content_with_seed_shape(gemini: dict[str, Any]) -> None:
    contents = {"parts": [{"text": "Hello, can you tell me a short joke?"}], "role": "user"}
    response = await gemgate.google_genai.agenerate_content(model="gemini/gemini-2.0-flash", contents=contents, max_tokens=100, **gemini)  # fmt: skip
    assert response.text == "Echo: Hello, can you tell me a short joke?"
    assert response.cost is not None


async def test_native_stream(gemini: dict[str, Any]) -> None:
    contents = {"parts": [{"text": "Write a long story about space exploration"}], "role": "user"}
    stream = await gemgate.google_genai.agenerate_content_stream(model="gemini/gemini-2.0-flash", contents=contents, max_tokens=500, **gemini)  # fmt: skip
    text = "".join([chunk.text or "" async for chunk in stream])
    assert text == "Echo: Write a long story about space exploration"


@pytest.fixture(scope="module")
def vertex() -> Iterator[dict[str, Any]]:
    port = free_port()
    key_file, account = new_service_account(
        client_email="sdk@emulator-project.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token", project_id="emulator-project",
    )  # fmt: skip
    with serve(
        create_emulator_app(EmulatorSettings(service_accounts=(account,))), port=port
    ) as url:
        yield {"vertex_credentials": key_file, "vertex_location": "us-central1", "api_base": url}


def test_vertex_completion_and_stream(vertex: dict[str, Any]) -> None:
    response = gemgate.completion(model="vertex_ai/gemini-2.5-flash", messages=USER, **vertex)
    assert response.choices[0].message.content == "Echo: Hello there"
    chunks = list(gemgate.completion(model="vertex_ai/gemini-2.5-flash", messages=USER, stream=True, **vertex))  # fmt: skip
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Echo: Hello there"
    )


def test_vertex_embedding(vertex: dict[str, Any]) -> None:
    response = gemgate.embedding(model="vertex_ai/text-embedding-005", input="hello", **vertex)
    assert len(response.data[0].embedding) == 768


# Resolving and answering a call, without the network --------------------------------------------

PROVIDER = GeminiApi(api_key=TEST_API_KEY)
ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}]}  # fmt: skip


def test_call_options_are_taken_out_of_the_request() -> None:
    params = {"temperature": 0.5, "timeout": 3, "num_retries": 2, "drop_params": True, "user": "u",
              "stream_options": {"include_usage": True}, "metadata": {}, "tags": ["t"], "seed": 1}  # fmt: skip
    target = prepare_chat(PROVIDER, "gemini-2.5-flash", USER, params)
    assert target.request == {"temperature": 0.5, "seed": 1, "messages": USER}
    assert (target.timeout, target.num_retries, target.drop_params, target.include_usage) == (3.0, 2, True, True)  # fmt: skip


@pytest.mark.parametrize("stream_options", [None, {}, {"include_usage": False}, "yes", ["include_usage"]])  # fmt: skip
def test_usage_is_streamed_only_when_stream_options_ask_for_it(stream_options: Any) -> None:
    target = prepare_chat(PROVIDER, "gemini-2.5-flash", USER, {"stream_options": stream_options})
    assert target.include_usage is False


@pytest.mark.parametrize(
    ("messages", "is_accepted"),
    [(tuple(USER), True), (USER, True), ((), False), ([], False), ("Hello", False), (None, False)],
)
def test_messages_are_a_non_empty_sequence_of_messages(messages: Any, is_accepted: bool) -> None:
    if is_accepted:
        assert prepare_chat(PROVIDER, "gemini-2.5-flash", messages, {}).request["messages"] == USER
    else:
        with pytest.raises(gemgate.BadRequestError, match="non-empty list"):
            prepare_chat(PROVIDER, "gemini-2.5-flash", messages, {})


def test_an_answer_without_a_response_id_gets_a_random_one() -> None:
    target = prepare_chat(PROVIDER, "gemini-2.5-flash", USER, {})
    ids = {chat_completion(target, ANSWER)[0]["id"] for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(r"chatcmpl-[0-9a-f]{32}", found) for found in ids)
    assert chat_completion(target, {**ANSWER, "responseId": "abc"})[0]["id"] == "chatcmpl-abc"
