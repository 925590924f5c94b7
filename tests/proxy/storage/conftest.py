"""Storage fixtures: every store test runs on SQLite (a tmp file) and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.spend_rows import SpendRow
from tests.databases import postgres_server, postgres_url, sqlite_url

__all__ = ["postgres_server", "postgres_url", "sqlite_url"]

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
DIALECTS = ("sqlite", "postgres")


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each kind, as the plain URL a user would configure."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database."""
    async with open_database(database_url) as opened:
        yield opened


def make_spend_row(number: int, **changes: Any) -> SpendRow:
    """A plausible spend row; ``number`` makes its request id and start time."""
    start = NOW + timedelta(seconds=number)
    values: dict[str, Any] = {
        "request_id": f"req-{number:05d}",
        "model": "gemini-2.5-flash",
        "route": "/v1/chat/completions",
        "cost": Decimal("0.0000123456"),
        "start_time": start,
        "end_time": start + timedelta(milliseconds=250),
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "latency_ms": 250,
    }
    return SpendRow(**(values | changes))
