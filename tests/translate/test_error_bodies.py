"""Google error JSON → GemgateError, and the OpenAI / Google error bodies rendered from it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gemgate import errors
from gemgate.translate.error_bodies import (
    error_from_google,
    google_error_body,
    openai_error_body,
    redact,
    retry_delay,
)

RPC = "type.googleapis.com/google.rpc."


def google_body(code: int, status: str, message: str = "m", **extra: Any) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "status": status, **extra}})


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (400, "INVALID_ARGUMENT", errors.BadRequestError),
        (400, "FAILED_PRECONDITION", errors.BadRequestError),
        (401, "UNAUTHENTICATED", errors.AuthenticationError),
        (403, "PERMISSION_DENIED", errors.PermissionDeniedError),
        (404, "NOT_FOUND", errors.NotFoundError),
        (429, "RESOURCE_EXHAUSTED", errors.RateLimitError),
        (500, "INTERNAL", errors.InternalServerError),
        (503, "UNAVAILABLE", errors.ServiceUnavailableError),
        (504, "DEADLINE_EXCEEDED", errors.Timeout),
        (499, "CANCELLED", errors.InternalServerError),
    ],
)
def test_google_status_picks_the_error_class(
    code: int, status: str, expected: type[errors.GemgateError]
) -> None:
    error = error_from_google(code, google_body(code, status), provider="gemini", model="m1")
    assert type(error) is expected
    assert (error.status_code, error.code, error.provider, error.model) == (code, status, "gemini", "m1")  # fmt: skip


def test_google_status_wins_over_the_http_status() -> None:
    # A prepaid-credit exhaustion arrives as 402 RESOURCE_EXHAUSTED.
    error = error_from_google(402, google_body(402, "RESOURCE_EXHAUSTED"), provider="g", model="m")
    assert isinstance(error, errors.RateLimitError) and error.status_code == 402


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (404, b"<html>Not Found</html>", errors.NotFoundError),
        (502, b"Bad Gateway", errors.APIConnectionError),
        (503, None, errors.ServiceUnavailableError),
        (418, b"", errors.BadRequestError),
        (507, b"{}", errors.InternalServerError),
    ],
)
def test_http_status_decides_when_the_body_has_no_google_status(
    code: int, body: bytes | None, expected: type[errors.GemgateError]
) -> None:
    assert type(error_from_google(code, body, provider="g", model="m")) is expected


def test_a_body_without_google_json_keeps_a_short_excerpt() -> None:
    error = error_from_google(
        502, b"<html>upstream  connect\nerror</html>", provider="g", model="m"
    )
    assert error.message == "Google answered HTTP 502: <html>upstream connect error</html>"


def test_rate_limit_carries_the_retry_delay_from_retry_info() -> None:
    details = [
        {"@type": RPC + "QuotaFailure", "violations": []},
        {"@type": RPC + "RetryInfo", "retryDelay": "26.5s"},
    ]
    body = google_body(429, "RESOURCE_EXHAUSTED", details=details)
    error = error_from_google(429, body, provider="gemini", model="m")
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == 26.5 and error.details == details


@pytest.mark.parametrize(
    ("delay", "expected"), [("7s", 7.0), ("0.25s", 0.25), ("soon", None), ("", None)]
)
def test_retry_delay_reads_google_durations(delay: str, expected: float | None) -> None:
    assert retry_delay([{"@type": RPC + "RetryInfo", "retryDelay": delay}]) == expected


def test_retry_delay_is_none_without_retry_info() -> None:
    assert retry_delay([{"@type": RPC + "Help"}]) is None


def test_an_invalid_api_key_reads_as_an_authentication_error() -> None:
    details = [
        {"@type": RPC + "ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}
    ]
    body = google_body(400, "INVALID_ARGUMENT", "API key not valid.", details=details)
    error = error_from_google(400, body, provider="gemini", model="m")
    assert isinstance(error, errors.AuthenticationError) and error.status_code == 401


def test_an_over_long_prompt_is_a_context_window_error() -> None:
    message = (
        "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."
    )
    error = error_from_google(400, google_body(400, "INVALID_ARGUMENT", message), provider="g", model="m")  # fmt: skip
    assert isinstance(error, errors.ContextWindowExceededError)
    assert error.code == "context_length_exceeded" and error.message == message


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        ("INVALID_ARGUMENT", "maxOutputTokens exceeds the maximum number of tokens allowed"),
        ("FAILED_PRECONDITION", "The input token count (5) exceeds the maximum number of tokens"),
    ],
)
def test_other_bad_requests_are_not_taken_for_context_window_errors(
    status: str, message: str
) -> None:
    error = error_from_google(400, google_body(400, status, message), provider="g", model="m")
    assert type(error) is errors.BadRequestError


def test_an_error_wrapped_in_a_json_array_is_read() -> None:
    body = orjson.dumps([{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}])
    error = error_from_google(503, body, provider="g", model="m")
    assert isinstance(error, errors.ServiceUnavailableError) and error.message == "busy"


def test_a_parsed_dict_is_accepted_as_the_body() -> None:
    body = {"error": {"code": 404, "message": "no model", "status": "NOT_FOUND"}}
    assert error_from_google(404, body, provider="g", model="m").message == "no model"


def test_openai_error_body_has_openai_fields() -> None:
    error = errors.RateLimitError("slow down", code="RESOURCE_EXHAUSTED", retry_after=3)
    assert openai_error_body(error) == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "RESOURCE_EXHAUSTED",
        }
    }


def test_google_error_body_round_trips_a_google_error() -> None:
    details = [{"@type": RPC + "RetryInfo", "retryDelay": "2s"}]
    body = google_body(429, "RESOURCE_EXHAUSTED", "quota", details=details)
    error = error_from_google(429, body, provider="g", model="m")
    assert google_error_body(error) == orjson.loads(body)


def test_google_error_body_of_our_own_error() -> None:
    error = errors.APIConnectionError("could not talk to host")
    assert google_error_body(error) == {
        "error": {"code": 502, "message": "could not talk to host", "status": "UNAVAILABLE"}
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?key=AIzaSyA1234567890abcdefghijklmnopqrstu", "GET /x?key=…"),
        ("token AIzaSyA1234567890abcdefghijklmnopqrstu here", "token AIza… here"),
        ("Authorization: Bearer ya29.a0AfH6SM-xyz", "Authorization: Bearer …"),
        ("x-goog-api-key: secret-value", "x-goog-api-key: …"),
        ("nothing secret", "nothing secret"),
    ],
)
def test_redact_blanks_keys_and_tokens(text: str, expected: str) -> None:
    assert redact(text) == expected
