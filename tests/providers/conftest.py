"""A Vertex emulator on loopback that trusts a freshly minted service account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from tests.servers import free_port, serve

PROJECT = "emulator-project"


@dataclass(frozen=True)
class VertexEmulator:
    """The served emulator and the key file of an account it trusts."""

    url: str
    key_file: dict[str, str]

    def requests(self) -> list[dict[str, Any]]:
        recorded: list[dict[str, Any]] = httpx.get(f"{self.url}/emulator/requests").json()[
            "requests"
        ]
        return recorded

    def token_requests(self) -> int:
        return sum(1 for entry in self.requests() if entry["path"].endswith("/token"))

    def model_requests(self) -> list[dict[str, Any]]:
        return [entry for entry in self.requests() if "/models/" in entry["path"]]


VertexEmulatorFactory = Callable[..., AbstractContextManager[VertexEmulator]]


@contextmanager
def vertex_emulator(
    *,
    access_token_seconds: int = 3600,
    token_path: str = "/token",
    wrap: Callable[[Any], Any] | None = None,
    **key_file_extra: str,
) -> Iterator[VertexEmulator]:
    port = free_port()
    key_file, account = new_service_account(
        client_email=f"tests@{PROJECT}.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}{token_path}",
        project_id=PROJECT,
    )
    settings = EmulatorSettings(
        api_keys=frozenset({"test-key"}),
        service_accounts=(account,),
        access_token_seconds=access_token_seconds,
    )
    app = create_emulator_app(settings)
    with serve(wrap(app) if wrap else app, port=port) as url:
        yield VertexEmulator(url=url, key_file={**key_file, **key_file_extra})


@pytest.fixture
def vertex() -> Iterator[VertexEmulator]:
    with vertex_emulator() as emulator:
        yield emulator
