"""Which key a caller presents, and the constant-time master key check."""

from __future__ import annotations

import dataclasses

import pytest
from multidict import CIMultiDict

from gemgate.proxy.auth import MasterKey, gateway_key, google_authorization, presented_key


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"Authorization": "Bearer sk-1"}, {}, "sk-1"),
        ({"authorization": "bearer   sk-1  "}, {}, "sk-1"),
        ({"AUTHORIZATION": "BEARER sk-1"}, {}, "sk-1"),
        ({"Authorization": "Bearer\tsk-1"}, {}, "sk-1"),
        ({"x-gemgate-api-key": "Bearer sk-2"}, {}, "sk-2"),
        ({"X-Gemgate-Api-Key": "sk-2"}, {}, "sk-2"),
        ({"x-litellm-api-key": "Bearer sk-3"}, {}, "sk-3"),
        ({"x-litellm-api-key": "sk-3"}, {}, "sk-3"),
        ({"x-goog-api-key": "AIza-4"}, {}, "AIza-4"),
        ({}, {"key": "AIza-5"}, "AIza-5"),
        ({}, {}, None),
    ],
)
def test_key_is_read_from_each_accepted_place(
    headers: dict[str, str], query: dict[str, str], expected: str | None
) -> None:
    assert presented_key(CIMultiDict(headers), query) == expected


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        (
            {"Authorization": "Bearer a", "x-gemgate-api-key": "b", "x-goog-api-key": "d"},
            {"key": "e"},
            "a",
        ),
        ({"x-gemgate-api-key": "b", "x-litellm-api-key": "c", "x-goog-api-key": "d"}, {}, "b"),
        ({"x-litellm-api-key": "c", "x-goog-api-key": "d"}, {"key": "e"}, "c"),
        ({"x-goog-api-key": "d"}, {"key": "e"}, "d"),
    ],
)
def test_earlier_places_win(headers: dict[str, str], query: dict[str, str], expected: str) -> None:
    assert presented_key(CIMultiDict(headers), query) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        # Another scheme is not our key (a proxy in front may use Basic auth).
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "sk-bare"},
        {"x-gemgate-api-key": "  "},
        {"x-gemgate-api-key": "Bearer "},
        {"x-litellm-api-key": ""},
        {"x-goog-api-key": " "},
    ],
)
def test_blank_or_foreign_values_are_skipped(headers: dict[str, str]) -> None:
    assert presented_key(CIMultiDict(headers), {"key": "fallback"}) == "fallback"


def test_blank_query_key_is_no_key() -> None:
    assert presented_key(CIMultiDict(), {"key": ""}) is None


def test_master_key_matches_only_itself() -> None:
    master = MasterKey("sk-master")

    assert master.matches("sk-master")
    assert not master.matches("sk-master ")
    assert not master.matches("sk-maste")
    assert not master.matches("")
    assert not master.matches(None)


def test_master_key_accepts_any_unicode() -> None:
    assert MasterKey("clé-ü\u2603").matches("clé-ü\u2603")


def test_master_key_never_shows_or_stores_the_secret() -> None:
    master = MasterKey("sk-very-secret")

    assert "sk-very-secret" not in repr(master)
    assert "sk-very-secret" not in str(master)
    stored = [getattr(master, field.name) for field in dataclasses.fields(master)]
    assert all(b"sk-very-secret" not in value for value in stored)


def test_master_key_is_frozen() -> None:
    master = MasterKey("sk-master")

    with pytest.raises(dataclasses.FrozenInstanceError):
        master._digest = b""  # type: ignore[misc]


@pytest.mark.parametrize("secret", ["", "   "])
def test_empty_master_key_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        MasterKey(secret)


GOOGLE_TOKEN = {"Authorization": "Bearer ya29.google"}


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/vertex_ai/v1/x", {**GOOGLE_TOKEN, "x-gemgate-api-key": "sk-g"}, "sk-g"),
        ("/vertex-ai/v1/x", {**GOOGLE_TOKEN, "x-litellm-api-key": "Bearer sk-l"}, "sk-l"),
        ("/vertex_ai/v1/x", GOOGLE_TOKEN, "ya29.google"),
        ("/vertex_ai/v1/x", {**GOOGLE_TOKEN, "x-gemgate-api-key": "Bearer "}, "ya29.google"),
        ("/gemini/v1beta/x", {**GOOGLE_TOKEN, "x-gemgate-api-key": "sk-g"}, "ya29.google"),
        ("/v1/chat/completions", {"x-litellm-api-key": "sk-l"}, "sk-l"),
    ],
)
def test_vertex_routes_read_the_gateway_key_from_its_own_headers_first(
    path: str, headers: dict[str, str], expected: str
) -> None:
    assert gateway_key(path, CIMultiDict(headers), {}) == expected


HOSTED_TOKEN = {"cf-aig-authorization": "Bearer sk-cf", "x-goog-api-key": "AIza-google"}


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/acct/gw/google-ai-studio/v1beta/models/m:generateContent", HOSTED_TOKEN, "sk-cf"),
        ("/v1/acct/gw/compat/chat/completions",
         {"CF-AIG-Authorization": "sk-cf", "Authorization": "Bearer sk-other"}, "sk-cf"),
        ("/v1/models/gw/google-ai-studio/v1beta/models", HOSTED_TOKEN, "sk-cf"),
        # Without the header (or with a blank one) the usual places are read.
        ("/v1/acct/gw/google-ai-studio/v1/models", {"x-goog-api-key": "sk-g"}, "sk-g"),
        ("/v1/acct/gw/google-ai-studio/v1/models",
         {"cf-aig-authorization": "Bearer ", "x-goog-api-key": "sk-g"}, "sk-g"),
        # Elsewhere the header is nobody's key.
        ("/v1/chat/completions", HOSTED_TOKEN, "AIza-google"),
        ("/gemini/v1beta/models", HOSTED_TOKEN, "AIza-google"),
        ("/v1/acct/gw/openai/chat/completions", HOSTED_TOKEN, "AIza-google"),
    ],
)  # fmt: skip
def test_hosted_gateway_urls_read_the_gateway_token_header_first(
    path: str, headers: dict[str, str], expected: str
) -> None:
    assert gateway_key(path, CIMultiDict(headers), {}) == expected


@pytest.mark.parametrize(
    ("headers", "is_gateway_keyed", "expected"),
    [
        ({**GOOGLE_TOKEN, "x-gemgate-api-key": "sk-g"}, True, "Bearer ya29.google"),
        ({**GOOGLE_TOKEN, "x-litellm-api-key": "Bearer sk-l"}, True, "Bearer ya29.google"),
        (GOOGLE_TOKEN, True, None),
        (GOOGLE_TOKEN, False, "Bearer ya29.google"),
        ({"x-gemgate-api-key": "sk-g"}, True, None),
    ],
)
def test_authorization_goes_to_google_only_when_it_was_not_the_gateway_key(
    headers: dict[str, str], is_gateway_keyed: bool, expected: str | None
) -> None:
    found = google_authorization(CIMultiDict(headers), is_gateway_keyed=is_gateway_keyed)

    assert found == expected
