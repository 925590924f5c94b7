"""`gemini/<m>` and `vertex_ai/<m>` with transport arguments → a provider, checked before any call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gemgate import errors
from gemgate.providers.gemini_api import GeminiApi
from gemgate.providers.resolve import ProviderRegistry, resolve_model, split_transport_params
from gemgate.providers.vertex_ai import VertexAi
from gemgate.sync_client import GeminiClient
from tests.providers.conftest import PROJECT, VertexEmulator

HELLO = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemini/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini/gemini-3-flash-preview", "gemini-3-flash-preview"),
    ],
)
def test_gemini_prefix_picks_the_developer_api(model: str, expected: str) -> None:
    provider, model_id = resolve_model(model, {"api_key": "k"}, env={})
    assert isinstance(provider, GeminiApi) and model_id == expected


@pytest.mark.parametrize("model", ["vertex_ai/gemini-2.5-flash", "vertex_ai_beta/gemini-2.5-flash"])
def test_vertex_prefixes_pick_vertex_ai(vertex: VertexEmulator, model: str) -> None:
    provider, model_id = resolve_model(model, {"vertex_credentials": vertex.key_file}, env={})
    assert isinstance(provider, VertexAi) and model_id == "gemini-2.5-flash"
    assert provider.project == PROJECT and provider.location == "us-central1"


@pytest.mark.parametrize(
    "model", ["openai/gpt-4o", "gpt-4o", "gemini-2.5-flash", "gemini/", "vertex_ai/", "/m", ""]
)
def test_an_unknown_or_missing_prefix_is_a_bad_request(model: str) -> None:
    with pytest.raises(errors.BadRequestError, match="use gemini/<model> or vertex_ai/<model>"):
        resolve_model(model, {"api_key": "k"}, env={})


def test_a_gemini_model_without_a_key_fails_before_any_call() -> None:
    with pytest.raises(errors.AuthenticationError, match="GEMINI_API_KEY"):
        resolve_model("gemini/gemini-2.5-flash", {}, env={})


def test_a_vertex_model_without_credentials_fails_before_any_call() -> None:
    with pytest.raises(errors.AuthenticationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        resolve_model("vertex_ai/gemini-2.5-flash", {"vertex_project": "p"}, env={})


def test_the_environment_given_is_the_one_read() -> None:
    env = {"GEMINI_API_KEY": "from-env", "GEMINI_API_BASE": "http://env-base"}
    provider, _ = resolve_model("gemini/m", {}, env=env)
    assert isinstance(provider, GeminiApi)
    assert (provider.api_key, provider.api_base) == ("from-env", "http://env-base")


def test_transport_arguments_reach_the_provider(vertex: VertexEmulator) -> None:
    params = {
        "vertex_credentials": orjson.dumps(vertex.key_file).decode(),
        "vertex_project": "other-project",
        "vertex_location": "europe-west4",
        "api_base": "http://base",
        "extra_headers": {"x-trace": "1"},
        "temperature": 0.2,
    }
    provider, _ = resolve_model("vertex_ai/m", params, env={})
    assert isinstance(provider, VertexAi)
    assert (provider.project, provider.location, provider.api_base) == (
        "other-project", "europe-west4", "http://base",
    )  # fmt: skip
    assert provider.extra_headers == {"x-trace": "1"}


def test_credentials_path_from_the_environment(vertex: VertexEmulator, tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(orjson.dumps(vertex.key_file))
    provider, _ = resolve_model("vertex_ai/m", {}, env={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})  # fmt: skip
    assert isinstance(provider, VertexAi) and provider.tokens is not None


def test_an_api_key_without_credentials_is_vertex_express_mode() -> None:
    provider, _ = resolve_model("vertex_ai/m", {"api_key": "k"}, env={})
    assert isinstance(provider, VertexAi) and provider.tokens is None
    assert provider.url("m", "generateContent") == (
        "https://us-central1-aiplatform.googleapis.com/v1/publishers/google/models/m:generateContent"
    )


def test_explicit_credentials_win_over_an_api_key(vertex: VertexEmulator) -> None:
    params = {"api_key": "k", "vertex_credentials": vertex.key_file}
    provider, _ = resolve_model("vertex_ai/m", params, env={})
    assert isinstance(provider, VertexAi) and provider.tokens is not None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"api_key": 123}, "api_key must be a string"),
        ({"api_key": "k", "api_base": ["http://x"]}, "api_base must be a string"),
        ({"api_key": "k", "extra_headers": {"x": 1}}, "extra_headers must map"),
        ({"api_key": "k", "extra_headers": "x: 1"}, "extra_headers must map"),
    ],
)
def test_transport_arguments_of_the_wrong_type_are_bad_requests(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.BadRequestError, match=message):
        resolve_model("gemini/m", params, env={})


def test_vertex_credentials_of_the_wrong_type_are_a_bad_request() -> None:
    with pytest.raises(errors.BadRequestError, match="vertex_credentials must be"):
        resolve_model("vertex_ai/m", {"vertex_credentials": 42}, env={})


def test_the_registry_shares_one_credential_however_it_is_given(
    vertex: VertexEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(orjson.dumps(vertex.key_file))
    registry = ProviderRegistry()
    sources: list[Any] = [vertex.key_file, orjson.dumps(vertex.key_file).decode(), str(path), path]
    shared = {id(registry.access_tokens(source)) for source in sources}
    assert len(shared) == 1
    assert registry.access_tokens({**vertex.key_file, "private_key_id": "x"}) is not (
        registry.access_tokens(vertex.key_file)
    )


def test_calls_resolved_through_one_registry_fetch_one_token(vertex: VertexEmulator) -> None:
    registry = ProviderRegistry()
    params = {"vertex_credentials": vertex.key_file, "api_base": vertex.url}
    with GeminiClient() as client:
        for _ in range(3):
            provider, model = resolve_model("vertex_ai/gemini-2.5-flash", params, env={}, registry=registry)  # fmt: skip
            client.post_json(provider, model, "generateContent", HELLO, timeout=10)
    assert vertex.token_requests() == 1 and len(vertex.model_requests()) == 3


def test_split_transport_params_separates_where_from_what() -> None:
    transport, rest = split_transport_params(
        {"api_key": "k", "vertex_location": "eu", "temperature": 0, "extra_headers": {}}
    )
    assert transport == {"api_key": "k", "vertex_location": "eu", "extra_headers": {}}
    assert rest == {"temperature": 0}


def test_a_registry_remembers_a_resolution_for_the_same_arguments() -> None:
    registry = ProviderRegistry()
    params = {"api_key": "k", "extra_headers": {"x-team": "a"}}
    first = resolve_model("gemini/gemini-2.5-flash", params, env={}, registry=registry)
    again = resolve_model("gemini/gemini-2.5-flash", dict(params), env={}, registry=registry)
    assert again[0] is first[0]
    other = resolve_model("gemini/gemini-2.5-flash", {"api_key": "k2"}, env={}, registry=registry)
    assert other[0] is not first[0] and other[0].auth_headers_sync() != first[0].auth_headers_sync()


def test_a_changed_environment_variable_is_read_again() -> None:
    registry = ProviderRegistry()
    first, _ = resolve_model("gemini/m", {}, env={"GEMINI_API_KEY": "old"}, registry=registry)
    second, _ = resolve_model("gemini/m", {}, env={"GEMINI_API_KEY": "new"}, registry=registry)
    assert first.auth_headers_sync() == {"x-goog-api-key": "old"}
    assert second.auth_headers_sync() == {"x-goog-api-key": "new"}


def test_credentials_given_as_a_mapping_resolve_afresh(vertex: VertexEmulator) -> None:
    registry = ProviderRegistry()
    params = {"vertex_credentials": dict(vertex.key_file), "vertex_location": "europe-west4"}
    first, _ = resolve_model("vertex_ai/gemini-2.5-flash", params, env={}, registry=registry)
    again, _ = resolve_model("vertex_ai/gemini-2.5-flash", params, env={}, registry=registry)
    assert again is not first and again == first
