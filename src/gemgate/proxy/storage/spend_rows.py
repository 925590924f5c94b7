"""SpendRow: what one answered request cost and who pays, checked when made, and its line in the
spend journal (versioned JSON, so rows written by one release replay under the next)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from gemgate.proxy.storage.column_types import MONEY_LIMIT

LINE_VERSION = 1
_INT32 = 2**31
_COUNTS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "latency_ms")


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One request's spend-log row; the request id (the gateway's own, never the caller's) makes
    writing it twice harmless."""

    request_id: str
    model: str
    route: str
    cost: Decimal  # USD
    start_time: datetime
    end_time: datetime
    status: int = 200
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    end_user: str | None = None
    deployment: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    latency_ms: int = 0
    tags: tuple[str, ...] = ()
    client_request_id: str | None = None  # the caller's x-request-id (callers may repeat theirs)

    def __post_init__(self) -> None:
        # Checked here, before the journal: a row the database would refuse must never get in,
        # or it would block every row behind it.
        if not self.request_id:
            raise ValueError("a spend row needs a request id")
        if not self.cost.is_finite() or not 0 <= self.cost < MONEY_LIMIT:
            raise ValueError(f"cost must be a non-negative amount below {MONEY_LIMIT}, got {self.cost}")  # fmt: skip
        counts = (self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.reasoning_tokens, self.latency_ms)  # fmt: skip
        if min(counts) < 0 or max(counts) >= _INT32:  # one test for all: rows are made per request
            for name, count in zip(_COUNTS, counts, strict=True):
                if not 0 <= count < _INT32:
                    raise ValueError(f"{name} out of range: {count}")
        if not 0 <= self.status < 1000:
            raise ValueError(f"status out of range: {self.status}")
        for moment in (self.start_time, self.end_time):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"naive datetime {moment.isoformat()} (pass an aware UTC time)")
        if self.key_hash is not None and len(self.key_hash) > 64:
            raise ValueError("key_hash is longer than a sha256 hex digest")


def encode_spend_row(row: SpendRow) -> bytes:
    """``row`` as one journal line (ending in a newline)."""
    fields: dict[str, Any] = {
        "v": LINE_VERSION,
        "request_id": row.request_id,
        "model": row.model,
        "route": row.route,
        "cost": str(row.cost),
        # orjson writes an aware datetime as isoformat() does, without the Python call.
        "start_time": row.start_time,
        "end_time": row.end_time,
        "status": row.status,
        "tags": row.tags,
        "key_hash": row.key_hash,
        "key_alias": row.key_alias,
        "user_id": row.user_id,
        "team_id": row.team_id,
        "end_user": row.end_user,
        "deployment": row.deployment,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "latency_ms": row.latency_ms,
    }
    if row.client_request_id is not None:  # added after the first release of the format
        fields["client_request_id"] = row.client_request_id
    return orjson.dumps(fields) + b"\n"


def decode_spend_row(line: bytes) -> SpendRow:
    """The row a journal line holds; raises ValueError for a line that is not one."""
    try:
        fields = orjson.loads(line)
        if fields.get("v") != LINE_VERSION:
            raise ValueError(f"journal line of unknown version {fields.get('v')!r}")
        return SpendRow(
            request_id=fields["request_id"],
            model=fields["model"],
            route=fields["route"],
            cost=Decimal(fields["cost"]),
            start_time=datetime.fromisoformat(fields["start_time"]),
            end_time=datetime.fromisoformat(fields["end_time"]),
            status=fields["status"],
            tags=tuple(fields["tags"]),
            key_hash=fields["key_hash"],
            key_alias=fields["key_alias"],
            user_id=fields["user_id"],
            team_id=fields["team_id"],
            end_user=fields["end_user"],
            deployment=fields["deployment"],
            prompt_tokens=fields["prompt_tokens"],
            completion_tokens=fields["completion_tokens"],
            cached_tokens=fields["cached_tokens"],
            reasoning_tokens=fields["reasoning_tokens"],
            latency_ms=fields["latency_ms"],
            client_request_id=fields.get("client_request_id"),  # absent from older lines
        )
    except (KeyError, TypeError, AttributeError, InvalidOperation, orjson.JSONDecodeError) as error:
        raise ValueError(f"not a spend journal line: {error}") from error
