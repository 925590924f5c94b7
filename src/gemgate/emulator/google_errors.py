"""Google's error shape (`{"error": {code, message, status, details}}`) and the errors the emulator raises."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gemgate.types.gemini import ErrorBody

HTTP_STATUS_OF = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
STATUS_OF_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
MESSAGE_OF_STATUS = {
    "RESOURCE_EXHAUSTED": "Resource has been exhausted (e.g. check quota).",
    "INTERNAL": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "UNAVAILABLE": "The model is overloaded. Please try again later.",
    "DEADLINE_EXCEEDED": "The request timed out. Please try again.",
    "CANCELLED": "The operation was cancelled.",
}
TYPE_PREFIX = "type.googleapis.com/google.rpc."


class GoogleApiError(Exception):
    """An error the emulator answers with, exactly as Google's front end renders it."""

    def __init__(
        self, status: str, message: str, *, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_OF.get(self.status, 500)

    def body(self) -> ErrorBody:
        error: ErrorBody = {
            "error": {"code": self.http_status, "message": self.message, "status": self.status}
        }
        if self.details:
            error["error"]["details"] = self.details
        return error


def invalid_argument(message: str, *, field: str | None = None) -> GoogleApiError:
    """A 400 INVALID_ARGUMENT with a BadRequest detail, as Google sends for bad request bodies."""
    violation: dict[str, str] = {"description": message}
    if field is not None:
        violation = {"field": field, "description": message}
    details = [{"@type": TYPE_PREFIX + "BadRequest", "fieldViolations": [violation]}]
    return GoogleApiError("INVALID_ARGUMENT", message, details=details)


def not_found(message: str) -> GoogleApiError:
    return GoogleApiError("NOT_FOUND", message)


def model_not_found(name: str, *, is_vertex: bool, version: str, method: str) -> GoogleApiError:
    """Google's 404 for a model that does not exist or does not serve ``method``."""
    if is_vertex:
        return not_found(
            f"Publisher Model `{name}` was not found or your project does not have access to it. "
            "Please ensure you are using a valid model version. For more information, see: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
        )
    return not_found(
        f"{name} is not found for API version {version}, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods."
    )


def rate_limited(retry_seconds: float, model: str) -> GoogleApiError:
    """A 429 with QuotaFailure, Help and RetryInfo details, as the Gemini API sends."""
    details: list[dict[str, Any]] = [
        {
            "@type": TYPE_PREFIX + "QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "10",
                }
            ],
        },
        {
            "@type": TYPE_PREFIX + "Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": TYPE_PREFIX + "RetryInfo", "retryDelay": f"{retry_seconds:g}s"},
    ]
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        f"Please retry in {retry_seconds:g}s."
    )
    return GoogleApiError("RESOURCE_EXHAUSTED", message, details=details)


def error_for_http_status(code: int) -> GoogleApiError:
    """The canonical error Google sends for an HTTP status (used by fault injection)."""
    status = STATUS_OF_HTTP.get(code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")
    return GoogleApiError(status, MESSAGE_OF_STATUS.get(status, f"Request failed ({status})."))


def error_response(error: GoogleApiError) -> Response:
    return Response(
        orjson.dumps(error.body()),
        status_code=error.http_status,
        media_type="application/json; charset=UTF-8",
    )
