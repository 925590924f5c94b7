"""Errors the gateway raises itself leave in Google's shape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gemgate.proxy import create_app
from tests.proxy.conftest import gateway_config


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(gateway_config("http://127.0.0.1:1"))) as client:
        yield client


def test_unknown_path_is_google_not_found(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": 404,
            "message": "The requested URL /v1/nothing-here was not found.",
            "status": "NOT_FOUND",
        }
    }


def test_wrong_method_is_google_not_found(client: TestClient) -> None:
    response = client.post("/health/liveliness")

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
