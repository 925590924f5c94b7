"""A throwaway Redis server for tests: redis-server on a free loopback port, nothing persisted
(or the server named by $GEMGATE_TEST_REDIS_URL). A missing redis-server fails, never skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.servers import free_port

TEST_REDIS_VARIABLE = "GEMGATE_TEST_REDIS_URL"
_MISSING = (
    "redis-server not found on PATH: install it (Debian: apt-get install redis-server) or set "
    f"{TEST_REDIS_VARIABLE}=redis://host:port/0"
)


@contextmanager
def redis_server(folder: Path, port: int | None = None) -> Iterator[str]:
    """Start redis-server in ``folder`` (on ``port``, else a free one); yields its URL and stops
    it afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(_MISSING, pytrace=False)
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    client = redis.Redis.from_url(url)
    try:
        for _ in range(200):
            if process.poll() is not None:
                pytest.fail(f"redis-server exited with {process.returncode}", pytrace=False)
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.025)
        pytest.fail("redis-server did not start within 5 s", pytrace=False)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server for the whole test session (flush what you use: keys are shared)."""
    given = os.environ.get(TEST_REDIS_VARIABLE)
    if given:
        yield given
        return
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
