"""The one exception tree of gemgate; each class knows its HTTP status, Google status and OpenAI type.

    GemgateError
    ├── BadRequestError (400, INVALID_ARGUMENT / FAILED_PRECONDITION)
    │   ├── ContextWindowExceededError (the prompt is longer than the model takes)
    │   ├── ContentPolicyViolationError (a blocked prompt or answer)
    │   └── UnsupportedParamsError (an OpenAI parameter Gemini cannot honour)
    ├── AuthenticationError (401, UNAUTHENTICATED)
    ├── PermissionDeniedError (403, PERMISSION_DENIED)
    ├── NotFoundError (404, NOT_FOUND)
    ├── Timeout (408/504, DEADLINE_EXCEEDED)
    ├── RateLimitError (429, RESOURCE_EXHAUSTED; retry_after from Google's RetryInfo)
    │   └── BudgetExceededError (a virtual key's or team's budget is spent)
    ├── InternalServerError (500, INTERNAL)
    │   └── JSONSchemaValidationError (the answer does not match the requested schema)
    ├── ServiceUnavailableError (503, UNAVAILABLE)
    └── APIConnectionError (Google could not be reached)

Names and fields follow the OpenAI SDK's errors (status_code, message, type, code) so code written
against it catches the same things; provider and model say where the error came from.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GemgateError(Exception):
    """Base class: an error gemgate raises or maps from Google."""

    http_status: ClassVar[int] = 500
    google_status: ClassVar[str] = "INTERNAL"
    openai_type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.code = code
        self.status_code = status_code or self.http_status
        self.details = details or []

    @property
    def type(self) -> str:
        """The OpenAI error `type` this error is rendered with."""
        return self.openai_type

    def __str__(self) -> str:
        where = f" ({self.provider}/{self.model})" if self.provider and self.model else ""
        return f"{type(self).__name__}: {self.message}{where}"


class BadRequestError(GemgateError):
    http_status = 400
    google_status = "INVALID_ARGUMENT"
    openai_type = "invalid_request_error"


class ContextWindowExceededError(BadRequestError):
    pass


class ContentPolicyViolationError(BadRequestError):
    def __init__(self, message: str, *, block_reason: str | None = None, **context: Any) -> None:
        super().__init__(message, code=context.pop("code", "content_policy_violation"), **context)
        self.block_reason = block_reason


class UnsupportedParamsError(BadRequestError):
    pass


class AuthenticationError(GemgateError):
    http_status = 401
    google_status = "UNAUTHENTICATED"
    openai_type = "authentication_error"


class PermissionDeniedError(GemgateError):
    http_status = 403
    google_status = "PERMISSION_DENIED"
    openai_type = "permission_error"


class NotFoundError(GemgateError):
    http_status = 404
    google_status = "NOT_FOUND"
    openai_type = "not_found_error"


class Timeout(GemgateError):
    http_status = 408
    google_status = "DEADLINE_EXCEEDED"
    openai_type = "timeout_error"


class RateLimitError(GemgateError):
    http_status = 429
    google_status = "RESOURCE_EXHAUSTED"
    openai_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class BudgetExceededError(RateLimitError):
    # OpenAI answers a spent quota with 429 and this type; retry_after is the budget's reset, if any.
    openai_type = "insufficient_quota"


class InternalServerError(GemgateError):
    http_status = 500
    google_status = "INTERNAL"
    openai_type = "api_error"


class JSONSchemaValidationError(InternalServerError):
    """The model's JSON did not validate against the response schema (enforce_validation)."""

    def __init__(
        self, message: str, *, raw_response: str, schema: Any = None, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.raw_response = raw_response
        self.schema = schema


class ServiceUnavailableError(GemgateError):
    http_status = 503
    google_status = "UNAVAILABLE"
    openai_type = "service_unavailable_error"


class APIConnectionError(GemgateError):
    http_status = 502
    google_status = "UNAVAILABLE"
    openai_type = "api_connection_error"


ERROR_FOR_GOOGLE_STATUS: dict[str, type[GemgateError]] = {
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": Timeout,
    "UNAVAILABLE": ServiceUnavailableError,
    "INTERNAL": InternalServerError,
    "UNKNOWN": InternalServerError,
    "CANCELLED": InternalServerError,
}
ERROR_FOR_HTTP_STATUS: dict[int, type[GemgateError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    429: RateLimitError,
    500: InternalServerError,
    502: APIConnectionError,
    503: ServiceUnavailableError,
    504: Timeout,
}
