"""AppState: what the gateway's handlers share (config, the pooled client, targets, metrics)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from gemgate.client import AsyncGeminiClient
from gemgate.context_caches import ContextCaches
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.config import ProxyConfig
from gemgate.proxy.metrics import GatewayMetrics
from gemgate.proxy.targets import ModelTargets


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything a request handler may use; lives as long as its app, never in module globals."""

    config: ProxyConfig
    session: aiohttp.ClientSession
    client: AsyncGeminiClient
    targets: ModelTargets
    metrics: GatewayMetrics
    master_key: MasterKey | None
    # Gemini context caches made for `cache_control` prompts, reused across requests.
    context_caches: ContextCaches


STATE = web.AppKey("gemgate", AppState)
# Per request: its id (taken from x-request-id or made), and the public model name it asked for.
REQUEST_ID = web.RequestKey("request_id", str)
MODEL = web.RequestKey("model", str)


def app_state(request: web.Request) -> AppState:
    """The AppState of the app serving ``request``."""
    return request.app[STATE]
