"""AppState: what the gateway's handlers share (config, the pooled client, targets, metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web

from gemgate.client import AsyncGeminiClient
from gemgate.context_caches import ContextCaches
from gemgate.proxy.auth import MasterKey
from gemgate.proxy.callers import Caller
from gemgate.proxy.config import ProxyConfig
from gemgate.proxy.gateway_store import GatewayStore
from gemgate.proxy.metrics import GatewayMetrics
from gemgate.proxy.targets import ModelTargets
from gemgate.proxy.vertex_credentials import VertexCredentials


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything a request handler may use; lives as long as its app, never in module globals."""

    config: ProxyConfig
    session: aiohttp.ClientSession
    # Fetches media URLs found in messages: public hosts only unless configured otherwise.
    media_session: aiohttp.ClientSession
    client: AsyncGeminiClient
    targets: ModelTargets
    metrics: GatewayMetrics
    master_key: MasterKey | None
    # Gemini context caches made for `cache_control` prompts, reused across requests.
    context_caches: ContextCaches
    # Vertex AI credentials of the pass-through routes (and the Live relay), built at start-up.
    vertex_credentials: VertexCredentials
    # Keys, teams, spend and limit counters (None only where an app is made without a database).
    store: GatewayStore | None = None


STATE = web.AppKey("gemgate", AppState)
# Per request: its id (taken from x-request-id or made), and the public model name it asked for.
REQUEST_ID = web.RequestKey("request_id", str)
# Per request: the gateway's own id for it, unique even when a caller repeats its x-request-id
# (the spend log's key: a repeated caller id must never merge two requests' spend).
GATEWAY_REQUEST_ID = web.RequestKey("gateway_request_id", str)
MODEL = web.RequestKey("model", str)
# Per request: who is calling (the master key, a virtual key or anyone on an open gateway).
CALLER = web.RequestKey("caller", Caller)
# Per request: when the gateway received it (the spend log's start time).
STARTED_AT = web.RequestKey("started_at", datetime)


def app_state(request: web.Request) -> AppState:
    """The AppState of the app serving ``request``."""
    return request.app[STATE]
