"""Gateway fixtures: the gateway served on loopback in front of a served emulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.config import GeneralSettings
from tests.conftest import TEST_API_KEY
from tests.servers import serve


def gateway_config(
    api_base: str, *, api_key: str = TEST_API_KEY, timeout: float = 30.0
) -> ProxyConfig:
    """A config pointing the gateway at ``api_base`` with ``api_key`` as the real key."""
    settings = GeneralSettings(
        gemini_api_base=api_base, gemini_api_key=SecretStr(api_key), request_timeout=timeout
    )
    return ProxyConfig(general_settings=settings)


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
