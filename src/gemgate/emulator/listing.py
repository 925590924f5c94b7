"""Resource listing conventions shared by the emulator's collections: timestamps and pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from gemgate.emulator.google_errors import invalid_argument

_Item = TypeVar("_Item")


def rfc3339(seconds: float) -> str:
    """Epoch seconds as protobuf Timestamp JSON (RFC 3339, UTC, microseconds)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def page_of(
    items: list[_Item], query: Mapping[str, str], *, default_size: int, max_size: int
) -> tuple[list[_Item], str | None]:
    """The page of ``items`` that ``pageSize``/``pageToken`` select, and the next page's token."""
    size = _page_size(query.get("pageSize") or query.get("page_size"), default_size, max_size)
    start = _page_start(query.get("pageToken") or query.get("page_token"))
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def _page_size(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.lstrip("-").isdigit():
        raise invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{value}\"")
    size = int(value)
    return default if size <= 0 else min(size, maximum)


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise invalid_argument("Invalid page token.", field="page_token") from error
    if start < 0:
        raise invalid_argument("Invalid page token.", field="page_token")
    return start
