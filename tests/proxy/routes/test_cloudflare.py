"""The hosted-gateway URL shape: a real gateway on loopback in front of the served emulator,
driven with the seed's curl request, google-genai and the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from pydantic import SecretStr

from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.config import GeneralSettings
from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import CHAT_MODEL, MASTER_KEY, model_list_config
from tests.servers import serve

HOSTED = "/v1/acct-0123/gw-main"
STUDIO = f"{HOSTED}/google-ai-studio"
# The seed's request (004): its model and body, with a gateway key in x-goog-api-key.
SEED_PATH = "/v1/models/gemini-1.0-pro:generateContent"
SEED_BODY = {"contents": [{"role": "user", "parts": [{"text": "What is Cloudflare?"}]}]}
COMPAT_MODEL = "google-ai-studio/gemini-2.0-flash"


def _keyed_config(api_base: str) -> ProxyConfig:
    settings = GeneralSettings(gemini_api_base=api_base, gemini_api_key=SecretStr(TEST_API_KEY),
                               master_key=SecretStr(MASTER_KEY))  # fmt: skip
    return ProxyConfig(general_settings=settings)


@pytest.fixture
def hosted_url(emulator_url: str) -> Iterator[str]:
    """A gateway behind MASTER_KEY with no model_list, the emulator's key as its real key."""
    with serve(create_app(_keyed_config(emulator_url))) as url:
        yield url


@pytest.fixture
def hosted(hosted_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hosted_url, timeout=10) as client:
        yield client


def _seen_by_google(http: httpx.Client) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = http.get("/emulator/requests").json()["requests"]
    return requests


def test_seed_curl_request_is_answered(hosted: httpx.Client) -> None:
    response = hosted.post(
        STUDIO + SEED_PATH,
        json=SEED_BODY,
        headers={"content-type": "application/json", "x-goog-api-key": MASTER_KEY},
    )

    assert response.status_code == 200
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: What is Cloudflare?"  # fmt: skip


def test_google_gets_the_real_key_and_never_the_gateway_key(
    hosted: httpx.Client, http: httpx.Client
) -> None:
    http.delete("/emulator/requests")

    hosted.post(f"{STUDIO}{SEED_PATH}?key={MASTER_KEY}", json=SEED_BODY,
                headers={"x-goog-api-key": MASTER_KEY})  # fmt: skip

    [seen] = _seen_by_google(http)
    assert (seen["path"], seen["query"]) == (SEED_PATH, "")
    assert seen["headers"]["x-goog-api-key"] == TEST_API_KEY
    assert MASTER_KEY not in str(seen)


@pytest.mark.parametrize("query", ["alt=sse", ""], ids=["sse", "json-array"])
def test_streams_are_relayed(hosted: httpx.Client, query: str) -> None:
    path = f"{STUDIO}/v1beta/models/gemini-2.0-flash:streamGenerateContent?{query}"

    response = hosted.post(path, json=SEED_BODY, headers={"x-goog-api-key": MASTER_KEY})

    assert response.status_code == 200
    assert response.content.count(b'"candidates"') > 1


# An authenticated hosted gateway: its token in cf-aig-authorization, the caller's own Google
# key beside it in x-goog-api-key (Cloudflare's "Authenticated Gateway" documentation).
CALLERS_GOOGLE_KEY = "AIza-callers-own-key"


def test_the_gateway_token_header_authenticates_and_never_reaches_google(
    hosted: httpx.Client, http: httpx.Client
) -> None:
    http.delete("/emulator/requests")
    headers = {"cf-aig-authorization": f"Bearer {MASTER_KEY}", "x-goog-api-key": CALLERS_GOOGLE_KEY}

    response = hosted.post(STUDIO + SEED_PATH, json=SEED_BODY, headers=headers)

    assert response.status_code == 200
    [seen] = _seen_by_google(http)
    assert seen["headers"]["x-goog-api-key"] == TEST_API_KEY
    assert "cf-aig-authorization" not in seen["headers"]
    assert MASTER_KEY not in str(seen) and CALLERS_GOOGLE_KEY not in str(seen)


def test_a_wrong_gateway_token_is_refused_whatever_key_sits_beside_it(
    hosted: httpx.Client,
) -> None:
    headers = {"cf-aig-authorization": "Bearer nope", "x-goog-api-key": MASTER_KEY}

    response = hosted.post(STUDIO + SEED_PATH, json=SEED_BODY, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_openai_sdk_authenticates_the_compat_endpoint_with_the_gateway_token(
    hosted_url: str,
) -> None:
    with openai.OpenAI(
        base_url=f"{hosted_url}{HOSTED}/compat", api_key="sk-callers-own-provider-key",
        default_headers={"cf-aig-authorization": f"Bearer {MASTER_KEY}"}, max_retries=0,
    ) as client:  # fmt: skip
        completion = client.chat.completions.create(
            model=COMPAT_MODEL, messages=[{"role": "user", "content": "hi"}]
        )

    assert completion.choices[0].message.content == "Echo: hi"


def test_a_wrong_key_gets_a_google_shaped_401(hosted: httpx.Client, http: httpx.Client) -> None:
    http.delete("/emulator/requests")

    response = hosted.post(STUDIO + SEED_PATH, json=SEED_BODY, headers={"x-goog-api-key": "nope"})

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert _seen_by_google(http) == []


def test_a_path_leaving_the_api_gets_a_google_shaped_400(hosted: httpx.Client) -> None:
    response = hosted.get(
        f"{STUDIO}/v1beta/%2e%2e/%2e%2e/admin", headers={"x-goog-api-key": MASTER_KEY}
    )

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_google_errors_are_relayed_in_googles_shape(hosted_url: str) -> None:
    client = genai.Client(api_key=MASTER_KEY, http_options={"base_url": hosted_url + STUDIO})

    with pytest.raises(genai_errors.ClientError) as raised:
        client.models.generate_content(model="no-such-model", contents="hi")

    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")


def test_google_genai_sdk_works_with_the_hosted_base_url(hosted_url: str) -> None:
    client = genai.Client(api_key=MASTER_KEY, http_options={"base_url": hosted_url + STUDIO})

    reply = client.models.generate_content(model="gemini-2.0-flash", contents="hello there")
    stream = client.models.generate_content_stream(
        model="gemini-2.0-flash", contents="hello there, tell me a long story"
    )

    assert reply.text == "Echo: hello there"
    assert "".join(chunk.text or "" for chunk in stream) == "Echo: hello there, tell me a long story"  # fmt: skip


def test_an_account_named_models_still_reaches_google(hosted: httpx.Client) -> None:
    response = hosted.get(
        "/v1/models/gw/google-ai-studio/v1beta/models?pageSize=2",
        headers={"x-goog-api-key": MASTER_KEY},
    )

    assert response.status_code == 200
    assert len(response.json()["models"]) == 2


@contextmanager
def _openai(base_url: str, api_key: str = MASTER_KEY) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{base_url}{HOSTED}/compat", api_key=api_key, max_retries=0
    ) as client:
        yield client


def test_openai_sdk_chats_through_the_compat_endpoint(hosted_url: str) -> None:
    with _openai(hosted_url) as client:
        completion = client.chat.completions.create(
            model=COMPAT_MODEL, messages=[{"role": "user", "content": "What is Cloudflare?"}]
        )

    assert completion.choices[0].message.content == "Echo: What is Cloudflare?"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


def test_openai_sdk_streams_through_the_compat_endpoint(hosted_url: str) -> None:
    with _openai(hosted_url) as client:
        stream = client.chat.completions.create(
            model=COMPAT_MODEL,
            messages=[{"role": "user", "content": "tell me a long story"}],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "Echo: tell me a long story"


def test_compat_calls_google_with_the_real_key(hosted_url: str, http: httpx.Client) -> None:
    http.delete("/emulator/requests")

    with _openai(hosted_url) as client:
        client.chat.completions.create(
            model=COMPAT_MODEL, messages=[{"role": "user", "content": "hi"}]
        )

    [seen] = _seen_by_google(http)
    assert seen["path"].endswith("/models/gemini-2.0-flash:generateContent")
    assert seen["headers"]["x-goog-api-key"] == TEST_API_KEY
    assert MASTER_KEY not in str(seen)


@pytest.mark.parametrize(
    "model", ["gemini-2.0-flash", "gemini/gemini-2.0-flash", "openai/gpt-4o", "google-ai-studio/"]
)
def test_compat_names_without_the_google_ai_studio_provider_are_openai_404s(
    hosted_url: str, model: str
) -> None:
    with _openai(hosted_url) as client, pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])

    assert raised.value.code == "model_not_found"


def test_compat_with_a_wrong_key_is_an_openai_401(hosted_url: str) -> None:
    with _openai(hosted_url, api_key="nope") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model=COMPAT_MODEL, messages=[{"role": "user", "content": "hi"}]
        )


@pytest.fixture
def aliased_hosted_url(emulator_url: str) -> Iterator[str]:
    with serve(create_app(model_list_config(emulator_url))) as url:
        yield url


def test_compat_with_a_model_list_serves_its_names(aliased_hosted_url: str) -> None:
    with _openai(aliased_hosted_url) as client:
        completion = client.chat.completions.create(
            model=f"google-ai-studio/{CHAT_MODEL}", messages=[{"role": "user", "content": "hi"}]
        )
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model=COMPAT_MODEL, messages=[{"role": "user", "content": "hi"}]
            )

    assert completion.choices[0].message.content == "Echo: hi"
