"""Pass-through mapping: target URL, query without `key=`, forwarded headers (pure functions)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from gemgate.proxy.config import GeneralSettings
from gemgate.proxy.upstream import (
    forwarded_headers,
    gemini_request,
    has_body,
    query_without_key,
    target_url,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("key=abc", ""),
        ("alt=sse&key=abc", "alt=sse"),
        ("key=abc&alt=sse&pageSize=2", "alt=sse&pageSize=2"),
        ("k%65y=abc&alt=sse", "alt=sse"),
        ("key&alt=sse", "alt=sse"),
        ("keys=1&apikey=2", "keys=1&apikey=2"),
        ("pageToken=a%2Bb&key=x", "pageToken=a%2Bb"),
    ],
)
def test_query_loses_every_key_parameter_and_keeps_the_rest(query: str, expected: str) -> None:
    assert query_without_key(query) == expected


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        (
            "https://generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            "alt=sse&key=caller",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        ),
        ("http://127.0.0.1:8090/", "/v1/models", "", "http://127.0.0.1:8090/v1/models"),
        ("http://host/prefix", "/v1/models", "key=x", "http://host/prefix/v1/models"),
    ],
)
def test_target_url_joins_base_and_path(base: str, path: str, query: str, expected: str) -> None:
    assert target_url(base, path, query) == expected


def test_caller_credentials_and_hop_by_hop_headers_are_not_forwarded() -> None:
    caller = [
        ("Host", "gateway:4000"),
        ("Authorization", "Bearer sk-caller"),
        ("x-goog-api-key", "caller-key"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Type", "application/json"),
        ("User-Agent", "google-genai-sdk/3.4.0"),
    ]

    forwarded = forwarded_headers(caller, "real-key")

    assert forwarded == [
        ("Content-Type", "application/json"),
        ("User-Agent", "google-genai-sdk/3.4.0"),
        ("accept-encoding", "identity"),
        ("x-goog-api-key", "real-key"),
    ]


def test_caller_accept_encoding_is_kept_because_bytes_are_relayed_as_they_come() -> None:
    forwarded = forwarded_headers([("accept-encoding", "gzip")], None)

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
