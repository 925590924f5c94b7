"""ANY /vertex_ai/{path} and /vertex_ai/discovery/{path}: the seed's curl examples through a real
gateway in front of the emulator, the three credential sources, and what never crosses over."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.auth.transport.requests import Request as TokenRequest
from google.oauth2 import service_account
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemgate.proxy import create_app
from gemgate.proxy.config import ProxyConfig, parse_config
from tests.proxy.conftest import MASTER_KEY
from tests.servers import serve

PROJECT = "emulator-project"
SCOPE = f"/v1/projects/{PROJECT}/locations/us-central1"
MODELS = f"{SCOPE}/publishers/google/models"
GATEWAY_KEY = {"x-litellm-api-key": f"Bearer {MASTER_KEY}"}
HOW_ARE_YOU = {"contents": [{"role": "user", "parts": [{"text": "How are you doing today?"}]}]}
HI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
# Fields Google fills afresh on every answer.
_FRESH_FIELDS = re.compile(rb'"(responseId|createTime)":"[^"]*"')

Upstream = tuple[str, dict[str, str]]


def _without_fresh_fields(body: bytes) -> bytes:
    return _FRESH_FIELDS.sub(rb'"\1":""', body)


def _config(
    *,
    vertex: dict[str, Any] | None = None,
    model_list: list[dict[str, Any]] | None = None,
    master_key: str | None = MASTER_KEY,
) -> ProxyConfig:
    return ProxyConfig.model_validate(
        {
            "model_list": model_list or [],
            "general_settings": {"master_key": master_key} if master_key else {},
            "pass_through": {"vertex_ai": vertex or {}},
        }
    )


def _default_credentials(upstream: Upstream) -> dict[str, Any]:
    url, key_file = upstream
    return {"credentials": key_file, "project": PROJECT, "location": "us-central1",
            "base_url": url, "discovery_base_url": url}  # fmt: skip


def _own_token(key_file: dict[str, str]) -> str:
    """An access token the caller got from Google (here: the emulator's token endpoint)."""
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        key_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(TokenRequest())
    return str(credentials.token)


def _recorded(emulator_url: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = httpx.get(f"{emulator_url}/emulator/requests").json()["requests"]  # fmt: skip
    return requests


def _forget_requests(emulator_url: str) -> None:
    httpx.delete(f"{emulator_url}/emulator/requests")


@pytest.fixture(scope="module")
def gateway_url(vertex_upstream: Upstream) -> Iterator[str]:
    """A gateway with default Vertex credentials (pass_through.vertex_ai) behind MASTER_KEY."""
    with serve(create_app(_config(vertex=_default_credentials(vertex_upstream)))) as url:
        yield url


@pytest.fixture(scope="module")
def direct_token(vertex_upstream: Upstream) -> str:
    return _own_token(vertex_upstream[1])


# The seed's curl examples: (name, path, body), PROJECT_ID filled in.
SEED_EXAMPLES = [
    ("generate", f"{MODELS}/gemini-1.5-flash-001:generateContent", HI),
    ("embeddings", f"{MODELS}/textembedding-gecko@001:predict", {"instances": [{"content": "gm"}]}),
    (
        "imagen",
        f"{MODELS}/imagen-3.0-generate-001:predict",
        {"instances": [{"prompt": "make an otter"}], "parameters": {"sampleCount": 1}},
    ),
    ("count_tokens", f"{MODELS}/gemini-1.5-flash-001:countTokens", HI),
    ("specific_project", f"{MODELS}/gemini-1.0-pro:generateContent", HOW_ARE_YOU),
    ("stream", f"{MODELS}/gemini-1.5-flash-001:streamGenerateContent?alt=sse", HOW_ARE_YOU),
]


@pytest.mark.parametrize(
    ("path", "body"), [example[1:] for example in SEED_EXAMPLES], ids=[e[0] for e in SEED_EXAMPLES]
)
def test_seed_example_answers_as_vertex_does(
    gateway_url: str, vertex_upstream: Upstream, direct_token: str, path: str, body: Any
) -> None:
    direct = httpx.post(
        vertex_upstream[0] + path, json=body, headers={"authorization": f"Bearer {direct_token}"}
    )

    relayed = httpx.post(f"{gateway_url}/vertex_ai{path}", json=body, headers=GATEWAY_KEY)

    assert relayed.status_code == direct.status_code == 200
    assert relayed.headers["content-type"] == direct.headers["content-type"]
    assert _without_fresh_fields(relayed.content) == _without_fresh_fields(direct.content)


def test_generate_content_example_is_answered_by_the_model(gateway_url: str) -> None:
    response = httpx.post(
        f"{gateway_url}/vertex_ai{MODELS}/gemini-1.5-flash-001:generateContent",
        json=HI,
        headers=GATEWAY_KEY,
    )

    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi"


def test_quick_start_sends_the_gateway_key_as_authorization_on_the_dashed_route(
    gateway_url: str, vertex_upstream: Upstream
) -> None:
    _forget_requests(vertex_upstream[0])

    response = httpx.post(
        f"{gateway_url}/vertex-ai{MODELS}/gemini-1.0-pro:generateContent",
        json=HOW_ARE_YOU,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )

    assert response.status_code == 200
    [seen] = _recorded(vertex_upstream[0])
    assert seen["headers"]["authorization"] != f"Bearer {MASTER_KEY}"


def test_path_without_version_gets_the_default_project_and_location(
    gateway_url: str, vertex_upstream: Upstream
) -> None:
    _forget_requests(vertex_upstream[0])

    response = httpx.post(
        f"{gateway_url}/vertex_ai/publishers/google/models/gemini-1.0-pro:generateContent",
        json=HOW_ARE_YOU,
        headers=GATEWAY_KEY,
    )

    assert response.status_code == 200
    [seen] = _recorded(vertex_upstream[0])
    assert seen["path"] == f"{MODELS}/gemini-1.0-pro:generateContent"


def test_seed_tuning_example_gets_the_404_google_gives_for_that_path(gateway_url: str) -> None:
    body = {
        "baseModel": "gemini-1.0-pro-002",
        "supervisedTuningSpec": {
            "training_dataset_uri": "gs://cloud-samples-data/ai-platform/generative_ai/sft_train_data.jsonl"
        },
    }

    response = httpx.post(
        f"{gateway_url}/vertex_ai{MODELS}/gemini-1.5-flash-001:tuningJobs",
        json=body,
        headers=GATEWAY_KEY,
    )

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_tuning_job_is_created_and_read_back_through_the_gateway(gateway_url: str) -> None:
    body = {
        "baseModel": "gemini-1.0-pro-002",
        "supervisedTuningSpec": {
            "training_dataset_uri": "gs://cloud-samples-data/ai-platform/generative_ai/sft_train_data.jsonl"
        },
    }
    with httpx.Client(base_url=f"{gateway_url}/vertex_ai", headers=GATEWAY_KEY) as gateway:
        created = gateway.post(f"{SCOPE}/tuningJobs", json=body).json()
        job_id = created["name"].rsplit("/", 1)[-1]
        fetched = gateway.get(f"{SCOPE}/tuningJobs/{job_id}").json()

    assert created["state"] == "JOB_STATE_PENDING"
    assert created["baseModel"] == "gemini-1.0-pro-002"
    assert fetched == created


def test_batch_prediction_job_lifecycle_through_the_gateway(gateway_url: str) -> None:
    body = {
        "displayName": "seed-batch",
        "model": "publishers/google/models/gemini-1.5-flash-002",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://b/out"},
        },  # fmt: skip
    }
    with httpx.Client(base_url=f"{gateway_url}/vertex_ai", headers=GATEWAY_KEY) as gateway:
        created = gateway.post(f"{SCOPE}/batchPredictionJobs", json=body).json()
        job = f"{SCOPE}/batchPredictionJobs/{created['name'].rsplit('/', 1)[-1]}"
        listed = gateway.get(f"{SCOPE}/batchPredictionJobs", params={"pageSize": 50}).json()
        cancelled = gateway.post(f"{job}:cancel", json={})
        state = gateway.get(job).json()["state"]
        deleted = gateway.delete(job).json()

    assert created["model"] == f"projects/{PROJECT}/locations/us-central1/{body['model']}"
    assert created["name"] in [entry["name"] for entry in listed["batchPredictionJobs"]]
    assert (cancelled.status_code, cancelled.json()) == (200, {})
    assert state == "JOB_STATE_CANCELLED"
    assert deleted["done"] is True


def test_discovery_route_reaches_vertex_ai_search(
    gateway_url: str, vertex_upstream: Upstream
) -> None:
    _forget_requests(vertex_upstream[0])
    path = (
        f"/v1/projects/{PROJECT}/locations/global/collections/default_collection"
        "/engines/my-engine/servingConfigs/default_search:search"
    )

    response = httpx.post(
        f"{gateway_url}/vertex_ai/discovery{path}",
        json={"query": "otters", "pageSize": 2},
        headers=GATEWAY_KEY,
    )

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    [seen] = _recorded(vertex_upstream[0])
    assert seen["path"] == path
    assert seen["headers"]["authorization"].startswith("Bearer ")


def test_gateway_key_never_reaches_vertex(gateway_url: str, vertex_upstream: Upstream) -> None:
    _forget_requests(vertex_upstream[0])
    for headers in (
        GATEWAY_KEY,
        {"x-gemgate-api-key": MASTER_KEY},
        {"Authorization": f"Bearer {MASTER_KEY}"},
    ):
        httpx.post(f"{gateway_url}/vertex_ai{MODELS}/gemini-2.5-flash:generateContent?key={MASTER_KEY}",
                   json=HI, headers=headers)  # fmt: skip

    seen = _recorded(vertex_upstream[0])
    assert len(seen) == 3
    assert MASTER_KEY not in orjson.dumps(seen).decode()
    assert all("x-litellm-api-key" not in entry["headers"] for entry in seen)
    assert all("x-gemgate-api-key" not in entry["headers"] for entry in seen)


def test_service_account_token_never_reaches_the_caller(
    gateway_url: str, vertex_upstream: Upstream
) -> None:
    _forget_requests(vertex_upstream[0])

    answers = [
        httpx.post(f"{gateway_url}/vertex_ai{MODELS}/{target}", json=HI, headers=GATEWAY_KEY)
        for target in ("gemini-2.5-flash:generateContent", "no-such-model:generateContent")
    ]

    token = _recorded(vertex_upstream[0])[0]["headers"]["authorization"].removeprefix("Bearer ")
    assert [answer.status_code for answer in answers] == [200, 404]
    for answer in answers:
        assert token not in answer.text
        assert all(token not in value for value in answer.headers.values())


def test_without_the_gateway_key_nothing_is_sent(
    gateway_url: str, vertex_upstream: Upstream
) -> None:
    _forget_requests(vertex_upstream[0])

    response = httpx.post(f"{gateway_url}/vertex_ai{MODELS}/gemini-2.5-flash:generateContent",
                          json=HI, headers={"x-gemgate-api-key": "wrong"})  # fmt: skip

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert _recorded(vertex_upstream[0]) == []


def test_deployment_credentials_serve_their_project_and_location(
    vertex_upstream: Upstream,
) -> None:
    url, key_file = vertex_upstream
    deployment = {"model_name": "vertex-flash", "params": {
        "model": "vertex_ai/gemini-2.5-flash", "vertex_credentials": key_file,
        "vertex_project": PROJECT, "vertex_location": "us-central1", "api_base": url,
        "use_in_pass_through": True}}  # fmt: skip
    with serve(create_app(_config(model_list=[deployment]))) as gateway:
        served = httpx.post(f"{gateway}/vertex_ai{MODELS}/gemini-2.5-flash:generateContent",
                            json=HI, headers=GATEWAY_KEY)  # fmt: skip
        elsewhere = httpx.post(
            f"{gateway}/vertex_ai/v1/projects/other-project/locations/europe-west4"
            "/publishers/google/models/gemini-2.5-flash:generateContent",
            json=HI, headers=GATEWAY_KEY,
        )  # fmt: skip

    assert served.status_code == 200
    assert elsewhere.status_code == 401
    error = elsewhere.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert "other-project in europe-west4" in error["message"]


def test_default_credentials_come_from_the_environment(
    vertex_upstream: Upstream, tmp_path: Path
) -> None:
    url, key_file = vertex_upstream
    key_path = tmp_path / "key.json"
    key_path.write_bytes(orjson.dumps(key_file))
    environ = {
        "DEFAULT_VERTEXAI_PROJECT": PROJECT,
        "DEFAULT_VERTEXAI_LOCATION": "us-central1",
        "DEFAULT_GOOGLE_APPLICATION_CREDENTIALS": str(key_path),
        "VERTEX_API_BASE": url,
        "GEMGATE_MASTER_KEY": MASTER_KEY,
    }
    config = parse_config("", environ)

    with serve(create_app(config, environ)) as gateway:
        response = httpx.post(f"{gateway}/vertex_ai/publishers/google/models/gemini-2.5-flash:generateContent",
                              json=HI, headers=GATEWAY_KEY)  # fmt: skip

    assert response.status_code == 200


@pytest.fixture(scope="module")
def callers_own_gateway(vertex_upstream: Upstream) -> Iterator[str]:
    """A gateway with no Vertex credentials of its own: callers bring theirs."""
    with serve(create_app(_config(vertex={"base_url": vertex_upstream[0]}))) as url:
        yield url


def test_callers_own_authorization_is_forwarded_unchanged(
    callers_own_gateway: str, vertex_upstream: Upstream, direct_token: str
) -> None:
    _forget_requests(vertex_upstream[0])

    response = httpx.post(
        f"{callers_own_gateway}/vertex_ai{MODELS}/gemini-2.5-flash:generateContent",
        json=HI,
        headers={**GATEWAY_KEY, "Authorization": f"Bearer {direct_token}",
                 "x-goog-user-project": PROJECT},
    )  # fmt: skip

    assert response.status_code == 200
    [seen] = _recorded(vertex_upstream[0])
    assert seen["headers"]["authorization"] == f"Bearer {direct_token}"
    assert seen["headers"]["x-goog-user-project"] == PROJECT


def test_authorization_that_carried_the_gateway_key_is_not_forwarded(
    callers_own_gateway: str, vertex_upstream: Upstream
) -> None:
    _forget_requests(vertex_upstream[0])

    response = httpx.post(
        f"{callers_own_gateway}/vertex_ai{MODELS}/gemini-2.5-flash:generateContent",
        json=HI,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )

    assert response.status_code == 401
    assert "no Vertex AI credentials" in response.json()["error"]["message"]
    assert _recorded(vertex_upstream[0]) == []


def test_google_genai_sdk_in_vertex_mode_works_through_the_gateway(
    callers_own_gateway: str, vertex_upstream: Upstream
) -> None:
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        vertex_upstream[1], scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    client = genai.Client(
        vertexai=True, project=PROJECT, location="us-central1", credentials=credentials,
        http_options={"base_url": f"{callers_own_gateway}/vertex_ai",
                      "headers": {"x-gemgate-api-key": MASTER_KEY}},
    )  # fmt: skip

    reply = client.models.generate_content(model="gemini-2.5-flash", contents="Hello Vertex")
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="a b c d e f g h i j k l"))  # fmt: skip

    assert reply.text == "Echo: Hello Vertex"
    assert "".join(chunk.text or "" for chunk in chunks) == "Echo: a b c d e f g h i j k l"


def test_redirect_or_echo_from_vertex_never_shows_the_token(vertex_upstream: Upstream) -> None:
    async def echo(request: Request) -> Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        return Response(status_code=307, headers={
            "location": f"https://upstream.example/v1/next?access_token={token}",
            "x-echo": request.headers["authorization"], "x-kept": "yes"})  # fmt: skip

    probe = Starlette(routes=[Route("/{path:path}", echo, methods=["POST"])])
    with serve(probe) as probe_url:
        vertex = {**_default_credentials(vertex_upstream), "base_url": probe_url}
        with serve(create_app(_config(vertex=vertex))) as gateway:
            response = httpx.post(f"{gateway}/vertex_ai{MODELS}/gemini-2.5-flash:generateContent",
                                  json=HI, headers=GATEWAY_KEY)  # fmt: skip

    assert response.status_code == 307
    assert response.headers["x-kept"] == "yes"
    assert "location" not in response.headers
    assert "x-echo" not in response.headers


def test_logs_never_show_the_gateway_key_or_the_token(
    gateway_url: str, vertex_upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _forget_requests(vertex_upstream[0])

    for target in ("gemini-2.5-flash:generateContent", "no-such-model:generateContent"):
        httpx.post(f"{gateway_url}/vertex_ai{MODELS}/{target}", json=HI, headers=GATEWAY_KEY)

    token = _recorded(vertex_upstream[0])[0]["headers"]["authorization"].removeprefix("Bearer ")
    assert caplog.records
    assert MASTER_KEY not in caplog.text
    assert token not in caplog.text
