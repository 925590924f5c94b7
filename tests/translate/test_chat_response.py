"""Gemini GenerateContentResponse → OpenAI chat.completion."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from gemgate import errors
from gemgate.translate.chat_response import finish_reason_of, translate_response
from gemgate.translate.tool_call_ids import decode_tool_call_id, stable_call_id
from tests.conftest import TEST_API_KEY

RESPONSE_ID = "chatcmpl-test"
CREATED = 1_790_000_000
SIGNATURE = "Z3NpZzEWWs8+03h0J5GqigcrpQbIj3iy1o4fGq8="


def translate(response: dict[str, Any]) -> dict[str, Any]:
    return translate_response(
        response, model="gemini-2.5-flash", response_id=RESPONSE_ID, created=CREATED
    )


def answer(*parts: dict[str, Any], finish: str = "STOP", **candidate: Any) -> dict[str, Any]:
    """A one-candidate Gemini response with ``parts``."""
    content = {"role": "model", "parts": list(parts)}
    return {
        "candidates": [{"index": 0, "content": content, "finishReason": finish, **candidate}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-1",
    }


def message_of(response: dict[str, Any], choice: int = 0) -> dict[str, Any]:
    message: dict[str, Any] = translate(response)["choices"][choice]["message"]
    return message


@pytest.mark.parametrize(
    ("reason", "has_tool_calls", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
        ("IMAGE_PROHIBITED_CONTENT", False, "content_filter"),
        ("IMAGE_RECITATION", False, "content_filter"),
        ("MODEL_ARMOR", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "malformed_function_call"),
        ("UNEXPECTED_TOOL_CALL", True, "unexpected_tool_call"),
        ("TOO_MANY_TOOL_CALLS", True, "too_many_tool_calls"),
        ("MISSING_THOUGHT_SIGNATURE", False, "missing_thought_signature"),
        ("OTHER", False, "other"),
        ("LANGUAGE", False, "language"),
        ("NO_IMAGE", False, "no_image"),
        ("IMAGE_OTHER", False, "image_other"),
        ("SOMETHING_NEW", False, "something_new"),
        (None, False, None),
        (None, True, None),
    ],
)
def test_finish_reason_mapping(reason: str | None, has_tool_calls: bool, expected: str) -> None:
    assert finish_reason_of(reason, has_tool_calls=has_tool_calls) == expected


def test_text_response_becomes_a_chat_completion() -> None:
    assert translate(answer({"text": "Hello"})) == {
        "id": RESPONSE_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": "gemini-2.5-flash",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "reasoning_content": None,
                    "tool_calls": None,
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 4,
            "completion_tokens": 6,
            "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "image_tokens": 0,
            },
        },
    }


def test_text_parts_are_joined_and_thoughts_become_reasoning_content() -> None:
    message = message_of(
        answer(
            {"text": "**Plan** ", "thought": True},
            {"text": "then act", "thought": True},
            {"text": "Hel"},
            {"text": "lo"},
        )
    )
    assert (message["content"], message["reasoning_content"]) == ("Hello", "**Plan** then act")


def test_function_call_becomes_tool_call_with_gemini_id_and_compact_arguments() -> None:
    call = {"id": "call-1", "name": "get_weather", "args": {"city": "Zürich", "days": [1, 2]}}
    response = translate(answer({"functionCall": call}))
    choice = response["choices"][0]
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call-1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Zürich","days":[1,2]}'},
        }
    ]
    assert choice["finish_reason"] == "tool_calls"


def test_function_call_without_arguments_has_empty_object_arguments() -> None:
    tool_call = message_of(answer({"functionCall": {"name": "now"}}))["tool_calls"][0]
    assert tool_call["function"]["arguments"] == "{}"


def test_thought_signature_rides_in_the_id_and_in_provider_specific_fields() -> None:
    part = {
        "functionCall": {"id": "call-1", "name": "f", "args": {}},
        "thoughtSignature": SIGNATURE,
    }
    tool_call = message_of(answer(part))["tool_calls"][0]
    assert decode_tool_call_id(tool_call["id"]) == ("call-1", SIGNATURE)
    assert tool_call["provider_specific_fields"] == {"thought_signature": SIGNATURE}


def test_parallel_calls_keep_the_signature_on_the_first_call_only() -> None:
    response = answer(
        {"functionCall": {"name": "a", "args": {}}, "thoughtSignature": SIGNATURE},
        {"functionCall": {"name": "b", "args": {}}},
    )
    first, second = message_of(response)["tool_calls"]
    assert decode_tool_call_id(first["id"])[1] == SIGNATURE
    assert decode_tool_call_id(second["id"]) == (second["id"], None)
    assert "provider_specific_fields" not in second


def test_calls_without_gemini_ids_get_stable_distinct_ids() -> None:
    response = answer({"functionCall": {"name": "a"}}, {"functionCall": {"name": "b"}})
    first, second = message_of(response)["tool_calls"]
    assert first["id"] == stable_call_id(RESPONSE_ID, 0, 0)
    assert second["id"] == stable_call_id(RESPONSE_ID, 0, 1)
    assert first["id"] != second["id"]
    assert message_of(response)["tool_calls"][0]["id"] == first["id"]


def test_text_with_tool_calls_keeps_both() -> None:
    message = message_of(answer({"text": "Let me check."}, {"functionCall": {"name": "a"}}))
    assert message["content"] == "Let me check."
    assert len(message["tool_calls"]) == 1


def test_signature_on_a_text_part_is_kept_in_provider_specific_fields() -> None:
    message = message_of(answer({"text": "Done"}, {"text": "", "thoughtSignature": SIGNATURE}))
    assert message["content"] == "Done"
    assert message["provider_specific_fields"] == {"thought_signatures": [SIGNATURE]}


def test_audio_parts_become_message_audio_with_the_text_as_transcript() -> None:
    first, second = b"\x00\x01\x02", b"\x03\x04"
    mime = "audio/L16;codec=pcm;rate=24000"
    message = message_of(
        answer(
            {"text": "Hi there"},
            {"inlineData": {"mimeType": mime, "data": base64.b64encode(first).decode()}},
            {"inlineData": {"mimeType": mime, "data": base64.b64encode(second).decode()}},
        )
    )
    audio = message["audio"]
    assert base64.b64decode(audio["data"]) == first + second
    assert audio["transcript"] == "Hi there"
    assert audio["id"].startswith("audio_") and audio["expires_at"] > CREATED


def test_image_parts_become_data_urls_in_message_images() -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    message = message_of(answer({"text": "A cat"}, image))
    assert message["images"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]
    assert message["content"] == "A cat"


@pytest.mark.parametrize(
    ("gemini_field", "value", "name"),
    [
        ("groundingMetadata", {"webSearchQueries": ["q"]}, "grounding_metadata"),
        (
            "urlContextMetadata",
            {"urlMetadata": [{"retrievedUrl": "https://example.com/"}]},
            "url_context_metadata",
        ),
        (
            "citationMetadata",
            {"citationSources": [{"startIndex": 0, "uri": "u"}]},
            "citation_metadata",
        ),
        (
            "safetyRatings",
            [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}],
            "safety_ratings",
        ),
        ("finishMessage", "Malformed function call: x(", "finish_message"),
        ("avgLogprobs", -0.12, "avg_logprobs"),
    ],
)
def test_gemini_candidate_facts_go_to_provider_specific_fields(
    gemini_field: str, value: Any, name: str
) -> None:
    message = message_of(answer({"text": "ok"}, **{gemini_field: value}))
    assert message["provider_specific_fields"] == {name: value}


def test_logprobs_result_becomes_openai_logprobs() -> None:
    logprobs_result = {
        "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
        "topCandidates": [
            {
                "candidates": [
                    {"token": "Hi", "logProbability": -0.1},
                    {"token": "Yo", "logProbability": -2.5},
                ]
            }
        ],
    }
    choice = translate(answer({"text": "Hi"}, logprobsResult=logprobs_result))["choices"][0]
    assert choice["logprobs"] == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Yo", "logprob": -2.5, "bytes": [89, 111]},
                ],
            }
        ],
        "refusal": None,
    }


def test_multiple_candidates_become_choices_with_their_index() -> None:
    response = {
        "candidates": [
            {"content": {"parts": [{"text": "one"}]}, "finishReason": "STOP"},
            {"index": 1, "content": {"parts": [{"text": "two"}]}, "finishReason": "MAX_TOKENS"},
        ]
    }
    choices = translate(response)["choices"]
    # Proto3 JSON leaves out index 0, so a missing index is the candidate's position.
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "one", "stop"),
        (1, "two", "length"),
    ]


def test_candidate_without_content_is_filtered_with_no_content() -> None:
    ratings = [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
    ]
    response = {"candidates": [{"index": 0, "finishReason": "SAFETY", "safetyRatings": ratings}]}
    choice = translate(response)["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] is None
    assert choice["message"]["provider_specific_fields"] == {"safety_ratings": ratings}


def test_blocked_prompt_raises_content_policy_violation_naming_the_reason() -> None:
    response = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "nope"},
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 1},
    }
    with pytest.raises(errors.ContentPolicyViolationError) as raised:
        translate(response)
    assert raised.value.block_reason == "PROHIBITED_CONTENT"
    assert "PROHIBITED_CONTENT" in raised.value.message
    assert raised.value.status_code == 400


def test_response_without_candidates_or_block_has_no_choices() -> None:
    response = {"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}
    completion = translate(response)
    assert completion["choices"] == []
    assert completion["usage"]["prompt_tokens"] == 3


def test_usage_counts_thinking_as_completion() -> None:
    response = answer({"text": "ok"})
    response["usageMetadata"] = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 600,
        "candidatesTokenCount": 2,
        "thoughtsTokenCount": 96,
        "totalTokenCount": 1098,
    }
    usage = translate(response)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        1000,
        98,
        1098,
    )
    assert usage["prompt_tokens_details"]["cached_tokens"] == 600
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 96


# Real answers from the emulator ---------------------------------------------------------------

WEATHER_TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": name,
                "description": f"{name} of a city",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                    "required": ["city"],
                },
            }
            for name in ("get_weather", "get_time")
        ]
    }
]


def generate(
    http: httpx.Client, model: str, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    reply = http.post(
        f"/v1beta/models/{model}:generateContent",
        json=body,
        headers={"x-goog-api-key": TEST_API_KEY, **headers},
    )
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def test_gemini_3_parallel_calls_from_the_emulator_round_trip_their_signature(
    http: httpx.Client,
) -> None:
    prompt = {"role": "user", "parts": [{"text": "What is the weather and the time in Paris?"}]}
    body = {"contents": [prompt], "tools": WEATHER_TOOLS}
    gemini = generate(http, "gemini-3-flash-preview", body)
    calls = message_of(gemini)["tool_calls"]
    parts = gemini["candidates"][0]["content"]["parts"]
    assert [decode_tool_call_id(call["id"]) for call in calls] == [
        (part["functionCall"]["id"], part.get("thoughtSignature")) for part in parts
    ]
    assert [json.loads(call["function"]["arguments"]) for call in calls] == [{"city": "Paris"}] * 2
    # The decoded signatures, replayed as Gemini parts, are what the model accepts next turn.
    replayed = []
    for call in calls:
        call_id, signature = decode_tool_call_id(call["id"])
        part: dict[str, Any] = {
            "functionCall": {
                "id": call_id,
                "name": call["function"]["name"],
                "args": json.loads(call["function"]["arguments"]),
            }
        }
        if signature:
            part["thoughtSignature"] = signature
        replayed.append(part)
    results = [
        {
            "functionResponse": {
                "id": decode_tool_call_id(call["id"])[0],
                "name": call["function"]["name"],
                "response": {"ok": True},
            }
        }
        for call in calls
    ]
    follow_up = {
        "contents": [
            prompt,
            {"role": "model", "parts": replayed},
            {"role": "user", "parts": results},
        ],
        "tools": WEATHER_TOOLS,
    }
    assert message_of(generate(http, "gemini-3-flash-preview", follow_up))["content"]


@pytest.mark.parametrize(
    ("model", "body", "fault", "finish_reason"),
    [
        (
            "gemini-2.5-flash",
            {"generationConfig": {"maxOutputTokens": 3, "thinkingConfig": {"thinkingBudget": 0}}},
            "",
            "length",
        ),
        ("gemini-2.5-flash", {}, "finish=SAFETY", "content_filter"),
        (
            "gemini-2.5-flash",
            {"tools": WEATHER_TOOLS},
            "finish=MALFORMED_FUNCTION_CALL",
            "malformed_function_call",
        ),
    ],
)
def test_emulator_finish_reasons_are_mapped(
    http: httpx.Client, model: str, body: dict[str, Any], fault: str, finish_reason: str
) -> None:
    prompt = {"role": "user", "parts": [{"text": "Tell me a long story about the weather"}]}
    headers = {"x-emulator-fault": fault} if fault else {}
    gemini = generate(http, model, {"contents": [prompt], **body}, **headers)
    assert translate(gemini)["choices"][0]["finish_reason"] == finish_reason


def test_emulator_blocked_prompt_raises(http: httpx.Client) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "bad"}]}]}
    gemini = generate(http, "gemini-2.5-flash", body, **{"x-emulator-fault": "block=SAFETY"})
    with pytest.raises(errors.ContentPolicyViolationError) as raised:
        translate(gemini)
    assert raised.value.block_reason == "SAFETY"


def test_emulator_audio_answer_becomes_message_audio(http: httpx.Client) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
        "generationConfig": {"responseModalities": ["AUDIO"]},
    }
    gemini = generate(http, "gemini-2.5-flash-preview-tts", body)
    audio = message_of(gemini)["audio"]
    audio_parts = [p for p in gemini["candidates"][0]["content"]["parts"] if "inlineData" in p]
    assert audio["data"] == audio_parts[0]["inlineData"]["data"]
