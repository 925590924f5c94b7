"""Health probes: /health/liveliness (the process answers) and /health/readiness (it can serve)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gemgate.proxy.state import app_state


async def liveliness(request: Request) -> Response:
    return Response(b'{"status":"alive"}', media_type="application/json")


async def readiness(request: Request) -> Response:
    if app_state(request).client.is_closed:
        return Response(b'{"status":"not ready"}', status_code=503, media_type="application/json")
    return Response(b'{"status":"ready"}', media_type="application/json")
