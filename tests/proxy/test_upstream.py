"""Pass-through headers (pure): what is forwarded to Google, what is relayed back, the Gemini mapping."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from gemgate.proxy.config import GeneralSettings
from gemgate.proxy.upstream import (
    forwarded_headers,
    gemini_request,
    has_body,
    relayed_headers,
    secrets_of,
)


def test_caller_credentials_and_hop_by_hop_headers_are_not_forwarded() -> None:
    caller = [
        ("Host", "gateway:4000"),
        ("Authorization", "Bearer sk-caller"),
        ("x-goog-api-key", "caller-key"),
        ("x-gemgate-api-key", "sk-gateway"),
        ("x-litellm-api-key", "Bearer sk-gateway"),
        ("Cookie", "session=1"),
        ("x-goog-user-project", "callers-project"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Type", "application/json"),
        ("User-Agent", "google-genai-sdk/3.4.0"),
    ]

    forwarded = forwarded_headers(caller, [("x-goog-api-key", "real-key")])

    assert forwarded == [
        ("Content-Type", "application/json"),
        ("User-Agent", "google-genai-sdk/3.4.0"),
        ("accept-encoding", "identity"),
        ("x-goog-api-key", "real-key"),
    ]


def test_headers_the_connection_header_names_are_not_forwarded() -> None:
    caller = [("Connection", "close, X-Hop-Secret"), ("x-hop-secret", "1"), ("x-kept", "2")]

    assert forwarded_headers(caller, []) == [("x-kept", "2"), ("accept-encoding", "identity")]


def test_caller_accept_encoding_is_kept_because_bytes_are_relayed_as_they_come() -> None:
    forwarded = forwarded_headers([("accept-encoding", "gzip")], [])

    assert forwarded == [("accept-encoding", "gzip")]


def test_without_a_configured_key_no_key_is_sent() -> None:
    settings = GeneralSettings(gemini_api_base="http://127.0.0.1:1")

    outgoing = gemini_request(
        settings, "GET", "/v1/models", "key=caller", [("x-goog-api-key", "c")]
    )

    assert outgoing.url == "http://127.0.0.1:1/v1/models"
    assert all(name != "x-goog-api-key" for name, _ in outgoing.headers)


def test_configured_key_travels_in_the_header_never_in_the_url() -> None:
    settings = GeneralSettings(gemini_api_base="http://h:1", gemini_api_key=SecretStr("real"))

    outgoing = gemini_request(settings, "POST", "/v1beta/models/m:generateContent", "key=c", [])

    assert "real" not in outgoing.url
    assert ("x-goog-api-key", "real") in outgoing.headers
    assert outgoing.secrets == ("real",)


def test_pass_through_base_url_wins_over_the_gateway_default() -> None:
    settings = GeneralSettings(gemini_api_base="http://default:1")

    outgoing = gemini_request(
        settings, "GET", "/v1beta/models", "", [], base_url="http://pass-through:2/"
    )

    assert outgoing.url == "http://pass-through:2/v1beta/models"


def test_repr_of_an_outgoing_request_shows_no_credentials() -> None:
    settings = GeneralSettings(gemini_api_base="http://h:1", gemini_api_key=SecretStr("real-k"))

    outgoing = gemini_request(settings, "GET", "/v1beta/models", "", [])

    assert "real-k" not in repr(outgoing)


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ([("x-goog-api-key", "AIza-key")], ("AIza-key",)),
        ([("authorization", "Bearer ya29.token"), ("x-goog-user-project", "p")], ("ya29.token",)),
        ([("Authorization", "Basic dXNlcg==")], ("Basic dXNlcg==",)),
        ([], ()),
    ],
)
def test_secrets_are_the_key_or_the_bearer_token(
    credentials: list[tuple[str, str]], expected: tuple[str, ...]
) -> None:
    assert secrets_of(credentials) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            [("Location", "https://h/v1/x?key=real&alt=sse"), ("content-type", "a/b")],
            [("Location", "https://h/v1/x?alt=sse"), ("content-type", "a/b")],
        ),
        ([("location", "https://h/v1/x?key=real")], [("location", "https://h/v1/x")]),
        ([("Location", "https://h/?token=ya29.tok")], []),
        ([("x-debug-auth", "Bearer ya29.tok"), ("x-kept", "1")], [("x-kept", "1")]),
        ([("Date", "today"), ("Server", "ESF"), ("Transfer-Encoding", "chunked")], []),
        ([("Connection", "x-hop"), ("x-hop", "1"), ("x-kept", "2")], [("x-kept", "2")]),
    ],
)
def test_relayed_headers_never_carry_our_credentials(
    headers: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    assert relayed_headers(headers, ("real", "ya29.tok")) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], False),
        ([("content-length", "0")], False),
        ([("Content-Length", "12")], True),
        ([("transfer-encoding", "chunked")], True),
    ],
)
def test_body_is_sent_only_when_the_caller_sent_one(
    headers: list[tuple[str, str]], expected: bool
) -> None:
    assert has_body(headers) is expected
