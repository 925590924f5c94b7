"""Imagen `:predict` in the emulator (Vertex AI and the Developer API)."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, create_emulator_app
from tests.conftest import TEST_API_KEY

VERTEX = "/v1/projects/demo/locations/us-central1/publishers/google/models/imagen-3.0-generate-001:predict"  # fmt: skip
AUTH = {"Authorization": "Bearer vertex-token"}


@pytest.fixture
def emulator_app(emulator_settings: EmulatorSettings) -> Starlette:
    app = create_emulator_app(emulator_settings)
    app.state.emulator.access_tokens["vertex-token"] = time.time() + 3600
    return app


def test_one_png_per_sample(http: httpx.Client) -> None:
    body = {"instances": [{"prompt": "make an otter"}], "parameters": {"sampleCount": 2}}

    predictions = http.post(VERTEX, json=body, headers=AUTH).json()["predictions"]

    assert [p["mimeType"] for p in predictions] == ["image/png", "image/png"]
    assert all(base64.b64decode(p["bytesBase64Encoded"]).startswith(b"\x89PNG") for p in predictions)  # fmt: skip


def test_default_sample_count_is_four(http: httpx.Client) -> None:
    body = {"instances": [{"prompt": "otter"}]}

    assert len(http.post(VERTEX, json=body, headers=AUTH).json()["predictions"]) == 4


def test_developer_api_serves_imagen_too(http: httpx.Client) -> None:
    body = {"instances": [{"prompt": "otter"}], "parameters": {"sampleCount": 1}}

    response = http.post(
        "/v1beta/models/imagen-3.0-generate-002:predict", json=body,
        headers={"x-goog-api-key": TEST_API_KEY},
    )  # fmt: skip

    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"instances": []},
        {"instances": [{"prompt": ""}]},
        {"instances": [{"prompt": "otter"}], "parameters": {"sampleCount": 5}},
        {"instances": [{"prompt": "otter"}], "parameters": {"aspectRatio": "2:1"}},
    ],
)
def test_bad_requests_are_refused(http: httpx.Client, body: dict[str, Any]) -> None:
    response = http.post(VERTEX, json=body, headers=AUTH)

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_imagen_models_do_not_generate_content(http: httpx.Client) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}

    response = http.post(VERTEX.replace(":predict", ":generateContent"), json=body, headers=AUTH)

    assert response.status_code == 404
