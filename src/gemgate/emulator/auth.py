"""Who may call: Developer API keys (`x-goog-api-key` / `key=`) and Vertex OAuth bearer tokens."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from gemgate.emulator.google_errors import GoogleApiError
from gemgate.emulator.state import EmulatorState

MISSING_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
INVALID_KEY = "API key not valid. Please pass a valid API key."
INVALID_BEARER = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def api_key_of(connection: HTTPConnection) -> str | None:
    """The API key a request carries, header first (as the SDKs send it), then `key=`."""
    return connection.headers.get("x-goog-api-key") or connection.query_params.get("key")


def require_api_key(connection: HTTPConnection, state: EmulatorState) -> str:
    """Return the caller's valid API key or raise Google's error for a missing or wrong one."""
    key = api_key_of(connection)
    if not key:
        raise GoogleApiError("PERMISSION_DENIED", MISSING_KEY)
    allowed = state.settings.api_keys
    if allowed is not None and key not in allowed:
        raise GoogleApiError("INVALID_ARGUMENT", INVALID_KEY, details=_invalid_key_details())
    return key


def require_bearer(connection: HTTPConnection, state: EmulatorState) -> str:
    """Return a valid, unexpired access token issued by this emulator, or raise 401."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        # Express mode: Vertex also takes an API key on publisher model paths.
        if api_key_of(connection):
            return require_api_key(connection, state)
        raise GoogleApiError("UNAUTHENTICATED", INVALID_BEARER, details=_unauthenticated())
    expiry = state.access_tokens.get(token.strip())
    if expiry is None or expiry <= state.clock():
        raise GoogleApiError("UNAUTHENTICATED", INVALID_BEARER, details=_unauthenticated())
    return token.strip()


def _invalid_key_details() -> list[dict[str, object]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": INVALID_KEY,
        },
    ]


def _unauthenticated() -> list[dict[str, object]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            "domain": "googleapis.com",
            "metadata": {"service": "aiplatform.googleapis.com"},
        }
    ]
