"""Google error JSON → GemgateError, and GemgateError → OpenAI- or Google-shaped error JSON; pure."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gemgate import errors
from gemgate.types.gemini import ErrorBody, ErrorDetail

TYPE_PREFIX = "type.googleapis.com/google.rpc."
CONTEXT_LENGTH_CODE = "context_length_exceeded"
# ErrorInfo reasons that name the caller's credentials rather than its request.
_CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "ACCESS_TOKEN_EXPIRED"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")
_MAX_SNIPPET = 200
_SECRETS = (
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), "AIza…"),
    # Gateway keys (and OpenAI-style keys) a caller may paste into a prompt or a field.
    (re.compile(r"\bsk-[0-9A-Za-z_\-]{16,}"), "sk-…"),
    (re.compile(r"ya29\.[0-9A-Za-z_\-.]+"), "ya29.…"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1…"),
    (re.compile(r"(?i)([?&]key=)[^&\s\"']+"), r"\1…"),
    (re.compile(r"(?i)(x-goog-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',]+"), r"\1…"),
)
# Something every pattern above needs; most log text has none, and one search beats five subs.
_SECRET_MARKERS = re.compile(r"(?i)aiza|ya29\.|bearer|key|sk-")


def error_from_google(
    status_code: int, body: bytes | dict[str, Any] | list[Any] | None, *, provider: str, model: str
) -> errors.GemgateError:
    """The GemgateError for Google's error answer: by `error.status`, then by HTTP status."""
    detail = _error_detail(body)
    status = str(detail.get("status") or "")
    details = [item for item in detail.get("details") or [] if isinstance(item, dict)]
    message = str(detail.get("message") or "") or _fallback_message(status_code, body)
    error_class = _error_class(status_code, status, details, message)
    context: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "code": _code_for(error_class, status),
        "details": details,
    }
    if error_class is errors.RateLimitError:
        return errors.RateLimitError(
            message, retry_after=retry_delay(details), status_code=status_code, **context
        )
    if error_class is errors.AuthenticationError and status_code != 401:
        # A bad key comes as 400 INVALID_ARGUMENT; callers expect it to read as a 401.
        return errors.AuthenticationError(message, **context)
    return error_class(message, status_code=_status_code_for(error_class, status_code), **context)


def retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds Google asks the caller to wait (google.rpc.RetryInfo.retryDelay), if it says."""
    for detail in details:
        if detail.get("@type") == TYPE_PREFIX + "RetryInfo":
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def openai_error_body(error: errors.GemgateError) -> dict[str, Any]:
    """The OpenAI API's error JSON for ``error``."""
    return {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": None,
            "code": error.code,
        }
    }


def google_error_body(error: errors.GemgateError) -> ErrorBody:
    """Google's error JSON (`{"error": {code, message, status}}`) for ``error``."""
    detail: ErrorDetail = {
        "code": error.status_code,
        "message": error.message,
        "status": error.google_status,
    }
    if error.details:
        detail["details"] = error.details
    return {"error": detail}


def redact(text: str) -> str:
    """``text`` with API keys, OAuth tokens and `key=` query values blanked out."""
    if not _SECRET_MARKERS.search(text):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _error_detail(body: bytes | dict[str, Any] | list[Any] | None) -> dict[str, Any]:
    parsed: Any = body
    if isinstance(body, bytes | bytearray):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {}
    # Without alt=sse Google wraps even its errors in the streamed JSON array.
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        detail: dict[str, Any] = parsed["error"]
        return detail
    return {}


def _error_class(
    status_code: int, status: str, details: list[dict[str, Any]], message: str
) -> type[errors.GemgateError]:
    if _names_credentials(details):
        return errors.AuthenticationError
    chosen = errors.ERROR_FOR_GOOGLE_STATUS.get(status) or errors.ERROR_FOR_HTTP_STATUS.get(
        status_code
    )
    if chosen is None:
        chosen = errors.InternalServerError if status_code >= 500 else errors.BadRequestError
    if chosen is errors.BadRequestError and _is_input_too_long(status, message):
        return errors.ContextWindowExceededError
    return chosen


def _names_credentials(details: list[dict[str, Any]]) -> bool:
    return any(
        detail.get("@type") == TYPE_PREFIX + "ErrorInfo"
        and detail.get("reason") in _CREDENTIAL_REASONS
        for detail in details
    )


def _is_input_too_long(status: str, message: str) -> bool:
    # Google reports an over-long prompt as a bare 400 INVALID_ARGUMENT: no ErrorInfo reason, no
    # BadRequest field, nothing structured (seen in gemini-cli#6678, python-genai#2466). Routers
    # need ContextWindowExceededError to fall back to a longer-context model, so this one sentence
    # is recognised, and only when Google's status is INVALID_ARGUMENT. No other error is mapped
    # from its wording.
    return (
        status == "INVALID_ARGUMENT"
        and message.startswith("The input token count")
        and "exceeds the maximum number of tokens" in message
    )


def _code_for(error_class: type[errors.GemgateError], status: str) -> str | None:
    if error_class is errors.ContextWindowExceededError:
        return CONTEXT_LENGTH_CODE
    return status or None


def _status_code_for(error_class: type[errors.GemgateError], status_code: int) -> int:
    return status_code if 400 <= status_code <= 599 else error_class.http_status


def _fallback_message(status_code: int, body: bytes | dict[str, Any] | list[Any] | None) -> str:
    # Load balancers answer with HTML or plain text; a short, redacted excerpt helps debugging.
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else ""
    excerpt = redact(" ".join(text.split())[:_MAX_SNIPPET])
    return f"Google answered HTTP {status_code}" + (f": {excerpt}" if excerpt else ".")
