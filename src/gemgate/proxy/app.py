"""create_app(config): the gateway's Starlette app with its routes, error handlers and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from gemgate.proxy.config import ProxyConfig
from gemgate.proxy.error_handlers import EXCEPTION_HANDLERS
from gemgate.proxy.routes import ROUTES
from gemgate.proxy.state import STATE_KEY, AppState
from gemgate.proxy.upstream import upstream_client


def create_app(config: ProxyConfig) -> Starlette:
    """Build the gateway as an ASGI app; its upstream client lives as long as its lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, AppState]]:
        async with upstream_client(config.general_settings) as client:
            yield {STATE_KEY: AppState(config=config, client=client)}

    return Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
