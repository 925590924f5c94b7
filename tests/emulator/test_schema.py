"""Strict checking against Google's protobuf descriptors: what passes and what Google rejects."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.emulator.google_errors import GoogleApiError
from gemgate.emulator.schema import check_request

TEXT = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    "body",
    [
        TEXT,
        {
            "contents": [
                {"parts": [{"inline_data": {"mime_type": "image/png", "data": "iVBORw0K"}}]}
            ]
        },
        {**TEXT, "generationConfig": {"topK": 40.0, "thinkingConfig": {"thinking_budget": 1024}}},
        {**TEXT, "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
        {
            **TEXT,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parametersJsonSchema": {
                                "type": "object",
                                "additionalProperties": False,
                            },
                        }
                    ]
                }
            ],
        },
        {
            "contents": [
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "f", "args": {"any_key": {"deep": [1, None]}}},
                            "thoughtSignature": "skip_thought_signature_validator",
                        }
                    ],
                }
            ]
        },
        {
            **TEXT,
            "safetySettings": [
                {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}
            ],
        },
        {**TEXT, "labels": {"team": "search"}},
        {**TEXT, "generationConfig": None},
    ],
)
def test_valid_bodies_pass(body: dict[str, Any]) -> None:
    check_request("GenerateContentRequest", body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**TEXT, "extra": 1}, 'Unknown name "extra": Cannot find field.'),
        (
            {"contents": [{"parts": [{"text": "x", "colour": 1}]}]},
            "Unknown name \"colour\" at 'contents[0].parts[0]'",
        ),
        ({**TEXT, "generationConfig": {"maxOutputTokens": 1.5}}, "(TYPE_INT32), 1.5"),
        ({**TEXT, "generationConfig": {"candidateCount": True}}, "(TYPE_INT32), true"),
        (
            {
                **TEXT,
                "safetySettings": [{"category": "HARM_CATEGORY_NOPE", "threshold": "BLOCK_NONE"}],
            },
            "HARM_CATEGORY_NOPE",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "a/b", "data": "not base64!"}}]}]},
            "(TYPE_BYTES)",
        ),
        (
            {
                **TEXT,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {"type": "OBJECT", "additionalProperties": False},
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
        ({"contents": {"role": "user"}}, "Invalid value at 'contents'"),
        (
            {**TEXT, "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}},
            "thinking_level",
        ),
        ({**TEXT, "labels": {"team": 5}}, "labels"),
    ],
)
def test_invalid_bodies_get_googles_message(body: dict[str, Any], message: str) -> None:
    with pytest.raises(GoogleApiError) as caught:
        check_request("GenerateContentRequest", body)
    assert caught.value.status == "INVALID_ARGUMENT" and caught.value.http_status == 400
    assert message in caught.value.message


def test_oneof_fields_are_exclusive() -> None:
    body = {"model": "models/m", "ttl": "60s", "expireTime": "2030-01-01T00:00:00Z"}
    with pytest.raises(GoogleApiError, match="Oneof field 'expiration' is already set"):
        check_request("CachedContent", body)


def test_duration_must_end_with_s() -> None:
    with pytest.raises(GoogleApiError, match="Illegal duration"):
        check_request("CachedContent", {"model": "models/m", "ttl": "60"})


def test_vertex_only_fields_pass_only_on_vertex() -> None:
    body = {
        **TEXT,
        "safetySettings": [
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF", "method": "SEVERITY"}
        ],
    }
    check_request("GenerateContentRequest", body, is_vertex=True)
    with pytest.raises(GoogleApiError):
        check_request("GenerateContentRequest", body)
