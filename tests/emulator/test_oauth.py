"""The emulator's OAuth token endpoint, driven by real google-auth service-account credentials."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from google import genai
from google.auth import crypt, jwt
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account

from gemgate.emulator import EmulatorSettings, ServiceAccount, create_emulator_app, generate
from gemgate.emulator.oauth import GOOGLE_TOKEN_URI, JWT_BEARER_GRANT, SHORT_LIVED
from gemgate.emulator.service_accounts import new_service_account
from tests.clock import FakeClock  # starts at real time: google-auth signs with it
from tests.servers import serve

EMAIL = "gemgate-tests@p.iam.gserviceaccount.com"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# A Vertex route that demands a bearer token (or an Express-mode API key).
VERTEX_CACHES = "/v1/projects/p/locations/us-central1/cachedContents"


@dataclass
class Emulator:
    url: str
    key_file: dict[str, str]
    clock: FakeClock

    def key_file_with(self, **changes: str) -> dict[str, str]:
        return {**self.key_file, **changes}


KeyPair = tuple[dict[str, str], ServiceAccount]


@pytest.fixture(scope="module")
def trusted() -> KeyPair:
    return new_service_account(client_email=EMAIL, token_uri=GOOGLE_TOKEN_URI, project_id="p")


@pytest.fixture(scope="module")
def stranger() -> KeyPair:
    """Same email, a key the emulator was never told about."""
    return new_service_account(client_email=EMAIL, token_uri=GOOGLE_TOKEN_URI, project_id="p")


@pytest.fixture
def emulator(trusted: KeyPair) -> Iterator[Emulator]:
    key_file, account = trusted
    settings = EmulatorSettings(api_keys=frozenset({"test-key"}), service_accounts=(account,))
    clock = FakeClock()
    app = create_emulator_app(settings, clock=clock)
    with serve(app) as url:
        yield Emulator(url, {**key_file, "token_uri": f"{url}/token"}, clock)


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        yield client


def _credentials(key_file: dict[str, str], scopes: list[str] | None = SCOPES) -> Any:
    load = service_account.Credentials.from_service_account_info
    return load(key_file, scopes=scopes)  # type: ignore[no-untyped-call]


def _refreshed(key_file: dict[str, str]) -> Any:
    credentials = _credentials(key_file)
    credentials.refresh(GoogleAuthRequest())
    return credentials


def _assertion(emulator: Emulator, key_id: str | None = None, **claims: Any) -> str:
    """A JWT signed with the trusted key, as google-auth builds it, with ``claims`` changed."""
    now = int(emulator.clock.now)
    payload = {"iss": EMAIL, "aud": GOOGLE_TOKEN_URI, "scope": SCOPES[0], "iat": now}
    payload["exp"] = now + 3600
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    signer = crypt.RSASigner.from_service_account_info(emulator.key_file)  # type: ignore[no-untyped-call]
    token: bytes = jwt.encode(signer, payload, key_id=key_id)  # type: ignore[no-untyped-call]
    return token.decode()


def _grant(http: httpx.Client, assertion: str, path: str = "/token") -> httpx.Response:
    return http.post(path, data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion})


def _oauth_error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def test_google_auth_refresh_gets_a_bearer_token_valid_for_an_hour(emulator: Emulator) -> None:
    credentials = _refreshed(emulator.key_file)
    assert credentials.valid
    assert credentials.token.startswith("ya29.")
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert abs((credentials.expiry - now).total_seconds() - 3600) < 60


def test_issued_token_is_accepted_as_a_vertex_bearer(
    emulator: Emulator, http: httpx.Client
) -> None:
    credentials = _refreshed(emulator.key_file)
    response = http.get(VERTEX_CACHES, headers={"Authorization": f"Bearer {credentials.token}"})
    assert response.status_code == 200


def test_expired_access_token_is_rejected_as_unauthenticated(
    emulator: Emulator, http: httpx.Client
) -> None:
    credentials = _refreshed(emulator.key_file)
    emulator.clock.now += 3601
    response = http.get(VERTEX_CACHES, headers={"Authorization": f"Bearer {credentials.token}"})
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert response.json()["error"]["code"] == 401


def test_unknown_access_token_is_rejected_as_unauthenticated(http: httpx.Client) -> None:
    response = http.get(VERTEX_CACHES, headers={"Authorization": "Bearer ya29.made-up"})
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_token_response_has_googles_shape(emulator: Emulator, http: httpx.Client) -> None:
    response = _grant(http, _assertion(emulator))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    assert "no-store" in response.headers["cache-control"]


def test_legacy_token_path_also_grants_tokens(emulator: Emulator, http: httpx.Client) -> None:
    response = _grant(http, _assertion(emulator), path="/oauth2/v4/token")
    assert response.status_code == 200


def test_assertion_for_the_emulators_own_url_is_accepted(
    emulator: Emulator, http: httpx.Client
) -> None:
    response = _grant(http, _assertion(emulator, aud=f"{emulator.url}/token"))
    assert response.status_code == 200


def test_grant_posted_as_json_is_accepted(emulator: Emulator, http: httpx.Client) -> None:
    body = {"grant_type": JWT_BEARER_GRANT, "assertion": _assertion(emulator)}
    response = http.post("/token", json=body)
    assert response.status_code == 200


def test_key_of_another_account_fails_the_signature_check(
    emulator: Emulator, stranger: KeyPair
) -> None:
    # Keeps the trusted key id, so only the signature itself can give the forgery away.
    forged = emulator.key_file_with(private_key=stranger[0]["private_key"])
    with pytest.raises(RefreshError) as refused:
        _refreshed(forged)
    assert refused.value.args[1] == _oauth_error("invalid_grant", "Invalid JWT Signature.")


def test_unknown_client_email_is_refused_as_account_not_found(
    emulator: Emulator, stranger: KeyPair
) -> None:
    unknown = {**stranger[0], "client_email": "nobody@p.iam.gserviceaccount.com"}
    unknown["token_uri"] = emulator.key_file["token_uri"]
    with pytest.raises(RefreshError) as refused:
        _refreshed(unknown)
    expected = _oauth_error("invalid_grant", "Invalid grant: account not found")
    assert refused.value.args[1] == expected


def test_assertions_are_timed_by_the_emulators_clock(emulator: Emulator) -> None:
    emulator.clock.now += 2 * 3600
    with pytest.raises(RefreshError) as refused:
        _refreshed(emulator.key_file)
    assert refused.value.args[1] == _oauth_error("invalid_grant", SHORT_LIVED)


def test_unscoped_credentials_are_refused_as_invalid_scope(emulator: Emulator) -> None:
    credentials = _credentials(emulator.key_file, scopes=None)
    with pytest.raises(RefreshError) as refused:
        credentials.refresh(GoogleAuthRequest())
    assert refused.value.args[1]["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        pytest.param({"iat": -7200, "exp": -3600}, SHORT_LIVED, id="expired"),
        pytest.param({"iat": 0, "exp": 7200}, SHORT_LIVED, id="longer-than-an-hour"),
        pytest.param({"iat": 3600, "exp": 4000}, SHORT_LIVED, id="issued-in-the-future"),
        pytest.param({"exp": None}, SHORT_LIVED, id="no-exp"),
        pytest.param(
            {"aud": "https://example.com/token"},
            "Invalid JWT: Failed audience check.",
            id="wrong-audience",
        ),  # fmt: skip
        pytest.param(
            {"aud": [GOOGLE_TOKEN_URI]}, "Invalid JWT: Failed audience check.", id="audience-list"
        ),  # fmt: skip
    ],
)
def test_bad_claims_are_refused_as_invalid_grant(
    emulator: Emulator, http: httpx.Client, claims: dict[str, Any], description: str
) -> None:
    now = int(emulator.clock.now)
    timed = {
        name: now + value if name in ("iat", "exp") and value is not None else value
        for name, value in claims.items()
    }
    response = _grant(http, _assertion(emulator, **timed))
    assert response.status_code == 400
    assert response.json() == _oauth_error("invalid_grant", description)


def test_missing_scope_is_refused_as_invalid_scope(emulator: Emulator, http: httpx.Client) -> None:
    response = _grant(http, _assertion(emulator, scope=None))
    assert response.status_code == 400
    expected = _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    assert response.json() == expected


def test_key_id_of_an_unknown_key_is_refused(emulator: Emulator, http: httpx.Client) -> None:
    response = _grant(http, _assertion(emulator, key_id="0" * 40))
    assert response.status_code == 400
    assert response.json() == _oauth_error("invalid_grant", "Invalid JWT Signature.")


def test_unsigned_assertion_is_refused(emulator: Emulator, http: httpx.Client) -> None:
    header = {"alg": "none", "typ": "JWT"}
    claims = jwt.decode(_assertion(emulator), verify=False)  # type: ignore[no-untyped-call]
    unsigned = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in (header, claims)
    )
    response = _grant(http, unsigned + ".")
    assert response.status_code == 400
    assert response.json() == _oauth_error("invalid_grant", "Invalid JWT Signature.")


@pytest.mark.parametrize(
    "assertion", ["garbage", "a.b.c", "W10.W10.", "e30.e30.e30.e30", "ééé.e30.e30"]
)
def test_malformed_assertion_is_refused_as_invalid_grant(
    http: httpx.Client, assertion: str
) -> None:
    response = _grant(http, assertion)
    assert response.status_code == 400
    assert response.json() == _oauth_error("invalid_grant", "Bad Request")


def test_other_grant_types_are_unsupported(http: httpx.Client) -> None:
    response = http.post("/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    expected = _oauth_error("unsupported_grant_type", "Invalid grant_type: client_credentials")
    assert response.json() == expected


def test_missing_grant_type_is_an_invalid_request(http: httpx.Client) -> None:
    response = http.post("/token", data={"assertion": "x.y.z"})
    assert response.status_code == 400
    expected = _oauth_error("invalid_request", "Required parameter is missing: grant_type")
    assert response.json() == expected


def test_missing_assertion_is_an_invalid_request(http: httpx.Client) -> None:
    response = http.post("/token", data={"grant_type": JWT_BEARER_GRANT})
    assert response.status_code == 400
    expected = _oauth_error("invalid_request", "Missing required parameter: assertion")
    assert response.json() == expected


def _has_vertex_generate_routes() -> bool:
    return any("publishers" in getattr(route, "path", "") for route in generate.ROUTES)


@pytest.mark.skipif(
    not _has_vertex_generate_routes(), reason="generate.py serves no Vertex routes yet"
)
def test_genai_sdk_in_vertex_mode_authenticates_with_service_account(
    emulator: Emulator, http: httpx.Client
) -> None:
    credentials = _credentials(emulator.key_file)
    with genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=credentials,
        http_options={"base_url": emulator.url},
    ) as client:
        counted = client.models.count_tokens(model="gemini-2.5-flash", contents="Hello there")
    assert counted.total_tokens is not None and counted.total_tokens > 0
    sent = http.get("/emulator/requests").json()["requests"]
    counting = [entry for entry in sent if entry["path"].endswith(":countTokens")]
    assert counting[-1]["headers"]["authorization"] == f"Bearer {credentials.token}"
