"""The OpenAI routes end to end: the official `openai` SDK and curl-shaped requests against a real
gateway in front of a served emulator (every body the gateway sends is schema-checked there)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from gemgate.proxy import create_app
from tests.proxy.conftest import (
    CHAT_MODEL,
    EMBEDDING_MODEL,
    MASTER_KEY,
    THINKING_MODEL,
    model_list_config,
    vertex_config,
)
from tests.servers import serve

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city and state"}},
            "required": ["location"],
        },
    },
}
RECIPE = {
    "type": "object",
    "properties": {"recipe_name": {"type": "string"}, "minutes": {"type": "integer"}},
    "required": ["recipe_name", "minutes"],
    "additionalProperties": False,
}


@pytest.fixture
def client(aliased_gateway_url: str) -> Iterator[openai.OpenAI]:
    """The openai SDK pointed at the gateway, as the seeds configure it (no retries: one call)."""
    with openai.OpenAI(
        base_url=f"{aliased_gateway_url}/v1", api_key=MASTER_KEY, max_retries=0
    ) as client:
        yield client


@pytest.fixture
def gateway(aliased_gateway_url: str) -> Iterator[httpx.Client]:
    """curl: plain HTTP on the gateway."""
    with httpx.Client(base_url=aliased_gateway_url, timeout=10) as client:
        yield client


def test_chat_completion_through_a_model_list_name_carries_usage_and_cost(
    client: openai.OpenAI,
) -> None:
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=USER)
    completion = raw.parse()

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Echo: Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert Decimal(raw.headers["x-gemgate-response-cost"]) > 0


def test_streamed_chat_ends_with_a_usage_chunk_when_asked(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Tell me a long story about the sea, please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    texts = [chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices]
    assert "".join(texts) == "Echo: Tell me a long story about the sea, please"
    assert len(texts) > 1
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_streamed_chat_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=USER, stream=True))

    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_call_comes_back_in_openai_shape(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "What's the weather like in Boston today?"}],
        tools=[WEATHER],
        tool_choice="auto",
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_current_weather"  # type: ignore[union-attr]
    assert orjson.loads(call.function.arguments)["location"].startswith("Boston")  # type: ignore[union-attr]


def test_json_schema_response_format_answers_json_matching_the_schema(
    client: openai.OpenAI,
) -> None:
    completion = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "A cookie recipe, please."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "recipe", "schema": RECIPE, "strict": True},
        },
    )

    answer = orjson.loads(completion.choices[0].message.content or "")
    assert set(answer) == {"recipe_name", "minutes"}
    assert isinstance(answer["minutes"], int)


def test_text_completion_answers_in_legacy_shape(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=CHAT_MODEL, prompt="Say hi")

    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Echo: Say hi"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_streamed_text_completion_answers_in_legacy_chunks(client: openai.OpenAI) -> None:
    prompt = "Write a long poem about a lighthouse keeper"
    chunks = list(client.completions.create(model=CHAT_MODEL, prompt=prompt, stream=True))

    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices) == f"Echo: {prompt}"
    assert all(chunk.object == "text_completion" for chunk in chunks)


@pytest.mark.parametrize(
    ("given", "dimensions", "expected_count", "expected_size"),
    [("hello", None, 1, 3072), (["one", "two", "three"], None, 3, 3072), (["one", "two"], 8, 2, 8)],
    ids=["string", "list", "dimensions"],
)
def test_embeddings_answer_one_vector_per_input(
    client: openai.OpenAI,
    given: str | list[str],
    dimensions: int | None,
    expected_count: int,
    expected_size: int,
) -> None:
    response = client.embeddings.create(
        model=EMBEDDING_MODEL,
        input=given,
        dimensions=openai.omit if dimensions is None else dimensions,
    )

    assert [item.index for item in response.data] == list(range(expected_count))
    assert {len(item.embedding) for item in response.data} == {expected_size}
    assert response.usage.prompt_tokens > 0


def test_same_text_embeds_to_the_same_vector(client: openai.OpenAI) -> None:
    vectors = client.embeddings.create(model=EMBEDDING_MODEL, input=["same", "other", "same"]).data

    assert vectors[0].embedding == vectors[2].embedding != vectors[1].embedding


def test_models_list_names_the_model_list(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == [
        CHAT_MODEL,
        THINKING_MODEL,
        EMBEDDING_MODEL,
    ]


def test_model_retrieve_knows_served_names_only(client: openai.OpenAI) -> None:
    assert client.models.retrieve(CHAT_MODEL).id == CHAT_MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/completions", {"model": CHAT_MODEL, "messages": USER}),
        ("/completions", {"model": CHAT_MODEL, "prompt": "hi"}),
        ("/embeddings", {"model": EMBEDDING_MODEL, "input": "hi"}),
    ],
)
def test_routes_answer_without_the_v1_prefix(
    gateway: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = gateway.post(path, json=body, headers=AUTH)

    assert response.status_code == 200
    assert response.json()["object"] in {"chat.completion", "text_completion", "list"}


def test_curl_shaped_request_with_reasoning_effort(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/v1/chat/completions",
        content=orjson.dumps(
            {
                "model": THINKING_MODEL,
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "reasoning_effort": "low",
            }
        ),
        headers={"Content-Type": "application/json", **AUTH},
    )

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo: What is")


def test_streamed_chat_is_server_sent_events_ending_in_done(gateway: httpx.Client) -> None:
    body = {"model": CHAT_MODEL, "messages": USER, "stream": True}

    response = gateway.post("/v1/chat/completions", json=body, headers=AUTH)

    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: {") for event in events[:-2])


def _chat(message: str) -> dict[str, Any]:
    return {"model": CHAT_MODEL, "messages": [{"role": "user", "content": message}]}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "must be a JSON object"),
        (b"", "application/json", 400, "empty"),
        (orjson.dumps({"messages": USER}), "application/json", 400, "'model' is required"),
        (orjson.dumps({"model": 7, "messages": USER}), "application/json", 400, "'model'"),
        (orjson.dumps({"model": CHAT_MODEL, "messages": "hi"}), "application/json", 400, "messages"),
        (orjson.dumps({**_chat("hi"), "temperature": "hot"}), "application/json", 400, "temperature"),
        (orjson.dumps(_chat("hi")), "text/plain", 415, "Content-Type must be application/json"),
        (orjson.dumps({**_chat("hi"), "model": "gpt-4o"}), "application/json", 404, "'gpt-4o' is not served"),
        (orjson.dumps({**_chat("hi"), "api_base": "http://attacker.example"}), "application/json", 400, "api_base cannot be set"),
        (orjson.dumps({**_chat("hi"), "api_key": "sk-other"}), "application/json", 400, "api_key cannot be set"),
        (orjson.dumps({**_chat("hi"), "timeout": "soon"}), "application/json", 400, "timeout"),
        (orjson.dumps({**_chat("hi"), "num_retries": [1]}), "application/json", 400, "num_retries"),
    ],
    ids=["invalid-json", "not-an-object", "empty", "missing-model", "model-not-text",
         "messages-not-a-list", "temperature-not-a-number", "wrong-content-type", "unknown-model",
         "api-base-in-body", "api-key-in-body", "timeout-not-a-number", "num-retries-not-a-number"],
)  # fmt: skip
def test_bad_input_is_an_openai_error_and_the_gateway_keeps_serving(
    gateway: httpx.Client, content: bytes, content_type: str, status: int, message: str
) -> None:
    response = gateway.post(
        "/v1/chat/completions", content=content, headers={"content-type": content_type, **AUTH}
    )

    assert response.status_code == status
    error = response.json()["error"]
    assert message in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert gateway.post("/v1/chat/completions", json=_chat("still there?"), headers=AUTH).is_success


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"model": CHAT_MODEL}),
        ("/v1/embeddings", {"model": EMBEDDING_MODEL}),
    ],
)
def test_missing_prompt_or_input_is_named(
    gateway: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = gateway.post(path, json=body, headers=AUTH)

    assert response.status_code == 400
    assert "is required" in response.json()["error"]["message"]


def test_body_over_the_size_limit_is_413_and_the_gateway_keeps_serving(emulator_url: str) -> None:
    config = model_list_config(emulator_url, max_request_body_mb=0.01)
    with serve(create_app(config)) as url, httpx.Client(base_url=url, timeout=10) as gateway:
        too_big = gateway.post("/v1/chat/completions", json=_chat("x" * 20_000), headers=AUTH)
        small = gateway.post("/v1/chat/completions", json=_chat("hi"), headers=AUTH)

    assert too_big.status_code == 413
    assert too_big.json()["error"]["type"] == "invalid_request_error"
    assert "larger than the gateway accepts" in too_big.json()["error"]["message"]
    assert small.status_code == 200


def test_upstream_rate_limit_stays_429_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "hi [[emulator: status=429, retry=7]]"}],
        )

    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_server_error_stays_a_server_error(client: openai.OpenAI, status: int) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": f"hi [[emulator: status={status}]]"}],
        )

    assert raised.value.status_code == status


def test_upstream_error_before_a_stream_starts_keeps_its_status(gateway: httpx.Client) -> None:
    body = {**_chat("hi [[emulator: status=429, retry=3]]"), "stream": True}

    response = gateway.post("/v1/chat/completions", json=body, headers=AUTH)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_upstream_timeout_is_504(emulator_url: str) -> None:
    config = model_list_config(emulator_url, request_timeout=0.3)
    with (
        serve(create_app(config)) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as raised,
    ):
        client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "hi [[emulator: latency=1500]]"}],
        )

    assert raised.value.status_code == 504
    assert raised.value.body["type"] == "timeout_error"  # type: ignore[index]


@pytest.fixture
def vertex_client(vertex_upstream: tuple[str, dict[str, str]]) -> Iterator[openai.OpenAI]:
    with (
        serve(create_app(vertex_config(*vertex_upstream))) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0) as client,
    ):
        yield client


def test_vertex_deployment_answers_chat_and_stream(
    vertex_client: openai.OpenAI, vertex_upstream: tuple[str, dict[str, str]]
) -> None:
    api_base, _ = vertex_upstream
    httpx.delete(f"{api_base}/emulator/requests")

    completion = vertex_client.chat.completions.create(model="vertex-flash", messages=USER)
    chunks = list(vertex_client.chat.completions.create(model="vertex-flash", messages=USER, stream=True))  # fmt: skip

    assert completion.choices[0].message.content == "Echo: Hello there"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: Hello there"  # fmt: skip
    seen = httpx.get(f"{api_base}/emulator/requests").json()["requests"]
    calls = [entry for entry in seen if entry["path"] != "/token"]
    assert [call["path"].rsplit(":", 1)[1] for call in calls] == ["generateContent", "streamGenerateContent"]  # fmt: skip
    assert all(
        "/projects/emulator-project/locations/us-central1/" in call["path"] for call in calls
    )
    assert all(MASTER_KEY not in call["headers"].get("authorization", "") for call in calls)
