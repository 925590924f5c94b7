"""The native Gemini routes end to end: the official `google-genai` SDK and curl-shaped requests
against a real gateway in front of a served emulator; errors are Google-shaped."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors

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

KEY = {"x-goog-api-key": MASTER_KEY}
GENERATE = f"/v1beta/models/{CHAT_MODEL}:generateContent"
STREAM = f"/v1beta/models/{CHAT_MODEL}:streamGenerateContent"
STORY = "Write a long story about a lighthouse keeper and the sea"


def _prompt(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.fixture(params=["v1", "v1beta"])
def client(request: pytest.FixtureRequest, aliased_gateway_url: str) -> Iterator[genai.Client]:
    """The google-genai SDK pointed at the gateway, on both API versions it speaks."""
    options = {"base_url": aliased_gateway_url, "api_version": request.param}
    client = genai.Client(api_key=MASTER_KEY, http_options=options)  # type: ignore[arg-type]
    yield client
    client.close()


@pytest.fixture
def gateway(aliased_gateway_url: str) -> Iterator[httpx.Client]:
    """curl: plain HTTP on the gateway."""
    with httpx.Client(base_url=aliased_gateway_url, timeout=10) as client:
        yield client


def _sent(emulator_url: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = httpx.get(f"{emulator_url}/emulator/requests").json()["requests"]  # fmt: skip
    return requests


def test_seed_generate_content_with_a_model_list_name(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=CHAT_MODEL,
        contents=[{"parts": [{"text": "Write a short story about AI"}], "role": "user"}],
        config={"max_output_tokens": 100},
    )

    assert response.text == "Echo: Write a short story about AI"
    assert response.usage_metadata is not None
    assert (response.usage_metadata.total_token_count or 0) > 0


def test_seed_environment_variables_point_the_sdk_at_the_gateway(
    aliased_gateway_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", aliased_gateway_url)
    monkeypatch.setenv("GEMINI_API_KEY", MASTER_KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    client = genai.Client()

    response = client.models.generate_content(model=CHAT_MODEL, contents="Hello")

    client.close()
    assert response.text == "Echo: Hello"


def test_generate_content_stream_arrives_in_several_chunks(client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model=CHAT_MODEL, contents=STORY))

    assert len(chunks) > 1
    assert "".join(chunk.text or "" for chunk in chunks) == f"Echo: {STORY}"
    assert chunks[-1].usage_metadata is not None


def test_count_tokens(client: genai.Client) -> None:
    response = client.models.count_tokens(model=CHAT_MODEL, contents="Hello there, how are you?")

    assert (response.total_tokens or 0) > 0


@pytest.mark.parametrize(
    ("contents", "expected"),
    [("one text", 1), (["one", "two", "three"], 3)],
    ids=["one", "several"],
)
def test_embed_content_answers_one_vector_per_text(
    client: genai.Client, contents: str | list[str], expected: int
) -> None:
    response = client.models.embed_content(model=EMBEDDING_MODEL, contents=contents)

    embeddings = response.embeddings or []
    assert len(embeddings) == expected
    assert {len(embedding.values or []) for embedding in embeddings} == {3072}


def test_models_list_names_the_model_list(client: genai.Client) -> None:
    names = [model.name for model in client.models.list()]

    assert names == [f"models/{name}" for name in (CHAT_MODEL, THINKING_MODEL, EMBEDDING_MODEL)]


def test_models_get_describes_a_served_name(client: genai.Client) -> None:
    model = client.models.get(model=CHAT_MODEL)

    assert model.name == f"models/{CHAT_MODEL}"
    assert "generateContent" in (model.supported_actions or [])


@pytest.mark.parametrize(
    ("path", "headers"),
    [(f"/v1/models?key={MASTER_KEY}", {}), ("/v1/models", KEY), ("/v1beta/models", KEY)],
    ids=["v1-key-query", "v1-goog-header", "v1beta"],
)
def test_curl_model_list_is_google_shaped(
    gateway: httpx.Client, path: str, headers: dict[str, str]
) -> None:
    response = gateway.get(path, headers=headers)

    assert [model["name"] for model in response.json()["models"]][0] == f"models/{CHAT_MODEL}"


def test_openai_callers_of_v1_models_still_get_openai_shape(gateway: httpx.Client) -> None:
    response = gateway.get("/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"})

    assert response.json()["object"] == "list"


def test_sdk_sees_google_errors(client: genai.Client) -> None:
    with pytest.raises(genai_errors.ClientError) as raised:
        client.models.generate_content(model="no-such-model", contents="hi")

    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")


def test_generate_content_carries_its_cost(gateway: httpx.Client) -> None:
    response = gateway.post(GENERATE, json=_prompt("Hello"), headers=KEY)

    assert response.status_code == 200
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: Hello"
    assert Decimal(response.headers["x-gemgate-response-cost"]) > 0


def test_stream_without_alt_is_one_json_array_of_chunks(gateway: httpx.Client) -> None:
    response = gateway.post(STREAM, json=_prompt(STORY), headers=KEY)

    assert response.headers["content-type"].startswith("application/json")
    chunks = orjson.loads(response.content)
    assert isinstance(chunks, list) and len(chunks) > 1
    assert "".join(chunk["candidates"][0]["content"]["parts"][0]["text"] for chunk in chunks) == f"Echo: {STORY}"  # fmt: skip
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] > 0


def test_stream_with_alt_sse_is_server_sent_events(gateway: httpx.Client) -> None:
    response = gateway.post(f"{STREAM}?alt=sse", json=_prompt(STORY), headers=KEY)

    assert response.headers["content-type"].startswith("text/event-stream")
    events = [event for event in response.content.split(b"\r\n\r\n") if event]
    assert len(events) > 1
    assert all(event.startswith(b"data: {") for event in events)
    assert b"[DONE]" not in response.content


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("countTokens", _prompt("How many tokens?"), "totalTokens"),
        ("embedContent", {"content": {"parts": [{"text": "hi"}]}}, "embedding"),
    ],
)
def test_other_methods_answer_through_model_list_names(
    gateway: httpx.Client, method: str, body: dict[str, Any], field: str
) -> None:
    model = EMBEDDING_MODEL if method == "embedContent" else CHAT_MODEL

    response = gateway.post(f"/v1beta/models/{model}:{method}", json=body, headers=KEY)

    assert response.status_code == 200
    assert field in response.json()


def test_model_named_inside_a_batch_is_replaced_by_the_deployment_model(
    gateway: httpx.Client, emulator_url: str
) -> None:
    httpx.delete(f"{emulator_url}/emulator/requests")
    item = {"model": f"models/{EMBEDDING_MODEL}", "content": {"parts": [{"text": "hi"}]}}

    response = gateway.post(
        f"/v1beta/models/{EMBEDDING_MODEL}:batchEmbedContents",
        json={"requests": [item, item]},
        headers=KEY,
    )

    assert response.status_code == 200
    assert len(response.json()["embeddings"]) == 2
    [sent] = _sent(emulator_url)
    assert sent["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert {entry["model"] for entry in sent["body"]["requests"]} == {"models/gemini-embedding-001"}


def test_model_inside_count_tokens_request_is_replaced(
    gateway: httpx.Client, emulator_url: str
) -> None:
    httpx.delete(f"{emulator_url}/emulator/requests")
    inner = {"model": f"models/{CHAT_MODEL}", **_prompt("count me")}

    response = gateway.post(
        f"/v1beta/models/{CHAT_MODEL}:countTokens",
        json={"generateContentRequest": inner},
        headers=KEY,
    )

    assert response.status_code == 200
    [sent] = _sent(emulator_url)
    assert sent["body"]["generateContentRequest"]["model"] == "models/gemini-2.0-flash"


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "google_status", "message"),
    [
        (GENERATE, b"{nope", {}, 400, "INVALID_ARGUMENT", "not valid JSON"),
        (GENERATE, b"[]", {}, 400, "INVALID_ARGUMENT", "must be a JSON object"),
        (GENERATE, orjson.dumps({"contents": "zz"}), {}, 400, "INVALID_ARGUMENT", "Invalid value at 'contents'"),
        (GENERATE, orjson.dumps(_prompt("hi")), {"content-type": "text/plain"}, 415, "INVALID_ARGUMENT", "Content-Type"),
        ("/v1beta/models/gpt-4o:generateContent", orjson.dumps(_prompt("hi")), {}, 404, "NOT_FOUND", "'gpt-4o' is not served"),
        (f"/v1beta/models/{CHAT_MODEL}:predict", orjson.dumps(_prompt("hi")), {}, 404, "NOT_FOUND", "was not found"),
        (f"/v1beta/models/{CHAT_MODEL}", orjson.dumps(_prompt("hi")), {}, 404, "NOT_FOUND", "was not found"),
    ],
    ids=["invalid-json", "not-an-object", "contents-wrong-type", "wrong-content-type",
         "unknown-model", "unknown-method", "no-method"],
)  # fmt: skip
def test_bad_input_is_a_google_error_and_the_gateway_keeps_serving(
    gateway: httpx.Client,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    google_status: str,
    message: str,
) -> None:
    response = gateway.post(
        path, content=content, headers={"content-type": "application/json", **KEY, **headers}
    )

    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status)
    assert message in error["message"]
    assert gateway.post(GENERATE, json=_prompt("still there?"), headers=KEY).is_success


def test_body_over_the_size_limit_is_a_google_413(emulator_url: str) -> None:
    config = model_list_config(emulator_url, max_request_body_mb=0.01)
    with serve(create_app(config)) as url:
        response = httpx.post(f"{url}{GENERATE}", json=_prompt("x" * 20_000), headers=KEY)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == 413


def test_upstream_rate_limit_stays_429_with_retry_after_and_details(gateway: httpx.Client) -> None:
    response = gateway.post(
        GENERATE, json=_prompt("hi [[emulator: status=429, retry=7]]"), headers=KEY
    )

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert any(detail["@type"].endswith("RetryInfo") for detail in error["details"])


def test_upstream_rate_limit_on_a_stream_is_429_before_any_chunk(gateway: httpx.Client) -> None:
    response = gateway.post(
        f"{STREAM}?alt=sse", json=_prompt("hi [[emulator: status=429, retry=7]]"), headers=KEY
    )

    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_upstream_unavailable_stays_503(gateway: httpx.Client) -> None:
    response = gateway.post(GENERATE, json=_prompt("hi [[emulator: status=503]]"), headers=KEY)

    assert response.status_code == 503
    assert response.json()["error"]["status"] == "UNAVAILABLE"


def test_upstream_timeout_is_a_google_504(emulator_url: str) -> None:
    config = model_list_config(emulator_url, request_timeout=0.3)
    with serve(create_app(config)) as url:
        response = httpx.post(
            f"{url}{GENERATE}", json=_prompt("hi [[emulator: latency=1500]]"), headers=KEY
        )

    assert response.status_code == 504
    assert response.json()["error"]["status"] == "DEADLINE_EXCEEDED"


def test_without_a_model_list_gemini_model_ids_are_served_directly(gateway_url: str) -> None:
    path = "/v1beta/models/gemini-2.5-flash:generateContent"

    response = httpx.post(f"{gateway_url}{path}", json=_prompt("Hello"))
    listed = httpx.get(f"{gateway_url}/v1beta/models")

    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: Hello"
    assert "models/gemini-2.5-flash" in [model["name"] for model in listed.json()["models"]]


def test_vertex_deployment_answers_native_requests(
    vertex_upstream: tuple[str, dict[str, str]],
) -> None:
    api_base, _ = vertex_upstream
    httpx.delete(f"{api_base}/emulator/requests")
    with serve(create_app(vertex_config(*vertex_upstream))) as url:
        client = genai.Client(api_key=MASTER_KEY, http_options={"base_url": url})
        response = client.models.generate_content(model="vertex-flash", contents="Hello")
        client.close()

    assert response.text == "Echo: Hello"
    [call] = [entry for entry in _sent(api_base) if entry["path"] != "/token"]
    assert call["path"].endswith(
        "/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert call["headers"]["authorization"].startswith("Bearer ")
    assert MASTER_KEY not in call["headers"]["authorization"]
