"""ANY /gemini/{path}, /vertex_ai/{path} (/vertex-ai/{path}) and /vertex_ai/discovery/{path}:
Google's APIs passed through in their own format, the caller's credentials swapped for ours."""

from __future__ import annotations

from aiohttp import web

from gemgate import errors
from gemgate.proxy.auth import google_authorization
from gemgate.proxy.pass_through_paths import checked_path
from gemgate.proxy.state import app_state
from gemgate.proxy.upstream import relay_to_gemini
from gemgate.proxy.vertex_upstream import relay_to_discovery, relay_to_vertex

GEMINI_PREFIX = "/gemini"
# `{prefix}` of the Vertex routes: both spellings are in use.
VERTEX_PREFIX = "{prefix:vertex_ai|vertex-ai}"
DISCOVERY = "discovery"
# Everything below /vertex_ai except the Live WebSocket and Vertex AI Search, served apart.
VERTEX_PATH = rf"{{path:(?!live(?:/|$)|{DISCOVERY}/).*}}"


async def gemini(request: web.Request) -> web.StreamResponse:
    """Forward the request to the configured Gemini API and stream its answer back."""
    return await relay_to_gemini(request, app_state(request), _forwarded_path(request, GEMINI_PREFIX))  # fmt: skip


async def vertex_ai(request: web.Request) -> web.StreamResponse:
    """Forward the request to Vertex AI (host chosen by the path's location) and stream back."""
    state = app_state(request)
    path = _forwarded_path(request, f"/{request.match_info['prefix']}")
    return await relay_to_vertex(request, state, path, _caller_authorization(request))


async def vertex_discovery(request: web.Request) -> web.StreamResponse:
    """Forward the request to Vertex AI Search (Discovery Engine) and stream its answer back."""
    state = app_state(request)
    path = _forwarded_path(request, f"/{request.match_info['prefix']}/{DISCOVERY}")
    return await relay_to_discovery(request, state, path, _caller_authorization(request))


def _caller_authorization(request: web.Request) -> str | None:
    is_keyed = app_state(request).master_key is not None
    return google_authorization(request.headers, is_gateway_keyed=is_keyed)


def _forwarded_path(request: web.Request, prefix: str) -> str:
    """The path after ``prefix`` as the caller spelled it (escapes kept), once it is proven to
    name only a resource on the upstream; a Google-shaped 400 otherwise."""
    raw_path, _, _ = request.raw_path.partition("?")
    # An absolute-form target (`http://host/...`) or a fragment never names a Google resource.
    if "#" in request.raw_path or not raw_path.startswith(prefix + "/"):
        raise errors.BadRequestError("Invalid pass-through path: give it as /route/resource.")
    return checked_path(raw_path[len(prefix) :])
