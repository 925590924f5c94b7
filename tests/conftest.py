"""Shared fixtures: the emulator in-process and on a real loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, create_emulator_app
from tests.servers import serve

TEST_API_KEY = "test-key"


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(api_keys=frozenset({TEST_API_KEY}), min_cache_tokens=16)


@pytest.fixture
def emulator_app(emulator_settings: EmulatorSettings) -> Starlette:
    return create_emulator_app(emulator_settings)


@pytest.fixture
def emulator_url(emulator_app: Starlette) -> Iterator[str]:
    """Base URL of an emulator served on a real loopback port."""
    with serve(emulator_app) as url:
        yield url


@pytest.fixture
def http(emulator_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client on the served emulator (curl-shaped requests)."""
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield client
