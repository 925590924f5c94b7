"""Health probes and metrics: /health/liveliness (the process answers), /health/readiness (it can
serve: its upstream pool is open, its targets resolved; the database's state reported) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gemgate.proxy.state import AppState, app_state
from gemgate.proxy.storage.database import reading

DATABASE_CHECK_SECONDS = 2.0


async def liveliness(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b'{"status":"alive"}', content_type="application/json")


async def readiness(request: web.Request) -> web.StreamResponse:
    state = app_state(request)
    if state.session.closed:
        return web.Response(body=b'{"status":"not ready"}', status=503, content_type="application/json")  # fmt: skip
    report = {"status": "ready", "database": await _database_status(state)}
    return web.Response(body=orjson.dumps(report), content_type="application/json")


async def _database_status(state: AppState) -> str:
    """ "connected", "unreachable" or "none". An unreachable database leaves the gateway ready:
    known keys keep working and spend waits in the journal, so traffic should keep coming."""
    if state.store is None:
        return "none"
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            async with reading(state.store.engine).connect() as connection:
                await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError):
        return "unreachable"
    return "connected"


async def metrics(request: web.Request) -> web.StreamResponse:
    body, content_type = app_state(request).metrics.render()
    response = web.Response(body=body)
    response.headers["content-type"] = content_type
    return response
