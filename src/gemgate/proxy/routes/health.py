"""Health probes and metrics: /health/liveliness (the process answers), /health/readiness (it can
serve: its upstream pool is open and its targets resolved) and /metrics (Prometheus)."""

from __future__ import annotations

from aiohttp import web

from gemgate.proxy.state import app_state


async def liveliness(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b'{"status":"alive"}', content_type="application/json")


async def readiness(request: web.Request) -> web.StreamResponse:
    state = app_state(request)
    if state.session.closed:
        return web.Response(body=b'{"status":"not ready"}', status=503, content_type="application/json")  # fmt: skip
    return web.Response(body=b'{"status":"ready"}', content_type="application/json")


async def metrics(request: web.Request) -> web.StreamResponse:
    body, content_type = app_state(request).metrics.render()
    response = web.Response(body=body)
    response.headers["content-type"] = content_type
    return response
