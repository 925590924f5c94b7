"""AppState: what the gateway's handlers share (config, the pooled upstream client); made per app."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.requests import HTTPConnection

from gemgate.proxy.config import ProxyConfig

# Key of the AppState in the lifespan state Starlette copies into every request.
STATE_KEY = "gemgate"


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything a request handler may use; lives for one app lifespan, never in module globals."""

    config: ProxyConfig
    client: httpx.AsyncClient


def app_state(connection: HTTPConnection) -> AppState:
    """The AppState of the app serving ``connection``."""
    state = getattr(connection.state, STATE_KEY)
    if not isinstance(state, AppState):
        raise TypeError("the gateway's lifespan has not run")
    return state
