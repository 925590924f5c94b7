"""The emulator's cachedContents on the Developer API (google-genai SDK) and Vertex AI (raw HTTP)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.caches import find_cache
from gemgate.emulator.tokens import text_tokens
from tests.clock import FakeClock

START = 1_790_000_000.0
LONG_TEXT = "The quick brown fox jumps over the lazy dog. " * 4
SYSTEM = "Answer in French."
DEV_AUTH = {"x-goog-api-key": "test-key"}
VERTEX_AUTH = {"Authorization": "Bearer vertex-token"}
VERTEX_PARENT = "projects/demo/locations/us-central1"
VERTEX_MODEL = f"{VERTEX_PARENT}/publishers/google/models/gemini-2.5-flash"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emulator_app(emulator_settings: EmulatorSettings, clock: FakeClock) -> Starlette:
    app = create_emulator_app(emulator_settings, clock=clock)
    app.state.emulator.access_tokens["vertex-token"] = START + 3600
    return app


@pytest.fixture
def client(emulator_url: str) -> genai.Client:
    return genai.Client(api_key="test-key", http_options={"base_url": emulator_url})


def create(client: genai.Client, **config: Any) -> types.CachedContent:
    settings = types.CreateCachedContentConfig.model_validate(
        {"contents": [LONG_TEXT], "system_instruction": SYSTEM, **config}
    )
    return client.caches.create(model="gemini-2.5-flash", config=settings)


def cache_body(**fields: Any) -> dict[str, Any]:
    return {
        "model": "models/gemini-2.5-flash",
        "contents": [{"role": "user", "parts": [{"text": LONG_TEXT}]}],
        **fields,
    }


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_create_counts_tokens_of_contents_and_system_instruction(client: genai.Client) -> None:
    cache = create(client)

    assert cache.usage_metadata is not None
    assert cache.usage_metadata.total_token_count == text_tokens(LONG_TEXT) + text_tokens(SYSTEM)


def test_create_answers_metadata_only(http: httpx.Client) -> None:
    body = cache_body(displayName="doc", systemInstruction={"parts": [{"text": SYSTEM}]})

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 200
    assert set(response.json()) == {"name", "model", "displayName", "createTime", "updateTime",
                                    "expireTime", "usageMetadata"}  # fmt: skip


def test_create_accepts_snake_case_keys(http: httpx.Client) -> None:
    body = cache_body(display_name="doc", system_instruction={"parts": [{"text": SYSTEM}]})

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 200
    assert response.json()["displayName"] == "doc"
    assert response.json()["usageMetadata"]["totalTokenCount"] == (
        text_tokens(LONG_TEXT) + text_tokens(SYSTEM)
    )


def test_create_without_ttl_lives_for_the_default_ttl(
    client: genai.Client, emulator_settings: EmulatorSettings
) -> None:
    cache = create(client)

    assert cache.create_time is not None and cache.expire_time is not None
    assert cache.create_time.timestamp() == START
    lifetime = cache.expire_time - cache.create_time
    assert lifetime.total_seconds() == emulator_settings.default_cache_ttl_seconds


def test_create_with_ttl_expires_after_it(client: genai.Client) -> None:
    cache = create(client, ttl="300s")

    assert cache.expire_time is not None
    assert cache.expire_time.timestamp() == START + 300


def test_create_with_expire_time_expires_then(client: genai.Client) -> None:
    moment = datetime.fromtimestamp(START, UTC) + timedelta(days=1)

    cache = create(client, expire_time=moment)

    assert cache.expire_time == moment


def test_get_returns_the_cache(client: genai.Client) -> None:
    cache = create(client, display_name="doc")
    assert cache.name is not None

    fetched = client.caches.get(name=cache.name)

    assert (fetched.name, fetched.display_name) == (cache.name, "doc")
    assert fetched.model == "models/gemini-2.5-flash"


def test_list_pages_through_every_cache(client: genai.Client) -> None:
    names = {create(client).name for _ in range(3)}

    listed = {cache.name for cache in client.caches.list(config={"page_size": 2})}

    assert listed == names


def test_update_moves_the_expiry(client: genai.Client, clock: FakeClock) -> None:
    cache = create(client)
    assert cache.name is not None
    clock.now += 10

    updated = client.caches.update(name=cache.name, config={"ttl": "600s"})

    assert updated.expire_time is not None and updated.update_time is not None
    assert updated.expire_time.timestamp() == START + 10 + 600
    assert updated.update_time.timestamp() == START + 10


def test_update_with_an_update_mask_is_accepted(client: genai.Client, http: httpx.Client) -> None:
    name = create(client).name

    response = http.patch(
        f"/v1beta/{name}", params={"updateMask": "ttl"}, json={"ttl": "60s"}, headers=DEV_AUTH
    )

    assert response.status_code == 200
    assert response.json()["expireTime"] == "2026-09-21T14:14:20.000000Z"


def test_update_of_anything_but_the_expiry_is_rejected(
    client: genai.Client, http: httpx.Client
) -> None:
    name = create(client).name

    response = http.patch(f"/v1beta/{name}", json={"displayName": "renamed"}, headers=DEV_AUTH)

    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_delete_forgets_the_cache(client: genai.Client) -> None:
    cache = create(client)
    assert cache.name is not None

    client.caches.delete(name=cache.name)

    with pytest.raises(errors.ClientError) as caught:
        client.caches.get(name=cache.name)
    assert caught.value.code == 403


def test_find_cache_returns_the_stored_contents(
    client: genai.Client, emulator_app: Starlette
) -> None:
    cache = create(client)
    assert cache.name is not None

    stored = find_cache(emulator_app.state.emulator, cache.name)

    assert stored is not None
    assert stored["contents"][0]["parts"] == [{"text": LONG_TEXT}]
    assert stored["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    assert stored["usageMetadata"]["totalTokenCount"] > 0


def test_expired_cache_is_gone(
    client: genai.Client, clock: FakeClock, emulator_app: Starlette
) -> None:
    cache = create(client, ttl="60s")
    assert cache.name is not None

    clock.now += 61

    with pytest.raises(errors.ClientError) as caught:
        client.caches.get(name=cache.name)
    assert caught.value.code == 403
    assert list(client.caches.list()) == []
    assert find_cache(emulator_app.state.emulator, cache.name) is None


def test_unknown_cache_is_denied_as_google_denies_it(http: httpx.Client) -> None:
    response = http.get("/v1beta/cachedContents/nosuchcache", headers=DEV_AUTH)

    assert response.status_code == 403
    assert response.json() == {"error": {"code": 403, "status": "PERMISSION_DENIED",
                               "message": "CachedContent not found (or permission denied)"}}  # fmt: skip


def test_too_small_cache_is_rejected_with_google_message(http: httpx.Client) -> None:
    body = cache_body(contents=[{"role": "user", "parts": [{"text": "tiny"}]}])

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Cached content is too small. total_token_count=1, min_total_token_count=16"
    )


def test_unknown_field_in_the_body_is_rejected(http: httpx.Client) -> None:
    response = http.post("/v1beta/cachedContents", json=cache_body(colour="red"), headers=DEV_AUTH)

    assert response.status_code == 400
    assert 'Unknown name "colour"' in error_of(response)["message"]


def test_missing_model_is_rejected(http: httpx.Client) -> None:
    body = cache_body()
    del body["model"]

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_bare_model_id_is_rejected(http: httpx.Client) -> None:
    body = cache_body(model="gemini-2.5-flash")

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 400


@pytest.mark.parametrize("model", ["models/no-such-model", "models/gemini-embedding-001"])
def test_model_that_cannot_cache_is_not_found(http: httpx.Client, model: str) -> None:
    response = http.post("/v1beta/cachedContents", json=cache_body(model=model), headers=DEV_AUTH)

    assert response.status_code == 404
    assert error_of(response)["message"].startswith(f"{model} is not found for API version v1beta")


def test_ttl_and_expire_time_together_are_rejected(http: httpx.Client) -> None:
    body = cache_body(ttl="60s", expireTime="2030-01-01T00:00:00Z")

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 400
    assert "Oneof field 'expiration'" in error_of(response)["message"]


def test_expire_time_in_the_past_is_rejected(http: httpx.Client) -> None:
    body = cache_body(expireTime="2020-01-01T00:00:00Z")

    response = http.post("/v1beta/cachedContents", json=body, headers=DEV_AUTH)

    assert response.status_code == 400


def test_cache_of_an_uploaded_file_is_accepted(client: genai.Client) -> None:
    uploaded = client.files.upload(
        file=io.BytesIO(LONG_TEXT.encode()), config={"mime_type": "text/plain"}
    )
    assert uploaded.uri is not None and uploaded.mime_type is not None

    cache = create(
        client, contents=[types.Part.from_uri(file_uri=uploaded.uri, mime_type=uploaded.mime_type)]
    )

    assert cache.usage_metadata is not None
    assert cache.usage_metadata.total_token_count == text_tokens(LONG_TEXT) + text_tokens(SYSTEM)


def test_cache_of_a_missing_file_is_denied(client: genai.Client, emulator_url: str) -> None:
    part = types.Part.from_uri(file_uri=f"{emulator_url}/v1beta/files/gone", mime_type="text/plain")

    with pytest.raises(errors.ClientError) as caught:
        create(client, contents=[part])
    assert caught.value.code == 403


def test_wrong_api_key_is_rejected(emulator_url: str) -> None:
    client = genai.Client(api_key="wrong-key", http_options={"base_url": emulator_url})

    with pytest.raises(errors.ClientError) as caught:
        create(client)
    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"


def vertex_create(http: httpx.Client, **fields: Any) -> httpx.Response:
    body = cache_body(model=VERTEX_MODEL, **fields)
    return http.post(f"/v1/{VERTEX_PARENT}/cachedContents", json=body, headers=VERTEX_AUTH)


def test_vertex_create_names_the_cache_in_its_project(http: httpx.Client) -> None:
    response = vertex_create(http, ttl="120s")

    cache = response.json()
    assert response.status_code == 200
    assert cache["name"].startswith(f"{VERTEX_PARENT}/cachedContents/")
    assert cache["name"].rsplit("/", 1)[-1].isdigit()
    assert cache["model"] == VERTEX_MODEL
    assert "contents" not in cache


def test_vertex_get_update_delete_round_trip(http: httpx.Client) -> None:
    name = vertex_create(http).json()["name"]

    fetched = http.get(f"/v1beta1/{name}", headers=VERTEX_AUTH)
    patched = http.patch(f"/v1/{name}", json={"ttl": "30s"}, headers=VERTEX_AUTH)
    deleted = http.delete(f"/v1/{name}", headers=VERTEX_AUTH)
    gone = http.get(f"/v1/{name}", headers=VERTEX_AUTH)

    assert fetched.json()["name"] == name
    assert patched.json()["expireTime"] == "2026-09-21T14:13:50.000000Z"
    assert deleted.json() == {}
    assert gone.status_code == 404
    assert (
        error_of(gone)["message"]
        == f"Not found: cached content metadata for {name.rsplit('/', 1)[-1]}."
    )


def test_vertex_list_shows_only_the_projects_caches(
    client: genai.Client, http: httpx.Client
) -> None:
    create(client)
    name = vertex_create(http).json()["name"]

    listed = http.get(f"/v1/{VERTEX_PARENT}/cachedContents", headers=VERTEX_AUTH).json()
    elsewhere = http.get(
        "/v1/projects/other/locations/us-central1/cachedContents", headers=VERTEX_AUTH
    )

    assert [cache["name"] for cache in listed["cachedContents"]] == [name]
    assert elsewhere.json() == {}


def test_vertex_accepts_an_encryption_spec(http: httpx.Client) -> None:
    response = vertex_create(http, encryptionSpec={"kmsKeyName": "projects/demo/keys/k"})

    assert response.status_code == 200


def test_vertex_without_a_bearer_token_is_unauthenticated(http: httpx.Client) -> None:
    response = http.get(f"/v1/{VERTEX_PARENT}/cachedContents")

    assert response.status_code == 401
    assert error_of(response)["status"] == "UNAUTHENTICATED"


def test_vertex_rejects_a_developer_api_model_name(http: httpx.Client) -> None:
    response = http.post(
        f"/v1/{VERTEX_PARENT}/cachedContents", json=cache_body(), headers=VERTEX_AUTH
    )

    assert response.status_code == 400


def test_vertex_rejects_a_developer_api_version(http: httpx.Client) -> None:
    response = http.get(f"/v1beta/{VERTEX_PARENT}/cachedContents", headers=VERTEX_AUTH)

    assert response.status_code == 404
