"""Vertex AI Search (Discovery Engine) `:search` in the emulator."""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, create_emulator_app

AUTH = {"Authorization": "Bearer vertex-token"}
PARENT = "/v1/projects/demo/locations/global"
CONFIGS = [
    f"{PARENT}/collections/default_collection/engines/my-engine/servingConfigs/default_search",
    f"{PARENT}/collections/default_collection/dataStores/docs/servingConfigs/default_search",
    f"{PARENT}/dataStores/docs/servingConfigs/default_config",
]


@pytest.fixture
def emulator_app(emulator_settings: EmulatorSettings) -> Starlette:
    app = create_emulator_app(emulator_settings)
    app.state.emulator.access_tokens["vertex-token"] = time.time() + 3600
    return app


@pytest.mark.parametrize("config", CONFIGS)
def test_search_answers_documents_for_the_query(http: httpx.Client, config: str) -> None:
    response = http.post(f"{config}:search", json={"query": "otters"}, headers=AUTH)

    answer = response.json()
    assert response.status_code == 200
    assert answer["totalSize"] == 3
    assert len(answer["results"]) == 3
    assert "otters" in answer["results"][0]["document"]["derivedStructData"]["title"]


def test_same_query_same_documents_and_page_size_is_honoured(http: httpx.Client) -> None:
    url = f"{CONFIGS[0]}:search"

    first = http.post(url, json={"query": "q", "pageSize": 2}, headers=AUTH).json()
    second = http.post(url, json={"query": "q", "pageSize": 2}, headers=AUTH).json()

    assert first == second
    assert len(first["results"]) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [({"query": 5}, 400), ({"query": "q", "pageSize": -1}, 400), ([1], 400)],
)
def test_bad_search_bodies_are_refused(http: httpx.Client, body: object, status: int) -> None:
    response = http.post(f"{CONFIGS[0]}:search", json=body, headers=AUTH)

    assert response.status_code == status
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_other_verbs_are_not_found(http: httpx.Client) -> None:
    assert http.post(f"{CONFIGS[0]}:answer", json={}, headers=AUTH).status_code == 404


def test_search_needs_a_bearer_token(http: httpx.Client) -> None:
    assert http.post(f"{CONFIGS[0]}:search", json={"query": "q"}).status_code == 401
