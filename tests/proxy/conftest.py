"""Gateway fixtures: the gateway served on loopback in front of a served emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.config import GeneralSettings
from tests.conftest import TEST_API_KEY
from tests.databases import postgres_server, postgres_url, stoppable_cluster, stoppable_cluster_url
from tests.redis_server import redis_url
from tests.servers import free_port, serve

# Fixtures of real servers, for the gateway tests that keep keys and spend in them.
__all__ = [
    "postgres_server",
    "postgres_url",
    "redis_url",
    "stoppable_cluster",
    "stoppable_cluster_url",
]

MASTER_KEY = "sk-gateway-master-5e1d"
# The names `model_list_config` serves: the seed's chat model, a thinking model and an embedding
# model (whose name must not contain "gemini": google-genai then embeds a list as one content).
CHAT_MODEL = "gemini-flash"
THINKING_MODEL = "gemini-2.5-flash"
EMBEDDING_MODEL = "embedder"


def gateway_config(
    api_base: str, *, api_key: str = TEST_API_KEY, timeout: float = 30.0
) -> ProxyConfig:
    """A config pointing the gateway at ``api_base`` with ``api_key`` as the real key."""
    settings = GeneralSettings(
        gemini_api_base=api_base, gemini_api_key=SecretStr(api_key), request_timeout=timeout
    )
    return ProxyConfig(general_settings=settings)


def model_list_config(
    api_base: str, *, api_key: str = TEST_API_KEY, **settings: Any
) -> ProxyConfig:
    """A config serving the three model names above from ``api_base``, behind MASTER_KEY
    (``settings`` adds to or overrides general_settings; master_key=None opens the gateway)."""
    upstream = {"api_key": api_key, "api_base": api_base}
    entries = [
        {"model_name": CHAT_MODEL, "params": {"model": "gemini/gemini-2.0-flash", **upstream}},
        {"model_name": THINKING_MODEL, "params": {"model": "gemini/gemini-2.5-flash", **upstream}},
        {"model_name": EMBEDDING_MODEL, "params": {"model": "gemini/gemini-embedding-001", **upstream}},
    ]  # fmt: skip
    general = {"master_key": MASTER_KEY, **settings}
    return ProxyConfig.model_validate({"model_list": entries, "general_settings": general})


@pytest.fixture
def aliased_gateway_url(emulator_url: str) -> Iterator[str]:
    """Base URL of a gateway serving `model_list_config(emulator_url)` (master key: MASTER_KEY)."""
    with serve(create_app(model_list_config(emulator_url))) as url:
        yield url


def vertex_config(api_base: str, key_file: dict[str, str]) -> ProxyConfig:
    """A config serving `vertex-flash` (Vertex AI, service account ``key_file``) behind MASTER_KEY."""
    params = {"model": "vertex_ai/gemini-2.5-flash", "vertex_credentials": key_file,
              "vertex_location": "us-central1", "api_base": api_base}  # fmt: skip
    return ProxyConfig.model_validate(
        {"model_list": [{"model_name": "vertex-flash", "params": params}],
         "general_settings": {"master_key": MASTER_KEY}}
    )  # fmt: skip


@pytest.fixture(scope="module")
def vertex_upstream() -> Iterator[tuple[str, dict[str, str]]]:
    """An emulator trusting a fresh service account; yields its URL and the account's key file."""
    port = free_port()
    key_file, account = new_service_account(
        client_email="gateway@emulator-project.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token",
        project_id="emulator-project",
    )
    settings = EmulatorSettings(service_accounts=(account,))
    with serve(create_emulator_app(settings), port=port) as url:
        yield url, key_file


@pytest.fixture
def gateway_url(emulator_url: str) -> Iterator[str]:
    """Base URL of a gateway whose upstream is the served emulator (real key: TEST_API_KEY)."""
    with serve(create_app(gateway_config(emulator_url))) as url:
        yield url


@pytest.fixture
def gateway(gateway_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client on the served gateway."""
    with httpx.Client(base_url=gateway_url, timeout=10) as client:
        yield client
