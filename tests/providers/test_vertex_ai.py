"""The Vertex AI provider: hosts per location, project paths, bearer tokens, express mode, quirks."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate import errors
from gemgate.client import AsyncGeminiClient
from gemgate.emulator.schema import check_request
from gemgate.providers.google_credentials import AccessTokens
from gemgate.providers.vertex_ai import VertexAi, vertex_ai_from, vertex_host
from gemgate.sync_client import GeminiClient
from tests.providers.conftest import PROJECT, VertexEmulator, vertex_emulator

HELLO = {"contents": [{"role": "user", "parts": [{"text": "hello vertex"}]}]}
MODEL_PATH = "publishers/google/models/gemini-2.5-flash:generateContent"


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("asia-northeast1", "https://asia-northeast1-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_each_location_has_its_host(location: str, host: str) -> None:
    assert vertex_host(location) == host


@pytest.mark.parametrize("location", ["us-central1", "global", "eu"])
def test_url_names_project_location_and_publisher_model(
    vertex: VertexEmulator, location: str
) -> None:
    api = build(vertex, location=location, api_base=None)
    assert api.url("gemini-2.5-flash", "generateContent") == (
        f"{vertex_host(location)}/v1/projects/{PROJECT}/locations/{location}/{MODEL_PATH}"
    )


@pytest.mark.parametrize(
    ("method", "stream", "suffix"),
    [
        ("streamGenerateContent", False, ":streamGenerateContent?alt=sse"),
        ("generateContent", True, ":streamGenerateContent?alt=sse"),
        ("countTokens", False, ":countTokens"),
        ("embedContent", False, ":embedContent"),
        ("predict", False, ":predict"),
    ],
)
def test_url_ends_with_the_method(
    vertex: VertexEmulator, method: str, stream: bool, suffix: str
) -> None:
    assert build(vertex).url("m", method, stream=stream).endswith(f"/publishers/google/models/m{suffix}")  # fmt: skip


@pytest.mark.parametrize(
    ("api_base", "env", "expected"),
    [
        ("http://arg", {"VERTEX_API_BASE": "http://env"}, "http://arg/v1/projects/"),
        (None, {"VERTEX_API_BASE": "http://env/vertex"}, "http://env/vertex/v1/projects/"),
        (None, {}, "https://us-central1-aiplatform.googleapis.com/v1/projects/"),
    ],
)
def test_base_url_comes_from_the_argument_then_the_environment(
    vertex: VertexEmulator, api_base: str | None, env: dict[str, str], expected: str
) -> None:
    assert (
        build(vertex, api_base=api_base, env=env).url("m", "generateContent").startswith(expected)
    )


@pytest.mark.parametrize(
    ("project", "key_project", "env", "expected"),
    [
        ("arg", PROJECT, {"VERTEXAI_PROJECT": "env"}, "arg"),
        (None, PROJECT, {"VERTEXAI_PROJECT": "env"}, PROJECT),
        (None, "", {"VERTEXAI_PROJECT": "env", "GOOGLE_CLOUD_PROJECT": "cloud"}, "env"),
        (None, "", {"GOOGLE_CLOUD_PROJECT": "cloud"}, "cloud"),
    ],
)
def test_project_comes_from_the_argument_the_key_file_then_the_environment(
    vertex: VertexEmulator,
    project: str | None,
    key_project: str,
    env: dict[str, str],
    expected: str,
) -> None:
    tokens = AccessTokens({**vertex.key_file, "project_id": key_project})
    api = vertex_ai_from(
        project=project, location=None, tokens=tokens, api_key=None, api_base=None,
        extra_headers={}, env=env,
    )  # fmt: skip
    assert api.project == expected


def test_no_project_anywhere_is_a_bad_request(vertex: VertexEmulator) -> None:
    tokens = AccessTokens({**vertex.key_file, "project_id": ""})
    with pytest.raises(errors.BadRequestError, match="vertex_project"):
        vertex_ai_from(
            project=None, location=None, tokens=tokens, api_key=None, api_base=None,
            extra_headers={}, env={},
        )  # fmt: skip


@pytest.mark.parametrize(
    ("location", "env", "expected"),
    [
        ("europe-west1", {"VERTEXAI_LOCATION": "asia-east1"}, "europe-west1"),
        (None, {"VERTEXAI_LOCATION": "asia-east1", "GOOGLE_CLOUD_LOCATION": "us"}, "asia-east1"),
        (None, {"GOOGLE_CLOUD_LOCATION": "global"}, "global"),
        (None, {}, "us-central1"),
    ],
)
def test_location_comes_from_the_argument_then_the_environment_else_us_central1(
    vertex: VertexEmulator, location: str | None, env: dict[str, str], expected: str
) -> None:
    assert build(vertex, location=location, api_base=None, env=env).location == expected


@pytest.mark.parametrize("location", ["US-CENTRAL1", "us central1", "evil.com/x", "", "-us"])
def test_a_location_that_is_no_region_name_is_refused(
    vertex: VertexEmulator, location: str
) -> None:
    with pytest.raises(errors.BadRequestError, match="not a Vertex AI location"):
        build(vertex, location=location or " ")


@pytest.mark.parametrize("project", ["my project", "p/../x", "p?x"])
def test_a_project_that_would_change_the_url_is_refused(
    vertex: VertexEmulator, project: str
) -> None:
    with pytest.raises(errors.BadRequestError, match="not a Google Cloud project id"):
        build(vertex, project=project)


def test_no_credentials_is_an_authentication_error() -> None:
    with pytest.raises(errors.AuthenticationError, match="vertex_credentials"):
        vertex_ai_from(
            project="p", location=None, tokens=None, api_key=None, api_base=None,
            extra_headers={}, env={},
        )  # fmt: skip


def test_embed_options_move_under_embed_content_config(vertex: VertexEmulator) -> None:
    body = {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "a"}]},
        "taskType": "RETRIEVAL_QUERY",
        "outputDimensionality": 8,
    }
    assert build(vertex).adapt_request(body, "embedContent") == {
        "content": {"parts": [{"text": "a"}]},
        "embedContentConfig": {"taskType": "RETRIEVAL_QUERY", "outputDimensionality": 8},
    }
    assert "taskType" in body


def test_batch_embed_requests_nest_their_options(vertex: VertexEmulator) -> None:
    body = {"requests": [{"content": {"parts": [{"text": "a"}]}, "title": "t"}]}
    assert build(vertex).adapt_request(body, "batchEmbedContents")["requests"] == [
        {"content": {"parts": [{"text": "a"}]}, "embedContentConfig": {"title": "t"}}
    ]


def test_generate_bodies_pass_unchanged(vertex: VertexEmulator) -> None:
    adapted = build(vertex).adapt_request(HELLO, "generateContent")
    assert adapted == HELLO
    check_request("GenerateContentRequest", adapted, is_vertex=True)


def test_generate_content_carries_a_bearer_token(vertex: VertexEmulator) -> None:
    with GeminiClient() as client:
        answer = client.post_json(build(vertex), "gemini-2.5-flash", "generateContent", HELLO, timeout=10)  # fmt: skip
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hello vertex"
    (request,) = vertex.model_requests()
    assert request["path"] == f"/v1/projects/{PROJECT}/locations/us-central1/{MODEL_PATH}"
    assert request["headers"]["authorization"].startswith("Bearer ya29.")
    assert "x-goog-user-project" not in request["headers"]


async def test_the_token_is_fetched_once_across_calls(vertex: VertexEmulator) -> None:
    api = build(vertex)
    async with AsyncGeminiClient() as client:
        for _ in range(3):
            await client.post_json(api, "gemini-2.5-flash", "generateContent", HELLO, timeout=10)
    assert vertex.token_requests() == 1 and len(vertex.model_requests()) == 3


async def test_an_expiring_token_is_refreshed_between_calls() -> None:
    with vertex_emulator(access_token_seconds=60) as emulator:
        api = build(emulator)
        async with AsyncGeminiClient() as client:
            for _ in range(2):
                await client.post_json(api, "gemini-2.5-flash", "generateContent", HELLO, timeout=10)  # fmt: skip
        tokens = {entry["headers"]["authorization"] for entry in emulator.model_requests()}
        assert emulator.token_requests() == 2 and len(tokens) == 2


def test_a_quota_project_is_sent_as_x_goog_user_project() -> None:
    with vertex_emulator(quota_project_id="billing-project") as emulator:
        with GeminiClient() as client:
            client.post_json(build(emulator), "gemini-2.5-flash", "generateContent", HELLO, timeout=10)  # fmt: skip
        (request,) = emulator.model_requests()
        assert request["headers"]["x-goog-user-project"] == "billing-project"


def test_express_mode_sends_the_key_without_a_project(vertex: VertexEmulator) -> None:
    api = vertex_ai_from(
        project=None, location="global", tokens=None, api_key="test-key", api_base=vertex.url,
        extra_headers={}, env={},
    )  # fmt: skip
    with GeminiClient() as client:
        client.post_json(api, "gemini-2.5-flash", "generateContent", HELLO, timeout=10)
    (request,) = vertex.model_requests()
    assert request["path"] == f"/v1/{MODEL_PATH}" and request["headers"]["x-goog-api-key"] == "test-key"  # fmt: skip
    assert vertex.token_requests() == 0 and "test-key" not in repr(api)


@pytest.mark.parametrize("location", ["us-central1", "global"])
def test_context_caches_live_in_the_project_and_location(vertex: VertexEmulator, location: str) -> None:  # fmt: skip
    api = build(vertex, location=location)
    parent = f"projects/{PROJECT}/locations/{location}"
    assert api.cached_contents_url() == f"{vertex.url}/v1/{parent}/cachedContents"
    assert api.cached_model_name("gemini-2.5-flash") == f"{parent}/publishers/google/models/gemini-2.5-flash"  # fmt: skip


def test_express_mode_has_no_place_for_context_caches(vertex: VertexEmulator) -> None:
    api = vertex_ai_from(
        project=None, location="global", tokens=None, api_key="test-key", api_base=vertex.url,
        extra_headers={}, env={},
    )  # fmt: skip
    with pytest.raises(errors.BadRequestError, match="vertex_credentials"):
        api.cached_contents_url()
    with pytest.raises(errors.BadRequestError, match="vertex_credentials"):
        api.cached_model_name("gemini-2.5-flash")


def test_the_emulator_embeds_an_adapted_embed_body(vertex: VertexEmulator) -> None:
    body = {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 16}
    with GeminiClient() as client:
        answer = client.post_json(build(vertex), "gemini-embedding-001", "embedContent", body, timeout=10)  # fmt: skip
    assert len(answer["embedding"]["values"]) == 16
    (request,) = vertex.model_requests()
    assert request["body"]["embedContentConfig"] == {"outputDimensionality": 16}


def build(vertex: VertexEmulator, **overrides: Any) -> VertexAi:
    arguments: dict[str, Any] = {
        "project": None,
        "location": None,
        "tokens": AccessTokens(vertex.key_file),
        "api_key": None,
        "api_base": vertex.url,
        "extra_headers": {},
        "env": {},
    }
    return vertex_ai_from(**{**arguments, **overrides})


async def test_a_vertex_stream_arrives_in_chunks(vertex: VertexEmulator) -> None:
    prompt = "stream me a reply that is long enough to come in pieces"
    payload = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    async with AsyncGeminiClient() as client:
        async with client.stream(build(vertex), "gemini-2.5-flash", "streamGenerateContent", payload, timeout=10) as chunks:  # fmt: skip
            received = [chunk async for chunk in chunks]
    text = "".join(c["candidates"][0]["content"]["parts"][0].get("text", "") for c in received)
    assert len(received) > 1 and text == f"Echo: {prompt}"
    (request,) = vertex.model_requests()
    assert request["path"].endswith(":streamGenerateContent") and request["query"] == "alt=sse"
