"""The Gemini Developer API provider: URLs, key precedence, the key header, body quirks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gemgate import errors
from gemgate.emulator.schema import check_request
from gemgate.providers.gemini_api import GeminiApi, gemini_api_from
from gemgate.sync_client import GeminiClient
from tests.conftest import TEST_API_KEY

HELLO = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


def provider(api_base: str = "https://generativelanguage.googleapis.com") -> GeminiApi:
    return GeminiApi(api_key="k", api_base=api_base)


@pytest.mark.parametrize(
    ("method", "stream", "expected"),
    [
        ("generateContent", False, "models/gemini-2.5-flash:generateContent"),
        ("streamGenerateContent", False, "models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        ("generateContent", True, "models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        ("countTokens", False, "models/gemini-2.5-flash:countTokens"),
        ("embedContent", False, "models/gemini-2.5-flash:embedContent"),
        ("batchEmbedContents", False, "models/gemini-2.5-flash:batchEmbedContents"),
    ],
)
def test_url_names_the_model_and_method_on_v1beta(method: str, stream: bool, expected: str) -> None:
    url = provider().url("gemini-2.5-flash", method, stream=stream)
    assert url == f"https://generativelanguage.googleapis.com/v1beta/{expected}"


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090/v1beta/models/m:generateContent"),
        ("http://proxy/gemini/", "http://proxy/gemini/v1beta/models/m:generateContent"),
        ("http://proxy/v1", "http://proxy/v1/models/m:generateContent"),
        ("https://host/x/v1alpha", "https://host/x/v1alpha/models/m:generateContent"),
        ("http://v1beta", "http://v1beta/v1beta/models/m:generateContent"),
    ],
)
def test_api_base_keeps_its_path_and_a_version_it_names(api_base: str, expected: str) -> None:
    assert provider(api_base).url("m", "generateContent") == expected


def test_a_models_prefix_on_the_id_is_not_doubled() -> None:
    assert (
        provider()
        .url("models/gemini-2.5-pro", "countTokens")
        .endswith("/v1beta/models/gemini-2.5-pro:countTokens")
    )


@pytest.mark.parametrize("model", ["", "a/b", "m?key=x", "m#f", "m:generateContent", " "])
def test_a_model_id_that_would_change_the_url_is_refused(model: str) -> None:
    with pytest.raises(errors.BadRequestError, match="not a model id"):
        provider().url(model, "generateContent")


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        ("https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta/cachedContents"),
        ("http://proxy/gemini/v1alpha", "http://proxy/gemini/v1alpha/cachedContents"),
    ],
)  # fmt: skip
def test_context_caches_live_in_the_cached_contents_collection(api_base: str, expected: str) -> None:  # fmt: skip
    assert provider(api_base).cached_contents_url() == expected
    assert provider(api_base).cached_model_name("models/gemini-2.5-flash") == "models/gemini-2.5-flash"  # fmt: skip


def test_an_unknown_method_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown Gemini method"):
        provider().url("m", "generate")


@pytest.mark.parametrize(
    ("api_key", "env", "expected"),
    [
        ("arg", {"GEMINI_API_KEY": "gemini", "GOOGLE_API_KEY": "google"}, "arg"),
        (None, {"GEMINI_API_KEY": "gemini", "GOOGLE_API_KEY": "google"}, "gemini"),
        (None, {"GEMINI_API_KEY": "", "GOOGLE_API_KEY": "google"}, "google"),
    ],
)
def test_key_comes_from_the_argument_then_the_environment(
    api_key: str | None, env: dict[str, str], expected: str
) -> None:
    api = gemini_api_from(api_key=api_key, api_base=None, extra_headers={}, env=env)
    assert api.auth_headers_sync() == {"x-goog-api-key": expected}


@pytest.mark.parametrize("env", [{}, {"GEMINI_API_KEY": ""}])
def test_no_key_is_an_authentication_error(env: dict[str, str]) -> None:
    with pytest.raises(errors.AuthenticationError, match="GEMINI_API_KEY"):
        gemini_api_from(api_key=None, api_base=None, extra_headers={}, env=env)


@pytest.mark.parametrize(
    ("api_base", "env", "expected"),
    [
        ("http://arg", {"GEMINI_API_BASE": "http://env"}, "http://arg"),
        (None, {"GEMINI_API_BASE": "http://env"}, "http://env"),
        (None, {}, "https://generativelanguage.googleapis.com"),
    ],
)
def test_base_url_comes_from_the_argument_then_the_environment(
    api_base: str | None, env: dict[str, str], expected: str
) -> None:
    api = gemini_api_from(api_key="k", api_base=api_base, extra_headers={}, env=env)
    assert api.api_base == expected


def test_a_base_url_without_a_scheme_is_refused_before_any_call() -> None:
    with pytest.raises(errors.BadRequestError, match="api_base"):
        gemini_api_from(api_key="k", api_base="localhost:8090", extra_headers={}, env={})


def test_the_key_is_not_in_the_repr() -> None:
    assert "secret" not in repr(GeminiApi(api_key="secret"))


async def test_async_auth_headers_match_the_sync_ones() -> None:
    assert await provider().auth_headers() == provider().auth_headers_sync()


def test_batch_embed_requests_name_their_model() -> None:
    body: dict[str, Any] = {
        "requests": [{"content": {"parts": [{"text": "a"}]}}, {"content": {"parts": []}}]
    }
    adapted = provider().adapt_request(body, "batchEmbedContents", model="gemini-embedding-001")
    assert [entry["model"] for entry in adapted["requests"]] == ["models/gemini-embedding-001"] * 2
    assert "model" not in body["requests"][0]
    check_request("BatchEmbedContentsRequest", adapted)


def test_a_model_already_named_in_a_batch_request_is_kept() -> None:
    body = {"requests": [{"model": "models/x", "content": {"parts": [{"text": "a"}]}}]}
    adapted = provider().adapt_request(body, "batchEmbedContents", model="y")
    assert adapted["requests"][0]["model"] == "models/x"


def test_other_bodies_pass_unchanged() -> None:
    assert provider().adapt_request(HELLO, "generateContent", model="m") == HELLO


def test_the_key_travels_in_a_header_and_never_in_the_url(
    emulator_url: str, http: httpx.Client
) -> None:
    api = GeminiApi(api_key=TEST_API_KEY, api_base=emulator_url)
    with GeminiClient() as client:
        answer = client.post_json(api, "gemini-2.5-flash", "generateContent", HELLO, timeout=10)
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hello"
    (recorded,) = http.get("/emulator/requests").json()["requests"]
    assert recorded["headers"]["x-goog-api-key"] == TEST_API_KEY
    assert recorded["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert TEST_API_KEY not in recorded["query"] and "key=" not in recorded["query"]


@pytest.mark.parametrize("api_base", ["localhost:8090", "ftp://host", "http://", "http://[::1", ""])
def test_a_base_url_that_is_no_http_url_is_refused(api_base: str) -> None:
    with pytest.raises(errors.BadRequestError, match="api_base must be"):
        GeminiApi(api_key="k", api_base=api_base).url("m", "generateContent")
