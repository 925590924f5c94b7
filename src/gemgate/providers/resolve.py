"""`gemini/<model>` or `vertex_ai/<model>` plus transport arguments → (Provider, model id)."""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable, Mapping
from typing import Any

from gemgate import errors
from gemgate.providers import gemini_api, vertex_ai
from gemgate.providers.base import Provider, model_id
from gemgate.providers.google_credentials import (
    AccessTokens,
    KeyFileSource,
    credential_identity,
    read_key_file,
)

# Arguments that say where and how to call, never part of the request body.
TRANSPORT_PARAMS = frozenset(
    {
        "api_key",
        "api_base",
        "vertex_project",
        "vertex_location",
        "vertex_credentials",
        "extra_headers",
    }
)
_VERTEX_PREFIXES = frozenset({"vertex_ai", "vertex_ai_beta"})
# The variables Vertex AI reads: part of a remembered resolution's key, so a change counts.
_VERTEX_ENV_NAMES = (vertex_ai.API_BASE_ENV, vertex_ai.CREDENTIALS_ENV,
                     *vertex_ai.PROJECT_ENVS, *vertex_ai.LOCATION_ENVS)  # fmt: skip
# Distinct (model, arguments, environment) resolutions kept; past it the memo starts over.
MEMO_SIZE = 256


class ProviderRegistry:
    """Credentials shared by every call of one client, so access tokens are fetched once."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessTokens] = {}
        # Key files named by path are read once, not on every call.
        self._key_files: dict[str, dict[str, Any]] = {}
        # Resolutions already made: the same arguments give the same (immutable) provider.
        self._resolved: dict[Hashable, tuple[Provider, str]] = {}
        self._lock = threading.Lock()

    def resolved(self, key: Hashable) -> tuple[Provider, str] | None:
        """A resolution made earlier under ``key``."""
        return self._resolved.get(key)

    def remember(self, key: Hashable, resolution: tuple[Provider, str]) -> None:
        """Keep ``resolution`` under ``key`` (the memo is bounded)."""
        with self._lock:
            if len(self._resolved) >= MEMO_SIZE:
                self._resolved.clear()
            self._resolved[key] = resolution

    def access_tokens(self, source: KeyFileSource) -> AccessTokens:
        """The shared AccessTokens of the credential ``source`` names (a path, JSON or a dict)."""
        info = self._key_file(source)
        identity = credential_identity(info)
        with self._lock:
            tokens = self._tokens.get(identity)
            if tokens is None:
                tokens = self._tokens[identity] = AccessTokens(info)
            return tokens

    def _key_file(self, source: KeyFileSource) -> dict[str, Any]:
        if isinstance(source, Mapping) or str(source).lstrip().startswith("{"):
            return read_key_file(source)
        path = os.fspath(source)
        with self._lock:
            cached = self._key_files.get(path)
        if cached is None:
            cached = read_key_file(path)
            with self._lock:
                self._key_files[path] = cached
        return cached


def resolve_model(
    model: str,
    params: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    registry: ProviderRegistry | None = None,
) -> tuple[Provider, str]:
    """The provider and bare model id for ``model``; raises before any network call when the
    prefix, credentials or transport arguments are wrong."""
    environment: Mapping[str, str] = os.environ if env is None else env
    if registry is None:
        return _resolve(model, params, environment, ProviderRegistry())
    key = _memo_key(model, params, environment)
    if key is None:
        return _resolve(model, params, environment, registry)
    known = registry.resolved(key)
    if known is None:
        known = _resolve(model, params, environment, registry)
        registry.remember(key, known)
    return known


def _resolve(
    model: str,
    params: Mapping[str, Any],
    environment: Mapping[str, str],
    registry: ProviderRegistry,
) -> tuple[Provider, str]:
    prefix, _, name = model.partition("/")
    if prefix == gemini_api.NAME and name:
        provider: Provider = _gemini(params, environment)
        return provider, model_id(name, provider=prefix)
    if prefix in _VERTEX_PREFIXES and name:
        provider = _vertex(params, environment, registry)
        return provider, model_id(name, provider=vertex_ai.NAME)
    raise errors.BadRequestError(
        f"unknown provider prefix in model {model!r}: use gemini/<model> or vertex_ai/<model>",
        model=model,
    )


def _memo_key(model: str, params: Mapping[str, Any], env: Mapping[str, str]) -> Hashable | None:
    """What a resolution depends on, or None when an argument is not plain text (e.g. a key file
    given as a dict), which is then resolved afresh."""
    # Plain text (or None) is the usual case: the items as they come are the key. Arguments given
    # in another order make another key for the same resolution, which only costs a memo entry.
    arguments: tuple[tuple[str, Any], ...] = tuple(params.items())
    for value in params.values():
        if value is not None and type(value) is not str:
            mixed = _mixed_arguments(params)
            if mixed is None:
                return None
            arguments = mixed
            break
    names = _env_names(model, params)
    return model, arguments, tuple(map(env.get, names)) if names else ()


def _mixed_arguments(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    arguments: list[tuple[str, Any]] = []
    for name, value in params.items():
        if name == "extra_headers" and isinstance(value, Mapping) and _is_text_map(value):
            value = tuple(value.items())
        elif value is not None and not isinstance(value, str):
            return None
        arguments.append((name, value))
    return tuple(arguments)


def _env_names(model: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The environment variables a resolution of ``model`` with ``params`` would read."""
    if model.startswith("vertex_ai"):
        return _VERTEX_ENV_NAMES
    # A given key or base makes the Developer API's variables irrelevant (and reading them costs).
    names = () if params.get("api_key") else gemini_api.API_KEY_ENVS
    return names + (() if params.get("api_base") else (gemini_api.API_BASE_ENV,))


def _is_text_map(values: Mapping[Any, Any]) -> bool:
    return all(isinstance(key, str) and isinstance(value, str) for key, value in values.items())


def split_transport_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` split into (transport arguments, everything else)."""
    transport: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in params.items():
        (transport if key in TRANSPORT_PARAMS else rest)[key] = value
    return transport, rest


def _gemini(params: Mapping[str, Any], env: Mapping[str, str]) -> gemini_api.GeminiApi:
    return gemini_api.gemini_api_from(
        api_key=_text(params, "api_key"),
        api_base=_text(params, "api_base"),
        extra_headers=_headers(params),
        env=env,
    )


def _vertex(
    params: Mapping[str, Any], env: Mapping[str, str], registry: ProviderRegistry
) -> vertex_ai.VertexAi:
    api_key = _text(params, "api_key")
    source = _credentials_source(params, env, has_api_key=bool(api_key))
    return vertex_ai.vertex_ai_from(
        project=_text(params, "vertex_project"),
        location=_text(params, "vertex_location"),
        tokens=registry.access_tokens(source) if source is not None else None,
        api_key=api_key,
        api_base=_text(params, "api_base"),
        extra_headers=_headers(params),
        env=env,
    )


def _credentials_source(
    params: Mapping[str, Any], env: Mapping[str, str], *, has_api_key: bool
) -> KeyFileSource | None:
    # Explicit credentials, then an explicit API key (express mode), then the environment.
    given = params.get("vertex_credentials")
    if given is not None and not isinstance(given, str | os.PathLike | Mapping):
        raise errors.BadRequestError(
            "vertex_credentials must be a path, a JSON string or a dict", provider=vertex_ai.NAME
        )
    if given:
        source: KeyFileSource = given
        return source
    if has_api_key:
        return None
    return env.get(vertex_ai.CREDENTIALS_ENV) or None


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.BadRequestError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _headers(params: Mapping[str, Any]) -> dict[str, str]:
    headers = params.get("extra_headers") or {}
    if not isinstance(headers, Mapping) or not _is_text_map(headers):
        raise errors.BadRequestError("extra_headers must map header names to string values")
    return dict(headers)
