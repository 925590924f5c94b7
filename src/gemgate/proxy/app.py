"""create_app(config): the gateway's aiohttp application with its routes, middleware, shared
upstream pool and state; everything it owns is made at start-up and closed at clean-up."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from aiohttp import web

from gemgate.client import AsyncGeminiClient
from gemgate.context_caches import ContextCaches
from gemgate.providers.resolve import ProviderRegistry
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.config import ProxyConfig
from gemgate.proxy.gateway_store import GatewayStore, StoreSettings, open_gateway_store
from gemgate.proxy.media_fetching import media_session
from gemgate.proxy.metrics import GatewayMetrics
from gemgate.proxy.middleware import add_request_id, gateway_middleware
from gemgate.proxy.routes import ROUTES
from gemgate.proxy.state import STATE, AppState
from gemgate.proxy.targets import ModelTargets
from gemgate.proxy.vertex_credentials import VertexCredentials, vertex_credentials_from
from gemgate.transports import AiohttpTransport, new_session

MEGABYTE = 1024 * 1024


def create_app(config: ProxyConfig, environ: Mapping[str, str] | None = None) -> web.Application:
    """The gateway as an aiohttp application; raises ConfigError for deployments it cannot use."""
    settings = config.general_settings
    app = web.Application(
        middlewares=[gateway_middleware],
        client_max_size=int(settings.max_request_body_mb * MEGABYTE),
    )
    environment = os.environ if environ is None else environ
    # One registry: a service account used by a deployment and the pass-through has one token.
    registry = ProviderRegistry()
    targets = ModelTargets(config, environment, registry=registry)
    vertex_credentials = vertex_credentials_from(config, environment, registry)
    app.add_routes(ROUTES)
    app.on_response_prepare.append(add_request_id)
    app.cleanup_ctx.append(_lifespan(config, targets, vertex_credentials))
    return app


def _store(
    config: ProxyConfig, metrics: GatewayMetrics
) -> AbstractAsyncContextManager[GatewayStore | None]:
    """The keys/spend store when the config names a database (the command line always does)."""
    settings = config.general_settings
    if settings.database_url is None:
        return contextlib.nullcontext()
    journal = Path(settings.spend_journal) if settings.spend_journal else None
    store = StoreSettings(settings.database_url, settings.redis_url, journal)
    return open_gateway_store(store, spend_observer=metrics.count_spend_log)


def _lifespan(
    config: ProxyConfig, targets: ModelTargets, vertex_credentials: VertexCredentials
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        session = new_session()
        media = media_session(allow_private=config.general_settings.allow_private_media_urls)
        master = config.general_settings.master_key
        app[STATE] = AppState(
            config=config,
            session=session,
            media_session=media,
            client=AsyncGeminiClient(AiohttpTransport(session)),
            targets=targets,
            metrics=GatewayMetrics(),
            master_key=MasterKey(master.get_secret_value()) if master is not None else None,
            context_caches=ContextCaches(),
            vertex_credentials=vertex_credentials,
        )
        try:
            async with _store(config, app[STATE].metrics) as store:
                app[STATE] = dataclasses.replace(app[STATE], store=store)
                yield
        finally:
            await session.close()
            await media.close()

    return lifespan
