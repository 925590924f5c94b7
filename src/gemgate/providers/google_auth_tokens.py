"""google-auth's side of `AccessTokens`: a service account's credentials and their refresh over
httpx. Loaded only once a service-account key is used (google-auth and cryptography weigh
~9.5 MB resident, which a gateway serving only the Developer API does not pay)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.oauth2 import service_account

from gemgate import errors
from gemgate.translate.error_bodies import redact


def credentials_from(
    info: Mapping[str, Any], scopes: Sequence[str], quota_project_id: str | None
) -> Any:
    """google-auth's credentials of a checked service-account key file."""
    try:
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            dict(info), scopes=list(scopes), quota_project_id=quota_project_id
        )
    except ValueError as error:
        # The message names missing fields or a bad key format, never the key itself.
        raise errors.AuthenticationError(
            f"the service-account key of {info.get('client_email')!r} is not usable: "
            f"{type(error).__name__}",
            provider="vertex_ai",
        ) from error


def refresh(credentials: Any, token_uri: str, client_email: str, timeout: float) -> None:
    """Fetch a new access token into ``credentials``; failures as gemgate errors."""
    # refresh() only asks token_uri for a token; before_request() would also start
    # google-auth's regional-access-boundary lookup, which calls Google's IAM host.
    try:
        credentials.refresh(_TokenRequest(timeout))
    except auth_exceptions.RefreshError as error:
        reason = redact(str(error.args[0])) if error.args else type(error).__name__
        raise errors.AuthenticationError(
            f"{token_uri} refused a token for {client_email}: {reason}",
            provider="vertex_ai",
        ) from error
    except auth_exceptions.TransportError as error:
        raise errors.APIConnectionError(
            f"could not reach the token endpoint {_host_of(token_uri)}: {error}",
            provider="vertex_ai",
        ) from error


class _TokenResponse(transport.Response):
    """An httpx response in the shape google-auth reads."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _TokenRequest(transport.Request):
    """google-auth's HTTP hook on httpx, so no second HTTP library is needed for tokens."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _TokenResponse:
        # Tokens are fetched about once an hour per credential; a short-lived client is enough.
        with httpx.Client(timeout=timeout or self._timeout) as client:
            try:
                response = client.request(method, url, content=body, headers=headers)
            except httpx.HTTPError as error:
                raise auth_exceptions.TransportError(  # type: ignore[no-untyped-call]
                    f"{type(error).__name__} talking to {_host_of(url)}"
                ) from error
        return _TokenResponse(response)


def _host_of(url: str) -> str:
    return urlsplit(url).netloc or url
