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

import orjson

from gemgate import errors

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
        # google-auth and cryptography (~9.5 MB resident) load only where a service account is used.
        from gemgate.providers import google_auth_tokens  # deferred: see above

        quota_project = _optional_str(info.get("quota_project_id"))
        self._credentials = google_auth_tokens.credentials_from(info, SCOPES, quota_project)
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
        from gemgate.providers import google_auth_tokens  # deferred: loaded with the credentials

        logger.info("fetching an access token for %s", self._client_email)
        google_auth_tokens.refresh(
            self._credentials, self._token_uri, self._client_email, self._timeout
        )


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
