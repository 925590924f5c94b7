"""ANY /gemini/{path}: the Gemini Developer API, passed through with the caller's key swapped."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from gemgate.proxy.state import app_state
from gemgate.proxy.upstream import relay_to_gemini

GEMINI_PREFIX = "/gemini"


async def gemini(request: web.Request) -> web.StreamResponse:
    """Forward the request to the configured Gemini API and stream its answer back."""
    return await relay_to_gemini(request, app_state(request), _forwarded_path(request))


def _forwarded_path(request: web.Request) -> str:
    """The path after /gemini, as the caller spelled it (percent-escapes kept)."""
    raw_path = request.raw_path.partition("?")[0]
    if raw_path.startswith(GEMINI_PREFIX + "/"):
        return raw_path[len(GEMINI_PREFIX) :]
    return "/" + quote(request.match_info["path"])
