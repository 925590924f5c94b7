"""Service-account key files → OAuth access tokens via google-auth, cached and refreshed before expiry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.oauth2 import service_account

from gemgate import errors
from gemgate.translate.error_bodies import redact

logger = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TOKEN_TIMEOUT_SECONDS = 20.0
_REQUIRED_FIELDS = ("client_email", "private_key", "token_uri")

KeyFileSource = str | os.PathLike[str] | Mapping[str, Any]


def read_key_file(source: KeyFileSource) -> dict[str, Any]:
    """A service-account key file's JSON, given as a dict, a JSON string or a path to the file."""
    if isinstance(source, Mapping):
        info: Any = dict(source)
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        info = _parse_json(source.encode("utf-8"), where="vertex_credentials")
    else:
        info = _parse_json(_read_file(Path(source)), where=os.fspath(source))
    _check_key_file(info)
    return dict(info)


def credential_identity(info: Mapping[str, Any]) -> str:
    """A stable key naming one credential (account, key and token endpoint), without the secret."""
    parts = [str(info.get(name, "")) for name in ("client_email", "private_key_id", "token_uri")]
    digest = hashlib.sha256("\0".join([*parts, str(info.get("private_key", ""))]).encode())
    return f"{parts[0]}#{digest.hexdigest()[:16]}"


class AccessTokens:
    """One credential's access token: fetched on first use, reused until google-auth calls it
    expired (a few minutes early), then refreshed once however many callers are waiting."""

    def __init__(self, info: Mapping[str, Any], *, timeout: float = TOKEN_TIMEOUT_SECONDS) -> None:
        self._credentials = _credentials_from(info)
        self._token_uri = str(info["token_uri"])
        self._client_email = str(info["client_email"])
        self._project_id = _optional_str(info.get("project_id"))
        self._timeout = timeout
        # A thread lock, not an asyncio.Lock: one registry outlives event loops (asyncio.run may be
        # called many times in a process) and serves the sync client's threads as well.
        self._lock = threading.Lock()

    @property
    def project_id(self) -> str | None:
        """The project the key file belongs to."""
        return self._project_id

    @property
    def quota_project_id(self) -> str | None:
        """The project billed for quota, when the key file names one."""
        return _optional_str(self._credentials.quota_project_id)

    async def token(self) -> str:
        """A valid access token; a refresh runs in a worker thread, off the event loop."""
        current = self._valid_token()
        if current is not None:
            return current
        return await asyncio.to_thread(self.token_sync)

    def token_sync(self) -> str:
        """A valid access token; refreshes inline when the current one is (nearly) expired."""
        with self._lock:
            current = self._valid_token()
            if current is None:
                self._refresh()
                current = str(self._credentials.token)
            return current

    def _valid_token(self) -> str | None:
        # `valid` already counts a token as expired google-auth's refresh margin early.
        credentials = self._credentials
        return str(credentials.token) if credentials.valid else None

    def _refresh(self) -> None:
        # refresh() only asks token_uri for a token; before_request() would also start
        # google-auth's regional-access-boundary lookup, which calls Google's IAM host.
        logger.info("fetching an access token for %s", self._client_email)
        try:
            self._credentials.refresh(_TokenRequest(self._timeout))
        except auth_exceptions.RefreshError as error:
            reason = redact(str(error.args[0])) if error.args else type(error).__name__
            raise errors.AuthenticationError(
                f"{self._token_uri} refused a token for {self._client_email}: {reason}",
                provider="vertex_ai",
            ) from error
        except auth_exceptions.TransportError as error:
            raise errors.APIConnectionError(
                f"could not reach the token endpoint {_host_of(self._token_uri)}: {error}",
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


def _credentials_from(info: Mapping[str, Any]) -> Any:
    try:
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            dict(info),
            scopes=list(SCOPES),
            quota_project_id=_optional_str(info.get("quota_project_id")),
        )
    except ValueError as error:
        # The message names missing fields or a bad key format, never the key itself.
        raise errors.AuthenticationError(
            f"the service-account key of {info.get('client_email')!r} is not usable: "
            f"{type(error).__name__}",
            provider="vertex_ai",
        ) from error


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise errors.AuthenticationError(
            f"cannot read the service-account key file {os.fspath(path)!r}: {error.strerror}",
            provider="vertex_ai",
        ) from error


def _parse_json(raw: bytes, *, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise errors.AuthenticationError(
            f"{where} is not a service-account key file (not JSON)", provider="vertex_ai"
        ) from error


def _check_key_file(info: Any) -> None:
    if not isinstance(info, dict):
        raise errors.AuthenticationError(
            "vertex_credentials must be a service-account key file (a JSON object)",
            provider="vertex_ai",
        )
    kind = info.get("type", "service_account")
    missing = [name for name in _REQUIRED_FIELDS if not isinstance(info.get(name), str)]
    if kind != "service_account" or missing:
        raise errors.AuthenticationError(
            "vertex_credentials must be a service-account key file "
            f"(type {kind!r}, missing {', '.join(missing) or 'nothing'})",
            provider="vertex_ai",
        )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _host_of(url: str) -> str:
    return urlsplit(url).netloc or url
