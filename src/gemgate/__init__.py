"""gemgate: a gateway to Google's Gemini models (OpenAI-format SDK, proxy, pass-through, emulator).

The call functions are loaded on first use (PEP 562): `import gemgate` stays cheap for programs
that only need part of it, and the HTTP stack behind a call loads when that call is first made.
"""

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from gemgate import google_genai
    from gemgate.openai_api import (
        acompletion,
        aembedding,
        atext_completion,
        completion,
        embedding,
        text_completion,
    )

# Public name → the module that defines it, imported when the name is first read.
_LOADED_ON_USE = {
    **dict.fromkeys(
        ("acompletion", "aembedding", "atext_completion", "completion", "embedding",
         "text_completion"),
        "gemgate.openai_api",
    ),
    "google_genai": "gemgate.google_genai",
}  # fmt: skip

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


def __getattr__(name: str) -> Any:
    module_name = _LOADED_ON_USE.get(name)
    if module_name is None:
        raise AttributeError(f"module 'gemgate' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith(name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LOADED_ON_USE})
