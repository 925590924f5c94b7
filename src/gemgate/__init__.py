"""gemgate: a gateway to Google's Gemini models (OpenAI-format SDK, proxy, pass-through, emulator)."""

from gemgate import google_genai
from gemgate.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    GemgateError,
    InternalServerError,
    JSONSchemaValidationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnsupportedParamsError,
)
from gemgate.openai_api import (
    acompletion,
    aembedding,
    atext_completion,
    completion,
    embedding,
    text_completion,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "GemgateError",
    "InternalServerError",
    "JSONSchemaValidationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "UnsupportedParamsError",
    "acompletion",
    "aembedding",
    "atext_completion",
    "completion",
    "embedding",
    "google_genai",
    "text_completion",
]
