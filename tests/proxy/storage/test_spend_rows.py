"""Spend rows: checked when made, and their journal lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from gemgate.proxy.storage.spend_rows import SpendRow, decode_spend_row, encode_spend_row

START = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
ROW = SpendRow(
    request_id="req-1",
    model="gemini-2.5-flash",
    route="/v1/chat/completions",
    cost=Decimal("0.0001234567"),
    start_time=START,
    end_time=START + timedelta(milliseconds=850),
    status=200,
    key_hash="a" * 64,
    key_alias="ci",
    user_id="u1",
    team_id="t1",
    end_user="customer-9",
    deployment="gemini-flash#0",
    prompt_tokens=12,
    completion_tokens=30,
    cached_tokens=4,
    reasoning_tokens=7,
    latency_ms=850,
    tags=("prod", "batch"),
)


def test_journal_line_holds_every_field() -> None:
    assert decode_spend_row(encode_spend_row(ROW)) == ROW


def test_the_callers_request_id_travels_through_the_journal() -> None:
    row = replace(ROW, client_request_id="trace-9")
    assert decode_spend_row(encode_spend_row(row)) == row


def test_lines_written_before_the_callers_request_id_was_kept_still_replay() -> None:
    line = encode_spend_row(ROW)
    assert b"client_request_id" not in line
    assert decode_spend_row(line).client_request_id is None


def test_journal_line_is_one_line() -> None:
    line = encode_spend_row(replace(ROW, model="a\nb"))
    assert line.count(b"\n") == 1 and line.endswith(b"\n")


def test_times_keep_their_instant_through_the_journal() -> None:
    shifted = START.astimezone(timezone(timedelta(hours=-5)))
    row = decode_spend_row(encode_spend_row(replace(ROW, start_time=shifted)))
    assert row.start_time == START


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"request_id": ""}, "request id"),
        ({"cost": Decimal(-1)}, "cost"),
        ({"cost": Decimal("NaN")}, "cost"),
        ({"cost": Decimal("1e18")}, "cost"),
        ({"prompt_tokens": -1}, "prompt_tokens"),
        ({"completion_tokens": 2**31}, "completion_tokens"),
        ({"latency_ms": -5}, "latency_ms"),
        ({"status": 1000}, "status"),
        ({"start_time": datetime(2026, 1, 1)}, "naive"),
        ({"key_hash": "x" * 65}, "key_hash"),
    ],
)
def test_rows_the_database_would_refuse_are_refused_first(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replace(ROW, **changes)


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"v": 99, "request_id": "x"}\n',
        b'{"v": 1, "request_id": "x"}\n',
        encode_spend_row(ROW).replace(b'"cost":"0.0001234567"', b'"cost":"lots"'),
        encode_spend_row(ROW).replace(b'"prompt_tokens":12', b'"prompt_tokens":"12"'),
    ],
)
def test_lines_that_are_not_spend_rows_are_refused(line: bytes) -> None:
    with pytest.raises(ValueError):
        decode_spend_row(line)
