"""`pass_through:` of config.yaml: where the pass-through routes send requests and the default
Vertex AI credentials, filled from the environment (and LiteLLM's `default_vertex_config`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

DISCOVERY_BASE_URL = "https://discoveryengine.googleapis.com"
# Environment variables that fill `pass_through.vertex_ai` keys the file leaves out.
VERTEX_ENV_DEFAULTS = {
    "project": "DEFAULT_VERTEXAI_PROJECT",
    "location": "DEFAULT_VERTEXAI_LOCATION",
    "credentials": "DEFAULT_GOOGLE_APPLICATION_CREDENTIALS",
    "base_url": "VERTEX_API_BASE",
}
# LiteLLM's top-level `default_vertex_config:` keys and ours, so its configs load unchanged.
LITELLM_VERTEX_KEYS = {
    "vertex_project": "project",
    "vertex_location": "location",
    "vertex_credentials": "credentials",
}


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


class GeminiPassThrough(BaseModel):
    """`pass_through.gemini`: where `/gemini/...` goes (default: general_settings.gemini_api_base)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        return _base_url(value)


class VertexPassThrough(BaseModel):
    """`pass_through.vertex_ai`: the default Vertex AI project, location and credentials, and
    base URLs that replace Google's hosts (then the location no longer picks the host)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = None
    location: str | None = None
    # A service-account key file: its path, its JSON text or the mapping itself.
    credentials: str | dict[str, Any] | None = Field(default=None, repr=False)
    base_url: str | None = None
    discovery_base_url: str = DISCOVERY_BASE_URL

    @field_validator("base_url", "discovery_base_url")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        return _base_url(value)

    @field_validator("project", "location", "credentials", "base_url", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class PassThroughSettings(BaseModel):
    """`pass_through:` of config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gemini: GeminiPassThrough = Field(default_factory=GeminiPassThrough)
    vertex_ai: VertexPassThrough = Field(default_factory=VertexPassThrough)


def pass_through_section(document: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """The `pass_through` section with gaps in `vertex_ai` filled from `default_vertex_config`,
    then from the environment (a section that is not a mapping is left for validation to refuse)."""
    section = document.get("pass_through") or {}
    if not isinstance(section, dict):
        return section
    vertex = section.get("vertex_ai") or {}
    if not isinstance(vertex, dict):
        return section
    filled = dict(vertex)
    litellm = document.get("default_vertex_config") or {}
    if isinstance(litellm, dict):
        for their_key, our_key in LITELLM_VERTEX_KEYS.items():
            if filled.get(our_key) in (None, "") and litellm.get(their_key):
                filled[our_key] = litellm[their_key]
    for key, variable in VERTEX_ENV_DEFAULTS.items():
        if filled.get(key) in (None, "") and environ.get(variable):
            filled[key] = environ[variable]
    return {**section, "vertex_ai": filled}
