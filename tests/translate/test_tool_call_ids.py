"""Tool call ids carrying thought signatures, and stable ids for calls Gemini sent without one."""

from __future__ import annotations

import re

import pytest

from gemgate.translate.tool_call_ids import (
    decode_tool_call_id,
    encode_tool_call_id,
    stable_call_id,
)


@pytest.mark.parametrize("signature", [None, ""])
def test_id_without_signature_is_unchanged(signature: str | None) -> None:
    assert encode_tool_call_id("call_abc", signature) == "call_abc"


def test_signature_is_appended_after_the_marker() -> None:
    assert encode_tool_call_id("call_abc", "CiIB/x+=") == "call_abc__thought__CiIB/x+="


@pytest.mark.parametrize(
    ("call_id", "signature"),
    [
        ("call_abc", "CiIBcj4F+/aGVsbG8="),
        ("call_abc", None),
        ("get_weather_0", "c2lnbmF0dXJl"),
        ("call_1", "skip_thought_signature_validator"),
        ("", "c2ln"),
    ],
)
def test_encoded_id_decodes_to_the_original_parts(call_id: str, signature: str | None) -> None:
    assert decode_tool_call_id(encode_tool_call_id(call_id, signature)) == (call_id, signature)


@pytest.mark.parametrize(
    ("tool_call_id", "expected"),
    [
        ("call_plain", ("call_plain", None)),
        ("call_x__thought__", ("call_x", None)),
        ("toolu_01A09q90qw90lq917835lq9", ("toolu_01A09q90qw90lq917835lq9", None)),
    ],
)
def test_ids_from_other_sources_decode_without_signature(
    tool_call_id: str, expected: tuple[str, str | None]
) -> None:
    assert decode_tool_call_id(tool_call_id) == expected


def test_stable_call_id_is_call_and_24_hex_characters() -> None:
    assert re.fullmatch(r"call_[0-9a-f]{24}", stable_call_id("resp-1", 0, 0))


def test_stable_call_id_is_the_same_for_the_same_call() -> None:
    assert stable_call_id("resp-1", 1, 2) == stable_call_id("resp-1", 1, 2)


@pytest.mark.parametrize(
    "other", [("resp-2", 0, 0), ("resp-1", 1, 0), ("resp-1", 0, 1), ("resp-10", 0, 0)]
)
def test_stable_call_id_differs_per_response_candidate_and_position(
    other: tuple[str, int, int],
) -> None:
    assert stable_call_id(*other) != stable_call_id("resp-1", 0, 0)
