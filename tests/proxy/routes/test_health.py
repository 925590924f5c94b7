"""Health probes, in-process."""

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


def test_liveliness_answers_while_the_process_runs(client: TestClient) -> None:
    response = client.get("/health/liveliness")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_readiness_answers_once_the_upstream_client_is_open(client: TestClient) -> None:
    response = client.get("/health/readiness")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
