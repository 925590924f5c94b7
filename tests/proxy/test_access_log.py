"""JSON-lines log records, request ids, the access line and redacted debug bodies."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from gemgate.proxy.access_log import (
    JsonLinesFormatter,
    is_secret_name,
    log_access,
    redacted_body,
    request_id_of,
)

GOOGLE_KEY = "AIzaSyA1234567890abcdefghijklmnopqrstu"
FORMATTER = JsonLinesFormatter()


def _record(message: str = "hello %s", *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("gemgate.proxy", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def _line(record: logging.LogRecord) -> dict[str, Any]:
    text = FORMATTER.format(record)
    assert "\n" not in text
    entry: dict[str, Any] = orjson.loads(text)
    return entry


def test_line_has_time_level_logger_and_message() -> None:
    record = _record("hello %s", "world")
    record.created = datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC).timestamp()

    assert _line(record) == {
        "ts": "2025-01-31T12:00:00.123Z",
        "level": "WARNING",
        "logger": "gemgate.proxy",
        "message": "hello world",
    }


def test_json_safe_extras_become_keys() -> None:
    record = _record(request_id="r1", status=200, ratio=0.5, ok=True, model=None, tags=["a", 1], meta={"n": 2})  # fmt: skip

    entry = _line(record)

    assert {key: entry[key] for key in ("request_id", "status", "ratio", "ok", "model", "tags", "meta")} == {  # fmt: skip
        "request_id": "r1", "status": 200, "ratio": 0.5, "ok": True, "model": None,
        "tags": ["a", 1], "meta": {"n": 2},
    }  # fmt: skip


@pytest.mark.parametrize(
    "value", [object(), b"bytes", {1: "int key"}, [object()], 2**70, {"deep": [[[[[[[[[1]]]]]]]]]}]
)
def test_extras_json_cannot_hold_are_left_out(value: object) -> None:
    entry = _line(_record(odd=value))

    assert "odd" not in entry
    assert entry["message"] == "hello %s"


def test_extras_cannot_replace_the_standard_fields() -> None:
    entry = _line(_record(ts="forged", level="forged", logger="forged"))

    assert "forged" not in entry.values()


def test_secrets_in_message_and_extras_are_redacted() -> None:
    record = _record(
        "calling ?key=%s", GOOGLE_KEY,
        url=f"https://h/v1beta/models?key={GOOGLE_KEY}",
        headers={"auth": "Bearer ya29.token-value"},
    )  # fmt: skip

    text = FORMATTER.format(record)

    assert GOOGLE_KEY not in text
    assert "ya29.token-value" not in text
    assert "?key=…" in text


def test_exception_is_one_redacted_string_field() -> None:
    try:
        raise ValueError(f"bad key {GOOGLE_KEY}")
    except ValueError:
        record = logging.LogRecord("gemgate", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())  # fmt: skip

    entry = _line(record)

    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad key AIza…" in entry["exception"]
    assert GOOGLE_KEY not in entry["exception"]


@pytest.mark.parametrize(
    "value", ["abc", "req-1.2:3_x", "A" * 128, "0d6f1c2a-2b7d-4cf0-9a65-2a4a3f1b2c3d"]
)
def test_well_formed_request_id_is_kept(value: str) -> None:
    assert request_id_of(value) == value


@pytest.mark.parametrize(
    "value", [None, "", "A" * 129, "has space", "new\nline", "semi;colon", "é", "a/b"]
)
def test_other_request_ids_are_replaced_by_a_new_one(value: str | None) -> None:
    new_id = request_id_of(value)

    assert re.fullmatch(r"[0-9a-f]{32}", new_id)
    assert new_id != request_id_of(value)


def _access(caplog: pytest.LogCaptureFixture, path: str) -> logging.LogRecord:
    logger = logging.getLogger("gemgate.tests.access")
    with caplog.at_level(logging.INFO, logger=logger.name):
        log_access(
            logger, request_id="r-1", method="POST", path=path, status=200,
            duration_ms=12.345, model="flash", client="127.0.0.1",
        )  # fmt: skip
    (record,) = caplog.records
    return record


def test_access_line_is_one_info_record_with_fields(caplog: pytest.LogCaptureFixture) -> None:
    record = _access(caplog, "/v1/chat/completions")

    assert record.levelno == logging.INFO
    assert record.getMessage() == "POST /v1/chat/completions 200 12.3ms"
    entry = _line(record)
    assert {key: entry[key] for key in ("request_id", "method", "path", "status", "duration_ms", "model", "client")} == {  # fmt: skip
        "request_id": "r-1", "method": "POST", "path": "/v1/chat/completions", "status": 200,
        "duration_ms": 12.345, "model": "flash", "client": "127.0.0.1",
    }  # fmt: skip


def test_access_line_never_carries_the_query(caplog: pytest.LogCaptureFixture) -> None:
    record = _access(caplog, f"/v1beta/models/flash:generateContent?alt=sse&key={GOOGLE_KEY}")

    assert record.getMessage() == "POST /v1beta/models/flash:generateContent 200 12.3ms"
    assert GOOGLE_KEY not in FORMATTER.format(record)


def test_access_line_is_skipped_below_its_level(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gemgate.tests.quiet")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        log_access(logger, request_id="r", method="GET", path="/", status=200, duration_ms=1, model=None, client=None)  # fmt: skip

    assert caplog.records == []


def test_json_body_has_credential_fields_blanked_and_the_rest_kept() -> None:
    body = orjson.dumps(
        {
            "model": "flash", "api_key": "k1", "apiKey": "k2", "x-goog-api-key": "k3",
            "access_token": "t1", "Authorization": "Bearer t2", "password": "p",
            "client_secret": "s", "vertex_credentials": {"private_key": "pk"},
            "max_tokens": 10, "generationConfig": {"maxOutputTokens": 5},
            "messages": [{"role": "user", "content": f"my key is {GOOGLE_KEY}"}],
        }
    )  # fmt: skip

    logged = orjson.loads(redacted_body(body))

    blanked = ("api_key", "apiKey", "x-goog-api-key", "access_token", "Authorization",
               "password", "client_secret", "vertex_credentials")  # fmt: skip
    assert {name: logged[name] for name in blanked} == dict.fromkeys(blanked, "[redacted]")
    assert logged["max_tokens"] == 10
    assert logged["generationConfig"] == {"maxOutputTokens": 5}
    assert logged["messages"][0]["content"] == "my key is AIza…"


def test_non_json_body_is_text_with_secrets_redacted() -> None:
    body = f"key={GOOGLE_KEY}&x=\xff".encode("latin-1") + b"\xfe"

    logged = redacted_body(body)

    assert GOOGLE_KEY not in logged
    assert logged.endswith("\ufffd\ufffd")


@pytest.mark.parametrize("body", [b'{"text": "' + b"a" * 500 + b'"}', b"a" * 500])
def test_long_body_is_cut_at_the_limit(body: bytes) -> None:
    logged = redacted_body(body, limit=100)

    assert logged.endswith(f"… (cut; the body has {len(body)} bytes)")
    assert len(logged) == 100 + len(f"… (cut; the body has {len(body)} bytes)")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api_key", True), ("apiKey", True), ("APIKey", True), ("key", True),
        ("x-litellm-api-key", True), ("refresh_token", True), ("Authorization", True),
        ("private_key", True), ("private_key_id", False), ("max_tokens", False), ("maxOutputTokens", False),
        ("keywords", False), ("monkey", False), ("cachedContentTokenCount", False),
        ("key_", True), ("", False),
    ],
)  # fmt: skip
def test_secret_field_names(name: str, expected: bool) -> None:
    assert is_secret_name(name) is expected
