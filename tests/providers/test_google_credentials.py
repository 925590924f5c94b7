"""Service-account key files → access tokens: reading, caching, refreshing, failing cleanly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.types import Receive, Scope, Send

from gemgate import errors
from gemgate.providers.google_credentials import AccessTokens, credential_identity, read_key_file
from tests.providers.conftest import PROJECT, VertexEmulator, vertex_emulator
from tests.servers import free_port

# google-auth counts a token as expired 3 min 45 s early, so a 60 s token is always refreshed.
SHORT_LIVED_SECONDS = 60


def test_a_key_file_reads_the_same_from_a_dict_json_or_path(
    vertex: VertexEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(orjson.dumps(vertex.key_file))
    sources: list[Any] = [vertex.key_file, orjson.dumps(vertex.key_file).decode(), str(path), path]
    assert all(read_key_file(source) == vertex.key_file for source in sources)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "a JSON object"),
        (b'{"type": "authorized_user", "client_id": "x"}', "type 'authorized_user'"),
        (b'{"type": "service_account", "client_email": "a@b"}', "missing private_key, token_uri"),
    ],
)
def test_a_file_that_is_no_service_account_key_is_an_authentication_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(content)
    with pytest.raises(errors.AuthenticationError, match=message):
        read_key_file(path)


def test_a_missing_key_file_is_an_authentication_error(tmp_path: Path) -> None:
    with pytest.raises(errors.AuthenticationError, match="cannot read .*nowhere.json"):
        read_key_file(str(tmp_path / "nowhere.json"))


def test_a_broken_private_key_is_refused_without_showing_it(vertex: VertexEmulator) -> None:
    broken = {**vertex.key_file, "private_key": "-----BEGIN PRIVATE KEY-----\nsecretstuff\n"}
    with pytest.raises(errors.AuthenticationError, match="not usable") as raised:
        AccessTokens(broken)
    assert "secretstuff" not in str(raised.value)


def test_credential_identity_is_stable_distinct_and_keeps_the_key_secret(
    vertex: VertexEmulator,
) -> None:
    identity = credential_identity(vertex.key_file)
    other = credential_identity({**vertex.key_file, "private_key_id": "other"})
    assert identity == credential_identity(dict(vertex.key_file)) and identity != other
    assert identity.startswith(vertex.key_file["client_email"])
    assert vertex.key_file["private_key"][40:80] not in identity


def test_the_key_files_project_is_exposed(vertex: VertexEmulator) -> None:
    tokens = AccessTokens(vertex.key_file)
    assert (tokens.project_id, tokens.quota_project_id) == (PROJECT, None)


def test_a_quota_project_in_the_key_file_is_exposed(vertex: VertexEmulator) -> None:
    assert AccessTokens({**vertex.key_file, "quota_project_id": "billing"}).quota_project_id == "billing"  # fmt: skip


def test_a_token_is_fetched_once_and_reused(vertex: VertexEmulator) -> None:
    tokens = AccessTokens(vertex.key_file)
    first = tokens.token_sync()
    assert first.startswith("ya29.") and tokens.token_sync() == first
    assert vertex.token_requests() == 1


def test_a_token_near_its_expiry_is_refreshed() -> None:
    with vertex_emulator(access_token_seconds=SHORT_LIVED_SECONDS) as emulator:
        tokens = AccessTokens(emulator.key_file)
        assert tokens.token_sync() != tokens.token_sync()
        assert emulator.token_requests() == 2


def test_the_key_files_token_uri_is_honoured() -> None:
    with vertex_emulator(token_path="/oauth2/v4/token") as emulator:
        AccessTokens(emulator.key_file).token_sync()
        assert [entry["path"] for entry in emulator.requests()] == ["/oauth2/v4/token"]


async def test_concurrent_callers_share_one_refresh(vertex: VertexEmulator) -> None:
    tokens = AccessTokens(vertex.key_file)
    fetched = await asyncio.gather(*(tokens.token() for _ in range(8)))
    assert len(set(fetched)) == 1 and vertex.token_requests() == 1


async def test_a_refresh_does_not_block_the_event_loop() -> None:
    with vertex_emulator(wrap=slow_token_endpoint) as emulator:
        tokens = AccessTokens(emulator.key_file)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await tokens.token()
        ticker.cancel()
        # The token endpoint takes 0.4 s; a blocked loop would not have ticked at all.
        assert ticks >= 10


def test_a_refused_token_is_an_authentication_error_without_secrets(
    vertex: VertexEmulator,
) -> None:
    stranger = {**vertex.key_file, "client_email": f"stranger@{PROJECT}.iam.gserviceaccount.com"}
    with pytest.raises(errors.AuthenticationError, match="account not found") as raised:
        AccessTokens(stranger).token_sync()
    assert "PRIVATE KEY" not in str(raised.value) and "eyJ" not in str(raised.value)


async def test_an_unreachable_token_endpoint_is_a_connection_error(vertex: VertexEmulator) -> None:
    nowhere = {**vertex.key_file, "token_uri": f"http://127.0.0.1:{free_port()}/token"}
    with pytest.raises(errors.APIConnectionError, match="token endpoint 127.0.0.1"):
        await AccessTokens(nowhere, timeout=2).token()


def slow_token_endpoint(app: Any) -> Any:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/token"):
            await asyncio.sleep(0.4)
        await app(scope, receive, send)

    return wrapped


def test_slow_token_endpoint_really_is_slow() -> None:
    with vertex_emulator(wrap=slow_token_endpoint) as emulator:
        started = time.monotonic()
        AccessTokens(emulator.key_file).token_sync()
        assert time.monotonic() - started >= 0.4
