"""ANY /gemini/{path}: the Gemini Developer API, passed through with the caller's key swapped."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from gemgate.proxy.state import app_state
from gemgate.proxy.upstream import forward, gemini_request, has_body

GEMINI_PREFIX = "/gemini"


async def gemini(request: Request) -> Response:
    """Forward the request to the configured Gemini API and stream its answer back."""
    state = app_state(request)
    headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
    ]
    outgoing = gemini_request(
        state.config.general_settings,
        request.method,
        _forwarded_path(request),
        request.url.query,
        headers,
    )
    body = request.stream() if has_body(headers) else None
    return await forward(state.client, outgoing, body)


def _forwarded_path(request: Request) -> str:
    """The path after /gemini, as the caller spelled it (percent-escapes kept)."""
    raw_path: bytes | None = request.scope.get("raw_path")
    prefix = GEMINI_PREFIX.encode() + b"/"
    if raw_path is not None and raw_path.startswith(prefix):
        return raw_path[len(GEMINI_PREFIX) :].decode("latin-1")
    return "/" + quote(request.path_params["path"])
