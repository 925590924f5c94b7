"""The gateway middleware on a real gateway: master-key auth in every accepted form, errors in the
route's shape, request ids, the access log, and keys that never leak (to callers, logs or Google)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp.test_utils import make_mocked_request

from gemgate.emulator import EmulatorSettings
from gemgate.proxy import create_app
from gemgate.proxy.error_handlers import Surface
from gemgate.proxy.middleware import surface_of
from tests.proxy.conftest import CHAT_MODEL, EMBEDDING_MODEL, MASTER_KEY, model_list_config
from tests.servers import serve

# The real upstream key: distinctive, so that finding it anywhere is a leak.
REAL_KEY = "real-upstream-key-7f3a9c41d2"
CHAT = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
NATIVE = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}
GENERATE = f"/v1beta/models/{CHAT_MODEL}:generateContent"


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(api_keys=frozenset({REAL_KEY}))


@pytest.fixture
def gateway(emulator_url: str) -> Iterator[httpx.Client]:
    """Plain HTTP on a gateway with MASTER_KEY, calling the emulator with REAL_KEY."""
    with (
        serve(create_app(model_list_config(emulator_url, api_key=REAL_KEY))) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"authorization": f"Bearer {MASTER_KEY}"}, ""),
        ({"authorization": f"bearer {MASTER_KEY}"}, ""),
        ({"x-gemgate-api-key": f"Bearer {MASTER_KEY}"}, ""),
        ({"x-gemgate-api-key": MASTER_KEY}, ""),
        ({"x-litellm-api-key": f"Bearer {MASTER_KEY}"}, ""),
        ({"x-litellm-api-key": MASTER_KEY}, ""),
        ({"x-goog-api-key": MASTER_KEY}, ""),
        ({}, f"?key={MASTER_KEY}"),
        ({"authorization": "Basic Zm9vOmJhcg==", "x-goog-api-key": MASTER_KEY}, ""),
    ],
    ids=["bearer", "bearer-lower-case", "gemgate-header-bearer", "gemgate-header-bare",
         "litellm-header-bearer", "litellm-header-bare", "goog-header", "key-query",
         "other-scheme-then-goog-header"],
)  # fmt: skip
@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", CHAT), (GENERATE, NATIVE)])
def test_master_key_is_accepted_in_every_documented_form(
    gateway: httpx.Client, headers: dict[str, str], query: str, path: str, body: dict[str, Any]
) -> None:
    response = gateway.post(path + query, json=body, headers=headers)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"x-goog-api-key": "wrong"},
     {"authorization": "Bearer"}, {"x-gemgate-api-key": "Bearer"},
     {"authorization": f"Bearer {MASTER_KEY}x"}, {"authorization": f"Token {MASTER_KEY}"}],
    ids=["none", "wrong-bearer", "wrong-goog", "blank-bearer", "bare-bearer-word", "longer",
         "other-scheme"],
)  # fmt: skip
def test_missing_or_wrong_key_is_an_openai_401(
    gateway: httpx.Client, headers: dict[str, str]
) -> None:
    response = gateway.post("/v1/chat/completions", json=CHAT, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", GENERATE), ("GET", "/v1beta/models"), ("POST", "/gemini/v1beta/models/x:generateContent"),
     ("GET", "/v1/models?key=wrong")],
)  # fmt: skip
def test_wrong_key_on_google_routes_is_a_google_401(
    gateway: httpx.Client, method: str, path: str
) -> None:
    response = gateway.request(method, path, json=NATIVE, headers={"x-goog-api-key": "wrong"})

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert response.json()["error"]["code"] == 401


def test_without_a_master_key_the_gateway_is_open(emulator_url: str) -> None:
    config = model_list_config(emulator_url, api_key=REAL_KEY, master_key=None)
    with serve(create_app(config)) as url:
        chat = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
        native = httpx.post(f"{url}{GENERATE}", json=NATIVE, headers={"x-goog-api-key": "any"})

    assert (chat.status_code, native.status_code) == (200, 200)


@pytest.mark.parametrize(
    ("path", "headers", "surface"),
    [
        ("/v1/chat/completions", {}, Surface.OPENAI),
        ("/chat/completions", {}, Surface.OPENAI),
        ("/v1/models", {"authorization": "Bearer k"}, Surface.OPENAI),
        ("/v1/models", {"x-goog-api-key": "k"}, Surface.GOOGLE),
        ("/v1/models/gemini-flash", {"x-goog-api-client": "google-genai-sdk/1"}, Surface.GOOGLE),
        ("/v1/models?key=k", {}, Surface.GOOGLE),
        ("/v1/models/gemini-flash:generateContent", {}, Surface.GOOGLE),
        ("/v1beta/models", {}, Surface.GOOGLE),
        ("/v1alpha/models/m:countTokens", {}, Surface.GOOGLE),
        ("/gemini/v1beta/models", {}, Surface.GOOGLE),
        ("/v1/chat/completions?key=k", {"x-goog-api-key": "k"}, Surface.OPENAI),
        ("/v1/acct/gw/google-ai-studio/v1/models/m:generateContent", {}, Surface.GOOGLE),
        ("/v1/acct/gw/compat/chat/completions", {"x-goog-api-key": "k"}, Surface.OPENAI),
        ("/v1/acct/google-ai-studio/x", {}, Surface.OPENAI),
    ],
)
def test_surface_of_a_request(path: str, headers: dict[str, str], surface: Surface) -> None:
    assert surface_of(make_mocked_request("GET", path, headers=headers)) is surface


def test_request_id_from_the_caller_is_echoed(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/v1/chat/completions",
        json=CHAT,
        headers={"authorization": f"Bearer {MASTER_KEY}", "x-request-id": "caller-id-123"},
    )

    assert response.headers["x-request-id"] == "caller-id-123"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/v1/chat/completions", CHAT, {"authorization": f"Bearer {MASTER_KEY}"}),
        ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, {"authorization": f"Bearer {MASTER_KEY}"}),
        ("POST", f"/v1beta/models/{CHAT_MODEL}:streamGenerateContent", NATIVE, {"x-goog-api-key": MASTER_KEY}),
        ("POST", "/v1/chat/completions", CHAT, {}),
        ("GET", "/nowhere", None, {}),
        ("GET", "/health/liveliness", None, {}),
    ],
    ids=["answer", "openai-stream", "google-stream", "unauthenticated", "unknown-path", "probe"],
)  # fmt: skip
def test_every_answer_carries_a_generated_request_id(
    gateway: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    first = gateway.request(method, path, json=body, headers=headers)
    second = gateway.request(method, path, json=body, headers=headers)

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(request_id) == 32 for request_id in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize("given", ["has spaces in it", "x" * 129, "new\tline", ""])
def test_unsafe_request_id_is_replaced(gateway: httpx.Client, given: str) -> None:
    response = gateway.get("/health/liveliness", headers={"x-request-id": given})

    assert response.headers["x-request-id"] != given
    assert len(response.headers["x-request-id"]) == 32


def test_access_log_has_the_request_id_and_no_key(
    gateway: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gemgate.access")

    gateway.post(f"{GENERATE}?key={MASTER_KEY}", json=NATIVE, headers={"x-request-id": "trace-42"})

    [record] = [r for r in caplog.records if r.name == "gemgate.access"]
    assert record.request_id == "trace-42"  # type: ignore[attr-defined]
    assert (record.path, record.status, record.model) == (GENERATE, 200, CHAT_MODEL)  # type: ignore[attr-defined]
    assert MASTER_KEY not in caplog.text


def _leak_probes(gateway: httpx.Client) -> list[httpx.Response]:
    """One of everything: answers, streams, upstream errors, gateway errors, listings."""
    openai_key = {"authorization": f"Bearer {MASTER_KEY}"}
    google_key = {"x-goog-api-key": MASTER_KEY}
    stream = f"/v1beta/models/{CHAT_MODEL}:streamGenerateContent"
    return [
        gateway.post("/v1/chat/completions", json=CHAT, headers=openai_key),
        gateway.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=openai_key),
        gateway.post("/v1/completions", json={"model": CHAT_MODEL, "prompt": "hi"}, headers=openai_key),
        gateway.post("/v1/embeddings", json={"model": EMBEDDING_MODEL, "input": "hi"}, headers=openai_key),
        gateway.post(GENERATE, json=NATIVE, headers=google_key),
        gateway.post(f"{stream}?alt=sse&key={MASTER_KEY}", json=NATIVE),
        gateway.post(stream, json=NATIVE, headers=google_key),
        gateway.post(GENERATE, json={"contents": "zz"}, headers=google_key),
        gateway.post(GENERATE, json={"contents": [{"parts": [{"text": "x [[emulator: status=429]]"}]}]}, headers=google_key),
        gateway.post(GENERATE, json={"contents": [{"parts": [{"text": "x [[emulator: status=400]]"}]}]}, headers=google_key),
        gateway.post(f"{stream}?alt=sse", json={"contents": [{"parts": [{"text": "x [[emulator: break-after=1]]"}]}]}, headers=google_key),
        gateway.post("/v1/chat/completions", json={**CHAT, "model": "unknown"}, headers=openai_key),
        gateway.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer wrong"}),
        gateway.get("/v1/models", headers=openai_key),
        gateway.get("/v1beta/models", headers=google_key),
        gateway.get("/metrics"),
    ]  # fmt: skip


def test_real_and_master_keys_never_reach_callers_or_logs(
    gateway: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    responses = _leak_probes(gateway)

    assert {response.status_code for response in responses} >= {200, 400, 401, 404, 429}
    for response in responses:
        answer = response.content + orjson.dumps(dict(response.headers))
        assert REAL_KEY.encode() not in answer, response.request.url
        assert MASTER_KEY.encode() not in answer, response.request.url
    # The test's own HTTP client logs the URLs it calls; everything else is the servers' logging.
    logged = "\n".join(
        record.getMessage() + orjson.dumps(vars(record), default=str).decode()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    assert logged.count('"name":"gemgate.access"') == len(responses)
    assert REAL_KEY not in logged
    assert MASTER_KEY not in logged


def test_master_key_is_never_forwarded_upstream(gateway: httpx.Client, http: httpx.Client) -> None:
    http.delete("/emulator/requests")

    _leak_probes(gateway)

    seen = http.get("/emulator/requests").json()["requests"]
    assert len(seen) >= 8
    for request in seen:
        assert MASTER_KEY not in orjson.dumps(request).decode()
        assert request["headers"]["x-goog-api-key"] == REAL_KEY
        assert "authorization" not in request["headers"]
        assert "key=" not in request["query"]


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/v1/chat/completions", CHAT, {"authorization": f"Bearer {MASTER_KEY}"}),
        (GENERATE, NATIVE, {"x-goog-api-key": MASTER_KEY}),
    ],
    ids=["openai", "google"],
)
def test_caller_headers_are_not_forwarded_on_translated_routes(
    gateway: httpx.Client, http: httpx.Client, path: str, body: Any, headers: dict[str, str]
) -> None:
    http.delete("/emulator/requests")

    response = gateway.post(
        path, json=body, headers={**headers, "x-emulator-fault": "status=500", "x-custom": "1"}
    )

    assert response.status_code == 200
    [seen] = http.get("/emulator/requests").json()["requests"]
    assert not {"x-emulator-fault", "x-custom"} & set(seen["headers"])
