"""Access log records, request ids, JSON-lines log formatting and redacted request bodies.

Secrets never reach a log line: messages and string fields go through `redact`, the access
line carries the path without its query (which may hold `key=`), and bodies are only logged
on request, with credential-named fields blanked.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from gemgate.translate.error_bodies import redact

ACCESS_MESSAGE = "%s %s %d %.1fms"
REDACTED = "[redacted]"
BODY_LIMIT = 4096
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
# Name parts (snake, kebab or camel case) that mark a field holding a credential.
_SECRET_WORDS = frozenset(
    {
        "key",
        "keys",
        "apikey",
        "token",
        "authorization",
        "password",
        "secret",
        "credential",
        "credentials",
        "cookie",
    }
)
_NAME_PARTS = re.compile(r"[_\-\s.]+|(?<=[a-z0-9])(?=[A-Z])")
_MAX_DEPTH = 8
_MAX_JSON_DEPTH = 64
# orjson writes integers up to 64 bits; larger ones are not JSON-safe for it.
_INT_RANGE = range(-(2**63), 2**64)


class _Unsafe:
    """Marks a value that cannot be written as JSON (it is left out of the line)."""


_UNSAFE = _Unsafe()


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the record's extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name in _RECORD_ATTRIBUTES or name in entry:
                continue
            safe = _json_safe(value, 0)
            if safe is not _UNSAFE:
                entry[name] = safe
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return orjson.dumps(entry).decode()


def _timestamp(created: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2025-01-31T12:00:00.123Z."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_safe(value: Any, depth: int) -> Any:
    """``value`` with its strings redacted, or _UNSAFE when orjson could not write it."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if value in _INT_RANGE else _UNSAFE
    if depth >= _MAX_DEPTH:
        return _UNSAFE
    if isinstance(value, list | tuple):
        items = [_json_safe(item, depth + 1) for item in value]
        return _UNSAFE if any(item is _UNSAFE for item in items) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        fields = {key: _json_safe(item, depth + 1) for key, item in value.items()}
        return _UNSAFE if any(item is _UNSAFE for item in fields.values()) else fields
    return _UNSAFE


def request_id_of(header_value: str | None, own: str | None = None) -> str:
    """The caller's `x-request-id` when it is 1–128 safe characters, else ``own`` (or a new id)."""
    if header_value is not None and _REQUEST_ID.fullmatch(header_value):
        return header_value
    return own if own is not None else new_request_id()


class _RequestIds:
    """A random prefix per process and a counter: unique across workers and restarts, and
    cheaper than a uuid4 (a syscall for randomness) on every request."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_REQUEST_IDS = _RequestIds()
# Forked workers would otherwise hand out the same ids as their parent and each other.
os.register_at_fork(after_in_child=_REQUEST_IDS.reseed)


def new_request_id() -> str:
    """A request id unique across this gateway's workers and restarts."""
    return _REQUEST_IDS.next()


def log_access(
    logger: logging.Logger,
    *,
    request_id: str,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    model: str | None,
    client: str | None,
) -> None:
    """Log one answered request at INFO; the fields also travel as the record's extras."""
    if not logger.isEnabledFor(logging.INFO):
        return
    # The query string can carry `key=`; it never reaches the log.
    path = path.partition("?")[0]
    extra = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "model": model,
        "client": client,
    }
    logger.info(ACCESS_MESSAGE, method, path, status, duration_ms, extra=extra)


def redacted_body(body: bytes, limit: int = BODY_LIMIT) -> str:
    """``body`` for a debug log: credential-named JSON fields blanked, secrets redacted, cut."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Redaction runs before the cut, so a margin keeps a key at the edge whole.
        text = redact(body[: limit * 4 + 1024].decode("utf-8", "replace"))
    else:
        text = orjson.dumps(_without_secrets(document, 0)).decode()
    if len(text) > limit:
        return f"{text[:limit]}… (cut; the body has {len(body)} bytes)"
    return text


def _without_secrets(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact(value)
    if depth > _MAX_JSON_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_name(key) else _without_secrets(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_secrets(item, depth + 1) for item in value]
    return value


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a credential (api_key, apiKey, access_token, ...).

    Only the last word counts: `access_token` is a secret, `promptTokenCount` is not.
    """
    parts = [part for part in _NAME_PARTS.split(name) if part]
    return bool(parts) and parts[-1].lower() in _SECRET_WORDS
