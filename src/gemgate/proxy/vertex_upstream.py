"""Vertex AI pass-through: a caller's `/vertex_ai/...` or `/vertex_ai/discovery/...` path mapped
onto Vertex AI or Vertex AI Search (project and location read from the path; pure), then relayed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

from aiohttp import web

from gemgate import errors
from gemgate.proxy.pass_through_credentials import vertex_upstream
from gemgate.proxy.pass_through_metering import metering_for
from gemgate.proxy.pass_through_paths import upstream_url
from gemgate.proxy.state import AppState
from gemgate.proxy.upstream import UpstreamRequest, forward, forwarded_headers, secrets_of
from gemgate.proxy.vertex_credentials import VertexUpstream

VERTEX_AI = "Vertex AI"
VERTEX_AI_SEARCH = "Vertex AI Search"
# The version a path without one is sent to, as Google's SDKs do.
DEFAULT_VERSION = "v1"
_VERSION = r"v\d+(?:(?:alpha|beta)\d*)?"
_SCOPED = re.compile(
    rf"^/(?:{_VERSION})/projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?(?:/|$)"
)
_VERSIONED = re.compile(rf"^/{_VERSION}(?:/|$)")
_QUOTA_PROJECT = "x-goog-user-project"


@dataclass(frozen=True, slots=True)
class VertexPath:
    """A checked pass-through path and the project and location it names (decoded)."""

    path: str
    project: str | None
    location: str | None

    @property
    def is_unversioned(self) -> bool:
        """`/publishers/google/models/m:generateContent`: the version, project and location
        are the defaults, put in front (the shape older clients of the route send)."""
        return _VERSIONED.match(self.path) is None

    def upstream_path(self, upstream: VertexUpstream) -> str:
        """The path Google is asked for: as sent, or with the default scope in front."""
        if not self.is_unversioned:
            return self.path
        if upstream.project is None or upstream.location is None:
            raise errors.BadRequestError(
                f"{self.path} names no project and location, and no default is configured: "
                "call /vertex_ai/v1/projects/{project}/locations/{location}/..."
            )
        scope = (
            f"/{DEFAULT_VERSION}/projects/{quote(upstream.project)}/locations/{upstream.location}"
        )
        return scope + self.path


def parse_vertex_path(path: str) -> VertexPath:
    """The project and location in ``path`` (`/v1/projects/{p}/locations/{l}/...`), if any."""
    match = _SCOPED.match(path)
    if match is None:
        return VertexPath(path, None, None)
    location = match.group("location")
    return VertexPath(
        path, unquote(match.group("project")), unquote(location) if location else None
    )


def vertex_request(
    upstream: VertexUpstream,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
) -> UpstreamRequest:
    """The caller's request sent to ``upstream``: its credentials in, the caller's out (unless
    the caller's own Authorization is what ``upstream`` carries; then its quota project stays)."""
    given = list(headers)
    credentials = list(upstream.headers)
    is_callers_own = _is_callers_own(credentials, given)
    if is_callers_own:
        credentials += [(name, value) for name, value in given if name.lower() == _QUOTA_PROJECT]
    return UpstreamRequest(
        method=method,
        url=upstream_url(upstream.base_url, path, query),
        headers=forwarded_headers(given, credentials),
        service=VERTEX_AI,
        secrets=() if is_callers_own else secrets_of(credentials),
    )


def _is_callers_own(credentials: list[tuple[str, str]], given: list[tuple[str, str]]) -> bool:
    authorizations = [value for name, value in given if name.lower() == "authorization"]
    return bool(authorizations) and credentials == [("authorization", authorizations[0])]


async def relay_to_vertex(
    request: web.Request, state: AppState, path: str, caller_authorization: str | None
) -> web.StreamResponse:
    """Pass ``request`` through to ``path`` (checked) of Vertex AI with the credentials chosen
    for the project and location the path names."""
    target = parse_vertex_path(path)
    upstream = await vertex_upstream(state, target.project, target.location, caller_authorization)
    outgoing = vertex_request(
        upstream, request.method, target.upstream_path(upstream), request.query_string,
        request.headers.items(),
    )  # fmt: skip
    timeout = state.config.general_settings.request_timeout
    metering = await metering_for(request, state, "vertex_ai", path)
    return await forward(request, state.session, outgoing, timeout=timeout, metering=metering)


async def relay_to_discovery(
    request: web.Request, state: AppState, path: str, caller_authorization: str | None
) -> web.StreamResponse:
    """Pass ``request`` through to ``path`` (checked) of Vertex AI Search (Discovery Engine)."""
    target = parse_vertex_path(path)
    upstream = await state.vertex_credentials.discovery_upstream(
        target.project, caller_authorization
    )
    outgoing = vertex_request(
        upstream, request.method, path, request.query_string, request.headers.items()
    )
    timeout = state.config.general_settings.request_timeout
    return await forward(
        request, state.session, replace(outgoing, service=VERTEX_AI_SEARCH), timeout=timeout
    )
