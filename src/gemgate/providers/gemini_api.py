"""The Gemini Developer API: base URL, API version and the `x-goog-api-key` header."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gemgate import errors
from gemgate.providers.base import method_suffix, model_id, versioned_base

NAME = "gemini"
DEFAULT_API_BASE = "https://generativelanguage.googleapis.com"
# Every preview feature (thinking levels, caches, files, ...) is served on v1beta.
API_VERSION = "v1beta"
API_BASE_ENV = "GEMINI_API_BASE"
# In order of precedence.
API_KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


@dataclass(frozen=True, slots=True)
class GeminiApi:
    """Where and how to reach the Gemini Developer API with one API key."""

    api_key: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAME

    def url(self, model: str, method: str, *, stream: bool = False) -> str:
        """`{api_base}/v1beta/models/{model}:{method}`; the key never goes into the URL."""
        return _method_url(self.api_base, model, method, stream)

    def cached_contents_url(self) -> str:
        """`{api_base}/v1beta/cachedContents`."""
        return f"{versioned_base(self.api_base, API_VERSION, provider=NAME)}/cachedContents"

    def cached_model_name(self, model: str) -> str:
        """`models/{model}`."""
        return _resource(model)

    async def auth_headers(self) -> dict[str, str]:
        return self.auth_headers_sync()

    def auth_headers_sync(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key}

    def adapt_request(
        self, body: Mapping[str, Any], method: str, *, model: str = ""
    ) -> dict[str, Any]:
        """batchEmbedContents needs each request to name its model as `models/{id}`."""
        adapted = dict(body)
        if method == "batchEmbedContents" and model:
            name = _resource(model)
            adapted["requests"] = [
                {"model": name, **entry} if isinstance(entry, dict) else entry
                for entry in body.get("requests") or []
            ]
        return adapted


def gemini_api_from(
    *,
    api_key: str | None,
    api_base: str | None,
    extra_headers: Mapping[str, str],
    env: Mapping[str, str],
) -> GeminiApi:
    """The Developer API for one call: arguments win over the environment; no key is an error."""
    key = api_key or next((env[name] for name in API_KEY_ENVS if env.get(name)), None)
    if not key:
        raise errors.AuthenticationError(
            "no Gemini API key: pass api_key=... or set GEMINI_API_KEY", provider=NAME
        )
    base = api_base or env.get(API_BASE_ENV) or DEFAULT_API_BASE
    # Checked now, so a bad base URL fails before anything is sent.
    versioned_base(base, API_VERSION, provider=NAME)
    return GeminiApi(api_key=key, api_base=base, extra_headers=dict(extra_headers))


# Calls repeat the same few URLs: building one checks the model id and the base each time.
@functools.lru_cache(maxsize=1024)
def _method_url(api_base: str, model: str, method: str, stream: bool) -> str:
    base = versioned_base(api_base, API_VERSION, provider=NAME)
    return f"{base}/{_resource(model)}{method_suffix(method, stream=stream)}"


def _resource(model: str) -> str:
    return f"models/{model_id(model, provider=NAME)}"
