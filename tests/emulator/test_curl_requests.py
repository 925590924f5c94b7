"""Requests shaped exactly like the curl examples users copy from Google's and gateways' docs."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TEST_API_KEY

FOX = b'{"contents": [{"parts":[{"text": "The quick brown fox jumps over the lazy dog."}]}]}'
BACKPACK = b'{"contents": [{"parts":[{"text": "Write a story about a magic backpack."}]}]}'
JSON_HEADERS = {"Content-Type": "application/json"}


def test_count_tokens_with_key_in_query(http: httpx.Client) -> None:
    response = http.post(
        f"/v1beta/models/gemini-1.5-flash:countTokens?key={TEST_API_KEY}",
        content=FOX,
        headers=JSON_HEADERS,
    )
    assert response.status_code == 200
    assert response.json() == {
        "totalTokens": 11,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
    }


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_content_with_key_in_query(http: httpx.Client, version: str) -> None:
    response = http.post(
        f"/{version}/models/gemini-1.5-flash:generateContent?key={TEST_API_KEY}",
        content=BACKPACK,
        headers=JSON_HEADERS,
    )
    body = response.json()
    assert body["candidates"][0]["content"] == {
        "parts": [{"text": "Echo: Write a story about a magic backpack."}],
        "role": "model",
    }
    assert body["modelVersion"] == "gemini-1.5-flash" and body["responseId"]


def test_malformed_json_gets_invalid_argument(http: httpx.Client) -> None:
    response = http.post(
        f"/v1beta/models/gemini-2.5-flash:generateContent?key={TEST_API_KEY}",
        content=b'{"contents": [',
        headers=JSON_HEADERS,
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid JSON payload received.")


def test_request_log_shows_what_arrived(http: httpx.Client) -> None:
    http.delete("/emulator/requests")
    http.post(
        f"/v1beta/models/gemini-2.5-flash:countTokens?key={TEST_API_KEY}",
        content=FOX,
        headers=JSON_HEADERS,
    )
    [entry] = http.get("/emulator/requests").json()["requests"]
    assert entry["path"] == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert entry["body"]["contents"][0]["parts"][0]["text"].startswith("The quick brown fox")
