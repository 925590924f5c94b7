"""Fault injection: per-request failures asked for by a header or a directive in the prompt.

Header `x-emulator-fault: status=429, retry=7` or, anywhere in the last user text,
`[[emulator: status=503]]`. Items: status=<http code>, retry=<seconds>, latency=<ms>,
chunk-delay=<ms>, break-after=<chunks>, hang[=<seconds>], block=<blockReason>, finish=<finishReason>.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from gemgate.emulator.google_errors import invalid_argument

HEADER = "x-emulator-fault"
_DIRECTIVE = re.compile(r"\[\[emulator:([^\]]*)\]\]")
_DEFAULT_HANG_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Fault:
    """What should go wrong with one request (nothing, by default)."""

    status: int | None = None
    retry_seconds: float = 2.0
    latency_ms: int = 0
    chunk_delay_ms: int = 0
    break_after: int | None = None
    hang_seconds: float | None = None
    block_reason: str | None = None
    finish_reason: str | None = None


NO_FAULT = Fault()


def parse_fault(spec: str) -> Fault:
    """Parse a comma- or semicolon-separated fault spec; 400 INVALID_ARGUMENT on a bad one."""
    fault = NO_FAULT
    for item in re.split(r"[,;]", spec):
        name, _, value = item.strip().partition("=")
        if not name:
            continue
        try:
            fault = _apply(fault, name.strip().lower(), value.strip())
        except ValueError as error:
            raise invalid_argument(
                f"Bad emulator fault directive {item.strip()!r}: {error}"
            ) from error
    return fault


def find_fault(header: str | None, request: dict[str, Any]) -> Fault:
    """The fault asked for by the request's header, then by a directive in its prompt."""
    fault = parse_fault(header) if header else NO_FAULT
    directive = _DIRECTIVE.search(_last_user_text(request))
    if directive is not None:
        fault = _merge(fault, parse_fault(directive.group(1)))
    return fault


def strip_directives(text: str) -> str:
    """Text without fault directives, so replies do not echo them."""
    return _DIRECTIVE.sub("", text).strip()


def _apply(fault: Fault, name: str, value: str) -> Fault:
    if name == "status":
        code = int(value)
        if not 400 <= code <= 599:
            raise ValueError("status must be an HTTP error code (400-599)")
        return replace(fault, status=code)
    if name == "retry":
        return replace(fault, retry_seconds=float(value.rstrip("s")))
    if name == "latency":
        return replace(fault, latency_ms=int(value))
    if name == "chunk-delay":
        return replace(fault, chunk_delay_ms=int(value))
    if name == "break-after":
        return replace(fault, break_after=int(value))
    if name == "hang":
        return replace(fault, hang_seconds=float(value) if value else _DEFAULT_HANG_SECONDS)
    if name == "block":
        return replace(fault, block_reason=(value or "SAFETY").upper())
    if name == "finish":
        return replace(fault, finish_reason=(value or "SAFETY").upper())
    raise ValueError(
        "unknown fault; use status, retry, latency, chunk-delay, break-after, hang, block or finish"
    )


def _merge(first: Fault, second: Fault) -> Fault:
    changes = {
        name: getattr(second, name)
        for name in Fault.__slots__
        if getattr(second, name) != getattr(NO_FAULT, name)
    }
    return replace(first, **changes)


def _last_user_text(request: dict[str, Any]) -> str:
    for content in reversed(request.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            parts = content.get("parts") or []
            return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
    return ""
