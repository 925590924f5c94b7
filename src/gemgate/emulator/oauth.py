"""The OAuth 2.0 token endpoint: service-account JWT assertions (RFC 7523) traded for access tokens."""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemgate.emulator.bodies import record
from gemgate.emulator.settings import ServiceAccount
from gemgate.emulator.state import EmulatorState, state_of

logger = logging.getLogger(__name__)

# google-auth signs every assertion for this audience, whatever token_uri the key file names.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google refuses assertions that live longer than an hour or that were issued in the future;
# the skew forgives a signer whose clock runs a little ahead.
MAX_ASSERTION_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300

# Google's wording, as its token endpoint answers.
SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
INVALID_SIGNATURE = "Invalid JWT Signature."
FAILED_AUDIENCE = "Invalid JWT: Failed audience check."
ACCOUNT_NOT_FOUND = "Invalid grant: account not found"
INVALID_SCOPE = "Invalid OAuth scope or ID token audience provided."
MISSING_GRANT_TYPE = "Required parameter is missing: grant_type"
# Google's wording for these two was not verified; they follow its style for the same cases.
MISSING_ASSERTION = "Missing required parameter: assertion"
MALFORMED_ASSERTION = "Bad Request"

# Token responses must never be cached by anything in between, as Google marks them.
_NO_STORE = {
    "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
    "pragma": "no-cache",
}


class OAuthError(Exception):
    """A refusal in the OAuth 2.0 shape (RFC 6749 §5.2), not Google's `{"error": {...}}` shape."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class Assertion:
    """A decoded, not yet trusted, JWT: its JSON parts and the bytes its signature covers."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


async def issue_token(request: Request) -> Response:
    """POST /token: verify the grant and answer with a fresh bearer token, or an OAuth error."""
    state = state_of(request)
    form = await _read_form(request)
    try:
        claims = verify_grant(form, state, audiences=_audiences(request))
    except OAuthError as refusal:
        logger.info("token request refused: %s: %s", refusal.error, refusal.description)
        body = {"error": refusal.error, "error_description": refusal.description}
        return _json(400, body)
    logger.info("issued an access token to %s", claims["iss"])
    return _json(200, grant_access_token(state))


def verify_grant(
    form: dict[str, str], state: EmulatorState, *, audiences: frozenset[str]
) -> dict[str, Any]:
    """The claims of a valid JWT-bearer grant; raise OAuthError for the first check that fails."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", MISSING_GRANT_TYPE)
    if grant_type != JWT_BEARER_GRANT:
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    raw = form.get("assertion")
    if not raw:
        raise OAuthError("invalid_request", MISSING_ASSERTION)
    assertion = decode_assertion(raw)
    accounts = _accounts_named(assertion.claims.get("iss"), state)
    _check_signature(assertion, accounts)
    _check_audience(assertion.claims, audiences)
    _check_lifetime(assertion.claims, now=state.clock())
    _check_scope(assertion.claims)
    return assertion.claims


def decode_assertion(raw: str) -> Assertion:
    """Split and decode a compact JWS; raise OAuthError when it is not one."""
    segments = raw.split(".")
    if len(segments) != 3:
        raise OAuthError("invalid_grant", MALFORMED_ASSERTION)
    try:
        header = orjson.loads(_unpadded_b64decode(segments[0]))
        claims = orjson.loads(_unpadded_b64decode(segments[1]))
        signature = _unpadded_b64decode(segments[2])
    except ValueError as error:
        raise OAuthError("invalid_grant", MALFORMED_ASSERTION) from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OAuthError("invalid_grant", MALFORMED_ASSERTION)
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    return Assertion(header, claims, signing_input, signature)


def grant_access_token(state: EmulatorState) -> dict[str, Any]:
    """Mint a bearer token that `auth.require_bearer` accepts until it expires."""
    now = state.clock()
    _forget_expired_tokens(state, now)
    seconds = state.settings.access_token_seconds
    token = "ya29." + secrets.token_urlsafe(96)
    state.access_tokens[token] = now + seconds
    return {"access_token": token, "expires_in": seconds, "token_type": "Bearer"}


async def _read_form(request: Request) -> dict[str, str]:
    # google-auth posts a urlencoded form; some of its flows post the same fields as JSON.
    raw = await request.body()
    form: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            form = {key: value for key, value in body.items() if isinstance(value, str)}
    else:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    record(request, form)
    return form


def _audiences(request: Request) -> frozenset[str]:
    own_url = str(request.url.replace(query="", fragment=""))
    return frozenset({GOOGLE_TOKEN_URI, own_url})


def _accounts_named(issuer: object, state: EmulatorState) -> list[ServiceAccount]:
    accounts = [
        account
        for account in state.settings.service_accounts
        if isinstance(issuer, str) and account.client_email == issuer
    ]
    if not accounts:
        raise OAuthError("invalid_grant", ACCOUNT_NOT_FOUND)
    return accounts


def _check_signature(assertion: Assertion, accounts: list[ServiceAccount]) -> None:
    # Several keys may share one account (key rotation); `kid` names the one that signed.
    if assertion.header.get("alg") == "RS256":
        key_id = assertion.header.get("kid")
        for account in accounts:
            if key_id and account.private_key_id and key_id != account.private_key_id:
                continue
            if _signed_by(account, assertion):
                return
    raise OAuthError("invalid_grant", INVALID_SIGNATURE)


def _signed_by(account: ServiceAccount, assertion: Assertion) -> bool:
    try:
        public_key = serialization.load_pem_public_key(account.public_key_pem)
    except (ValueError, UnsupportedAlgorithm):
        logger.warning("service account %s has an unreadable public key", account.client_email)
        return False
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        public_key.verify(
            assertion.signature, assertion.signing_input, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def _check_audience(claims: dict[str, Any], audiences: frozenset[str]) -> None:
    audience = claims.get("aud")
    if not isinstance(audience, str) or audience not in audiences:
        raise OAuthError("invalid_grant", FAILED_AUDIENCE)


def _check_lifetime(claims: dict[str, Any], *, now: float) -> None:
    issued = _epoch_seconds(claims.get("iat"))
    expires = _epoch_seconds(claims.get("exp"))
    if (
        issued is None
        or expires is None
        or expires <= now
        or issued > now + CLOCK_SKEW_SECONDS
        or expires <= issued
        or expires - issued > MAX_ASSERTION_SECONDS
    ):
        raise OAuthError("invalid_grant", SHORT_LIVED)


def _check_scope(claims: dict[str, Any]) -> None:
    # google-auth sends `scope=""` for unscoped credentials; Google refuses those.
    scope = claims.get("scope")
    if not isinstance(scope, str) or not scope.strip():
        raise OAuthError("invalid_scope", INVALID_SCOPE)


def _epoch_seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _unpadded_b64decode(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def _forget_expired_tokens(state: EmulatorState, now: float) -> None:
    expired = [token for token, expiry in state.access_tokens.items() if expiry <= now]
    for token in expired:
        del state.access_tokens[token]


def _json(status_code: int, body: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status_code,
        media_type="application/json; charset=utf-8",
        headers=_NO_STORE,
    )


ROUTES: list[BaseRoute] = [
    Route("/token", issue_token, methods=["POST"]),
    Route("/oauth2/v4/token", issue_token, methods=["POST"]),
]
