"""Vertex AI credentials for the pass-through routes, in order: a `use_in_pass_through` deployment
for the project and location, the default credentials, else the caller's own Authorization.
Built once at start-up; access tokens are cached and refreshed off the event loop."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gemgate import errors
from gemgate.providers.resolve import ProviderRegistry, resolve_model, split_transport_params
from gemgate.providers.vertex_ai import (
    GLOBAL_LOCATION,
    VertexAi,
    checked_location,
    vertex_ai_from,
    vertex_host,
)
from gemgate.proxy.config import ConfigError, ModelEntry, ProxyConfig
from gemgate.proxy.pass_through_settings import VertexPassThrough

# A base URL ending in an API version (as the SDK's api_base may): the caller's path brings its own.
_VERSION_SUFFIX = re.compile(r"/v\d+(?:(?:alpha|beta)\d*)?$")
NO_CREDENTIALS = (
    "no Vertex AI credentials for {where}: send `Authorization: Bearer <Google access token>` "
    "(and the gateway key in `x-gemgate-api-key`), or configure pass_through.vertex_ai.credentials "
    "or a model_list deployment with use_in_pass_through: true"
)


@dataclass(frozen=True, slots=True)
class VertexUpstream:
    """Where one Vertex AI request goes and the credentials it carries."""

    # e.g. "https://us-central1-aiplatform.googleapis.com" or the configured override (no trailing /)
    base_url: str
    # None only when the caller's own Authorization is forwarded and no default is known.
    project: str | None
    location: str | None
    # [("authorization", "Bearer <token>")] (plus x-goog-user-project), or the caller's own.
    headers: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class VertexSource:
    """One configured way to reach Vertex AI: a deployment's, or the defaults."""

    project: str | None
    location: str | None
    # Replaces the location's host when set (a deployment's own api_base).
    base_url: str | None
    # What signs the requests; None for defaults that name only a project and location.
    auth: VertexAi | None

    def serves(self, project: str | None, location: str | None) -> bool:
        """Whether this source is the one for ``project`` in ``location`` (None: any)."""
        return (project is None or project == self.project) and (
            location is None or location == self.location
        )


class VertexCredentials:
    """The credential sources of one gateway and the upstream they give each request."""

    def __init__(
        self,
        deployments: Sequence[VertexSource],
        default: VertexSource | None,
        *,
        base_url: str | None = None,
        discovery_base_url: str,
    ) -> None:
        self._deployments = tuple(deployments)
        self._default = default
        self._base_url = base_url
        self._discovery_base_url = discovery_base_url

    def source_for(self, project: str | None, location: str | None) -> VertexSource | None:
        """The first deployment serving ``project`` in ``location``, else the defaults."""
        for source in self._deployments:
            if source.serves(project, location):
                return source
        return self._default

    async def upstream(
        self, project: str | None, location: str | None, caller_authorization: str | None
    ) -> VertexUpstream:
        """The Vertex AI host, project, location and credentials for one request."""
        if location is not None:
            checked_location(location)
        source = self.source_for(project, location)
        chosen_project = project or (source.project if source else None)
        chosen_location = location or (source.location if source else None)
        base = (source.base_url if source else None) or self._base_url
        if base is None:
            base = vertex_host(chosen_location or GLOBAL_LOCATION)
        where = f"project {chosen_project or '?'} in {chosen_location or '?'}"
        headers = await _credentials(source, caller_authorization, where)
        return VertexUpstream(base, chosen_project, chosen_location, headers)

    async def discovery_upstream(
        self, project: str | None, caller_authorization: str | None
    ) -> VertexUpstream:
        """Vertex AI Search (Discovery Engine): one host; credentials chosen by project only."""
        source = self.source_for(project, None)
        chosen_project = project or (source.project if source else None)
        headers = await _credentials(source, caller_authorization, f"project {chosen_project}")
        return VertexUpstream(self._discovery_base_url, chosen_project, None, headers)


async def _credentials(
    source: VertexSource | None, caller_authorization: str | None, where: str
) -> list[tuple[str, str]]:
    if source is not None and source.auth is not None:
        return list((await source.auth.auth_headers()).items())
    if caller_authorization:
        return [("authorization", caller_authorization)]
    raise errors.AuthenticationError(NO_CREDENTIALS.format(where=where), provider="vertex_ai")


def vertex_credentials_from(
    config: ProxyConfig, environ: Mapping[str, str], registry: ProviderRegistry
) -> VertexCredentials:
    """The credential sources of ``config`` (key files read now, tokens fetched on first use);
    ConfigError naming the setting that cannot be used."""
    settings = config.pass_through.vertex_ai
    deployments = [
        _deployment_source(index, entry, environ, registry)
        for index, entry in enumerate(config.model_list)
        if entry.params.use_in_pass_through
    ]
    return VertexCredentials(
        deployments,
        _default_source(settings, environ, registry),
        base_url=settings.base_url,
        discovery_base_url=settings.discovery_base_url,
    )


def _deployment_source(
    index: int, entry: ModelEntry, environ: Mapping[str, str], registry: ProviderRegistry
) -> VertexSource:
    transport, _ = split_transport_params(entry.params.call_params())
    try:
        provider, _ = resolve_model(entry.params.model, transport, env=environ, registry=registry)
    except errors.GemgateError as error:
        raise ConfigError(f"model_list[{index}] ({entry.model_name}): {error.message}") from error
    if not isinstance(provider, VertexAi):
        raise ConfigError(f"model_list[{index}]: use_in_pass_through needs a vertex_ai/ model")
    base = entry.params.api_base
    return VertexSource(
        project=provider.project,
        location=provider.location,
        base_url=_VERSION_SUFFIX.sub("", base) if base else None,
        auth=provider,
    )


def _default_source(
    settings: VertexPassThrough, environ: Mapping[str, str], registry: ProviderRegistry
) -> VertexSource | None:
    try:
        if settings.credentials is None:
            if settings.location is not None:
                checked_location(settings.location)
            if settings.project is None and settings.location is None:
                return None
            return VertexSource(settings.project, settings.location, None, None)
        auth = vertex_ai_from(
            project=settings.project, location=settings.location,
            tokens=registry.access_tokens(settings.credentials), api_key=None,
            api_base=settings.base_url, extra_headers={}, env=environ,
        )  # fmt: skip
    except errors.GemgateError as error:
        raise ConfigError(f"pass_through.vertex_ai: {error.message}") from error
    return VertexSource(auth.project, auth.location, None, auth)
