"""The key a caller presents (headers or `?key=`), and the master key it is checked against; pure."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field

# Our own header and LiteLLM's name for it; both take `Bearer K` or a bare `K`.
GATEWAY_KEY_HEADERS = ("x-gemgate-api-key", "x-litellm-api-key")
# What the google-genai SDK sends; clients of the native routes use it or `?key=`.
GOOGLE_KEY_HEADER = "x-goog-api-key"
KEY_QUERY_PARAM = "key"
# Routes where `Authorization` may carry the caller's own Google token: there the gateway key
# is read from GATEWAY_KEY_HEADERS first, so the two do not collide.
GOOGLE_TOKEN_ROUTES = ("/vertex_ai/", "/vertex-ai/")
# An authenticated hosted gateway's token header (`Bearer <token>`); its clients send the
# provider's key beside it, so on the hosted-gateway URLs it is read before any other place.
HOSTED_GATEWAY_HEADER = "cf-aig-authorization"
# /v1/{account}/{gateway}/{segment}/…: the hosted-gateway URLs (proxy/routes/cloudflare.py).
HOSTED_GATEWAY_SEGMENTS = frozenset({"google-ai-studio", "compat"})


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The first non-blank key in: Authorization: Bearer, x-gemgate-api-key, x-litellm-api-key,
    x-goog-api-key, ?key=. ``headers`` must be case-insensitive (aiohttp's CIMultiDictProxy)."""
    key = _bearer_token(headers.get("authorization")) or _gateway_header_key(headers)
    if key:
        return key
    return _bare_key(headers.get(GOOGLE_KEY_HEADER)) or _bare_key(query.get(KEY_QUERY_PARAM))


def gateway_key(path: str, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key presented to the gateway on ``path``: on GOOGLE_TOKEN_ROUTES the gateway headers
    win over Authorization, on the hosted-gateway URLs HOSTED_GATEWAY_HEADER wins over all;
    elsewhere (or without them) as presented_key."""
    if path.startswith(GOOGLE_TOKEN_ROUTES):
        key = _gateway_header_key(headers)
        if key:
            return key
    if _is_hosted_gateway_path(path):
        key = _header_key(headers.get(HOSTED_GATEWAY_HEADER))
        if key:
            return key
    return presented_key(headers, query)


def _is_hosted_gateway_path(path: str) -> bool:
    # '', 'v1', account id, gateway id, segment, ...
    parts = path.split("/", 5)
    return len(parts) > 5 and parts[1] == "v1" and parts[4] in HOSTED_GATEWAY_SEGMENTS


def google_authorization(headers: Mapping[str, str], *, is_gateway_keyed: bool) -> str | None:
    """The caller's `Authorization` meant for Google on GOOGLE_TOKEN_ROUTES: when the gateway
    has a key, only if a gateway header carried it (else Authorization was the gateway key)."""
    value = headers.get("authorization")
    if not value or (is_gateway_keyed and _gateway_header_key(headers) is None):
        return None
    return value


def _gateway_header_key(headers: Mapping[str, str]) -> str | None:
    for name in GATEWAY_KEY_HEADERS:
        key = _header_key(headers.get(name))
        if key:
            return key
    return None


def _header_key(value: str | None) -> str | None:
    """The key of a gateway header: `Bearer K` or a bare `K`."""
    return _bearer_token(value) or _bare_key(value)


def _bearer_token(value: str | None) -> str | None:
    """``K`` of `Bearer K` (any case); None for other schemes and blank tokens."""
    if not value:
        return None
    parts = value.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


def _bare_key(value: str | None) -> str | None:
    if not value:
        return None
    key = value.strip()
    # `Bearer` with nothing after it is a blank bearer token, not a key spelled "Bearer".
    if not key or key.lower() == "bearer":
        return None
    return key


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The gateway's master key, kept only as a SHA-256 digest and compared in constant time."""

    secret: InitVar[str]
    _digest: bytes = field(init=False, repr=False)

    def __post_init__(self, secret: str) -> None:
        if not secret.strip():
            raise ValueError("the master key must not be empty")
        object.__setattr__(self, "_digest", _digest_of(secret))

    def matches(self, presented: str | None) -> bool:
        """Whether ``presented`` is the master key (None never is)."""
        if presented is None:
            return False
        # Digests have one length, so the comparison time says nothing about the key.
        return hmac.compare_digest(self._digest, _digest_of(presented))


def _digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
