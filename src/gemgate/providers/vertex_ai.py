"""Vertex AI: the regional, global or multi-region host, project/location paths and bearer tokens."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gemgate import errors
from gemgate.providers.base import method_suffix, model_id, versioned_base
from gemgate.providers.google_credentials import AccessTokens

NAME = "vertex_ai"
API_VERSION = "v1"
DEFAULT_LOCATION = "us-central1"
GLOBAL_LOCATION = "global"
# https://cloud.google.com/vertex-ai/generative-ai/docs/learn/locations#multi-region
MULTI_REGIONS = frozenset({"us", "eu"})
API_BASE_ENV = "VERTEX_API_BASE"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
# In order of precedence.
PROJECT_ENVS = ("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
LOCATION_ENVS = ("VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION")
# Vertex's embedContent takes its options nested (the Python SDK 3.x sends them this way).
_EMBED_OPTIONS = ("taskType", "title", "outputDimensionality", "autoTruncate")
_LOCATION = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_\-]*$")


def vertex_host(location: str) -> str:
    """The API host serving ``location``: global, a multi-region, or a region."""
    if location == GLOBAL_LOCATION:
        return "https://aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass(frozen=True, slots=True)
class VertexAi:
    """Where and how to reach Vertex AI: a service account's bearer token, or an API key
    (express mode, no project in the path)."""

    project: str | None
    location: str
    api_base: str
    tokens: AccessTokens | None = None
    api_key: str | None = field(default=None, repr=False)
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAME

    def url(self, model: str, method: str, *, stream: bool = False) -> str:
        """`{host}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}`."""
        scope = f"/projects/{self.project}/locations/{self.location}" if self.tokens else ""
        return _method_url(self.api_base, scope, model, method, stream)

    def cached_contents_url(self) -> str:
        """`{host}/v1/projects/{p}/locations/{l}/cachedContents`."""
        base = versioned_base(self.api_base, API_VERSION, provider=NAME)
        return f"{base}/{self._cache_parent()}/cachedContents"

    def cached_model_name(self, model: str) -> str:
        """`projects/{p}/locations/{l}/publishers/google/models/{model}`."""
        bare = model_id(model, provider=NAME)
        return f"{self._cache_parent()}/publishers/google/models/{bare}"

    def _cache_parent(self) -> str:
        if self.tokens is None:
            # Express mode (an API key) has no project in its paths, and caches live in one.
            raise errors.BadRequestError(
                "context caches on Vertex AI live in a project: pass vertex_credentials "
                "(a service account) rather than an API key",
                provider=NAME,
            )
        return f"projects/{self.project}/locations/{self.location}"

    async def auth_headers(self) -> dict[str, str]:
        if self.tokens is None:
            return self._key_headers()
        return self._bearer_headers(await self.tokens.token())

    def auth_headers_sync(self) -> dict[str, str]:
        if self.tokens is None:
            return self._key_headers()
        return self._bearer_headers(self.tokens.token_sync())

    def adapt_request(
        self, body: Mapping[str, Any], method: str, *, model: str = ""
    ) -> dict[str, Any]:
        """Embedding options move under `embedContentConfig`; a Developer-API `model` is dropped."""
        if method == "embedContent":
            return _nested_embed_options(body)
        if method == "batchEmbedContents":
            requests = [
                _nested_embed_options(entry) if isinstance(entry, Mapping) else entry
                for entry in body.get("requests") or []
            ]
            return {**body, "requests": requests}
        return dict(body)

    def _bearer_headers(self, token: str) -> dict[str, str]:
        headers = {"authorization": f"Bearer {token}"}
        quota_project = self.tokens.quota_project_id if self.tokens else None
        if quota_project:
            headers["x-goog-user-project"] = quota_project
        return headers

    def _key_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key or ""}


# Calls repeat the same few URLs: building one checks the model id and the base each time.
@functools.lru_cache(maxsize=1024)
def _method_url(api_base: str, scope: str, model: str, method: str, stream: bool) -> str:
    base = versioned_base(api_base, API_VERSION, provider=NAME)
    resource = f"publishers/google/models/{model_id(model, provider=NAME)}"
    return f"{base}{scope}/{resource}{method_suffix(method, stream=stream)}"


def vertex_ai_from(
    *,
    project: str | None,
    location: str | None,
    tokens: AccessTokens | None,
    api_key: str | None,
    api_base: str | None,
    extra_headers: Mapping[str, str],
    env: Mapping[str, str],
) -> VertexAi:
    """Vertex AI for one call: arguments, then the key file, then the environment."""
    if tokens is None and not api_key:
        raise errors.AuthenticationError(
            "no Vertex AI credentials: pass vertex_credentials=<service-account key file, path or "
            f"JSON> or set {CREDENTIALS_ENV}",
            provider=NAME,
        )
    chosen_location = checked_location(location or _first(env, LOCATION_ENVS) or DEFAULT_LOCATION)
    chosen_project = _project_for(project, tokens, env) if tokens else None
    base = api_base or env.get(API_BASE_ENV) or vertex_host(chosen_location)
    versioned_base(base, API_VERSION, provider=NAME)
    return VertexAi(
        project=chosen_project,
        location=chosen_location,
        api_base=base,
        tokens=tokens,
        api_key=None if tokens else api_key,
        extra_headers=dict(extra_headers),
    )


def _project_for(project: str | None, tokens: AccessTokens, env: Mapping[str, str]) -> str:
    # The key file is given per call, so its project wins over process-wide variables.
    chosen = project or tokens.project_id or _first(env, PROJECT_ENVS)
    if not chosen:
        raise errors.BadRequestError(
            "no Vertex AI project: pass vertex_project=... or set VERTEXAI_PROJECT", provider=NAME
        )
    if not _PROJECT.match(chosen):
        raise errors.BadRequestError(f"{chosen!r} is not a Google Cloud project id", provider=NAME)
    return chosen


def checked_location(location: str) -> str:
    """``location`` if it can name a Vertex AI location (it becomes part of a host name)."""
    if not _LOCATION.match(location):
        raise errors.BadRequestError(
            f"{location!r} is not a Vertex AI location (e.g. 'us-central1', 'global', 'eu')",
            provider=NAME,
        )
    return location


def _nested_embed_options(request: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(request.get("embedContentConfig") or {})
    adapted: dict[str, Any] = {}
    for key, value in request.items():
        if key in _EMBED_OPTIONS:
            options.setdefault(key, value)
        elif key not in ("model", "embedContentConfig"):
            adapted[key] = value
    if options:
        adapted["embedContentConfig"] = options
    return adapted


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)
