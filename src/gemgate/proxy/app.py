"""create_app(config): the gateway's aiohttp application with its routes, middleware, shared
upstream pool and state; everything it owns is made at start-up and closed at clean-up."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import web

from gemgate.client import AsyncGeminiClient
from gemgate.context_caches import ContextCaches
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.config import ProxyConfig
from gemgate.proxy.metrics import GatewayMetrics
from gemgate.proxy.middleware import add_request_id, gateway_middleware
from gemgate.proxy.routes import ROUTES
from gemgate.proxy.state import STATE, AppState
from gemgate.proxy.targets import ModelTargets
from gemgate.transports import AiohttpTransport, new_session

MEGABYTE = 1024 * 1024


def create_app(config: ProxyConfig, environ: Mapping[str, str] | None = None) -> web.Application:
    """The gateway as an aiohttp application; raises ConfigError for deployments it cannot use."""
    settings = config.general_settings
    app = web.Application(
        middlewares=[gateway_middleware],
        client_max_size=int(settings.max_request_body_mb * MEGABYTE),
    )
    targets = ModelTargets(config, os.environ if environ is None else environ)
    app.add_routes(ROUTES)
    app.on_response_prepare.append(add_request_id)
    app.cleanup_ctx.append(_lifespan(config, targets))
    return app


def _lifespan(
    config: ProxyConfig, targets: ModelTargets
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        session = new_session()
        master = config.general_settings.master_key
        app[STATE] = AppState(
            config=config,
            session=session,
            client=AsyncGeminiClient(AiohttpTransport(session)),
            targets=targets,
            metrics=GatewayMetrics(),
            master_key=MasterKey(master.get_secret_value()) if master is not None else None,
            context_caches=ContextCaches(),
        )
        try:
            yield
        finally:
            await session.close()

    return lifespan
