"""WS /vertex_ai/live and WS /gemini/ws/{path}: Live API sessions relayed to Vertex AI (with a
short-lived token from the gateway's credentials) and to the Gemini Developer API (its key)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import unquote_plus

from aiohttp import web

from gemgate import errors
from gemgate.proxy.auth import google_authorization
from gemgate.proxy.live_messages import developer_naming, vertex_naming
from gemgate.proxy.live_relay import (
    LiveUpstream,
    close_code_for_status,
    forwarded_live_headers,
    refuse_live,
    relay_live,
    require_websocket,
    websocket_base,
)
from gemgate.proxy.pass_through_credentials import VertexUpstream, vertex_upstream
from gemgate.proxy.pass_through_paths import checked_path, upstream_url
from gemgate.proxy.state import app_state
from gemgate.translate.error_bodies import redact

logger = logging.getLogger(__name__)

GEMINI_WS_PREFIX = "/gemini/ws/"
VERTEX_LIVE_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
# Query parameters the gateway reads itself; Google never sees them.
GATEWAY_PARAMS = frozenset({"key", "model", "vertex_project", "vertex_location"})
# Google's ephemeral Live tokens (`auth_tokens/…`): google-genai sends `Authorization: Token …`,
# the JS SDK `?access_token=…` (https://ai.google.dev/gemini-api/docs/ephemeral-tokens).
EPHEMERAL_SCHEME = "token"
EPHEMERAL_QUERY_PARAM = "access_token"


async def gemini_live(request: web.Request) -> web.StreamResponse:
    """Relay a Live session to the Developer API's `/ws/{path}` with the configured key (or the
    caller's ephemeral token)."""
    require_websocket(request)
    state = app_state(request)
    raw_path = request.raw_path.partition("?")[0]
    path = checked_path("/ws/" + raw_path[len(GEMINI_WS_PREFIX) :])
    config = state.config
    base = config.pass_through.gemini.base_url or config.general_settings.gemini_api_base
    api_key = config.general_settings.gemini_api_key
    credentials = developer_live_credentials(
        request.headers, request.query, api_key.get_secret_value() if api_key else None
    )
    upstream = LiveUpstream(
        api="gemini",
        url=upstream_url(websocket_base(base), path, gateway_params_removed(request.query_string)),
        headers=forwarded_live_headers(request.headers.items(), credentials),
        naming=developer_naming(request.query.get("model")),
    )
    return await relay_live(request, state, upstream)


async def vertex_live(request: web.Request) -> web.StreamResponse:
    """Relay a Live session to Vertex AI's BidiGenerateContent socket with the gateway's
    credentials; `vertex_project`, `vertex_location` and `model` in the query pick them."""
    require_websocket(request)
    state = app_state(request)
    query = request.query
    try:
        vertex = await vertex_upstream(
            state, query.get("vertex_project"), query.get("vertex_location"),
            google_authorization(request.headers, is_gateway_keyed=state.master_key is not None),
        )  # fmt: skip
    except errors.GemgateError as error:
        logger.warning("Live session to Vertex AI not opened: %s", error.message)
        return await refuse_live(request, close_code_for_status(error.status_code),
                                 redact(error.message))  # fmt: skip
    return await relay_live(request, state, vertex_live_upstream(request, vertex))


def developer_live_credentials(
    headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
) -> list[tuple[str, str]]:
    """Google's credentials for a Developer API Live socket: the caller's ephemeral token when
    it presents one (Google checks it and the constraints it was minted with), else our key.

    The token is the caller's Google credential, never its gateway key, which it presents as on
    any route; `Authorization: Token` is no place for a gateway key, so the two cannot mix up.
    """
    if query.get(EPHEMERAL_QUERY_PARAM):
        return []  # it travels in the forwarded query, and no key of ours goes with it
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == EPHEMERAL_SCHEME and token.strip():
        return [("authorization", f"Token {token.strip()}")]
    return [("x-goog-api-key", api_key)] if api_key else []


def vertex_live_upstream(request: web.Request, vertex: VertexUpstream) -> LiveUpstream:
    """The Vertex Live socket of ``vertex``'s host, its credentials in place of the caller's."""
    return LiveUpstream(
        api="vertex_ai",
        url=websocket_base(vertex.base_url) + VERTEX_LIVE_PATH,
        headers=forwarded_live_headers(request.headers.items(), vertex.headers),
        naming=vertex_naming(request.query.get("model"), vertex.project, vertex.location),
    )


def gateway_params_removed(query: str) -> str:
    """The raw query without the parameters the gateway reads (others keep their spelling)."""
    pairs = [pair for pair in query.split("&") if pair]
    return "&".join(
        pair for pair in pairs if unquote_plus(pair.partition("=")[0]) not in GATEWAY_PARAMS
    )
