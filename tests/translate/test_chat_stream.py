"""ChatStreamTranslator: Gemini stream chunks → OpenAI chat.completion.chunk dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemgate import errors
from gemgate.sse import SSEDecoder
from gemgate.translate.chat_response import translate_response
from gemgate.translate.chat_stream import ChatStreamTranslator
from gemgate.translate.tool_call_ids import decode_tool_call_id, stable_call_id
from tests.conftest import TEST_API_KEY

DATA = Path(__file__).resolve().parents[1] / "data"
RESPONSE_ID = "chatcmpl-stream"
CREATED = 1_790_000_000
MODEL = "gemini-3-flash-preview"


def new_translator(*, include_usage: bool = False) -> ChatStreamTranslator:
    return ChatStreamTranslator(
        model=MODEL, response_id=RESPONSE_ID, created=CREATED, include_usage=include_usage
    )


def translate_all(
    chunks: list[dict[str, Any]], *, include_usage: bool = False
) -> list[dict[str, Any]]:
    translator = new_translator(include_usage=include_usage)
    out = [openai for chunk in chunks for openai in translator.feed(chunk)]
    return out + translator.finish()


def decode_sse(data: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    events = [*decoder.feed(data), *decoder.flush()]
    return [json.loads(event) for event in events]


def candidate_chunk(*parts: dict[str, Any], index: int = 0, **fields: Any) -> dict[str, Any]:
    candidate = {"index": index, "content": {"role": "model", "parts": list(parts)}, **fields}
    return {"candidates": [candidate], "responseId": "r-1", "modelVersion": MODEL}


def deltas(chunks: list[dict[str, Any]], choice: int = 0) -> list[dict[str, Any]]:
    return [
        c["choices"][0]["delta"]
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == choice
    ]


def joined(chunks: list[dict[str, Any]], key: str, choice: int = 0) -> str:
    return "".join(delta.get(key) or "" for delta in deltas(chunks, choice))


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str | None]:
    return [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]


def test_text_chunks_become_content_deltas_with_the_role_first() -> None:
    chunks = translate_all(
        [candidate_chunk({"text": "Hel"}), candidate_chunk({"text": "lo"}, finishReason="STOP")]
    )
    assert deltas(chunks) == [{"role": "assistant", "content": "Hel"}, {"content": "lo"}]
    assert finish_reasons(chunks) == [None, "stop"]


def test_every_chunk_shares_id_created_model_and_object() -> None:
    chunks = translate_all(
        [candidate_chunk({"text": "a"}), candidate_chunk({"text": "b"}, finishReason="STOP")],
        include_usage=True,
    )
    envelopes = {(c["id"], c["created"], c["model"], c["object"]) for c in chunks}
    assert envelopes == {(RESPONSE_ID, CREATED, MODEL, "chat.completion.chunk")}
    assert all(c["system_fingerprint"] is None for c in chunks)


def test_thoughts_stream_as_reasoning_content() -> None:
    chunks = translate_all(
        [
            candidate_chunk({"text": "Thinking…", "thought": True}),
            candidate_chunk({"text": "Answer"}, finishReason="STOP"),
        ]
    )
    assert deltas(chunks) == [
        {"role": "assistant", "reasoning_content": "Thinking…"},
        {"content": "Answer"},
    ]


def test_recorded_parallel_calls_stream_whole_with_signature_and_incrementing_index() -> None:
    gemini = decode_sse((DATA / "gemini_stream_parallel_calls.sse").read_bytes())
    chunks = translate_all(gemini)
    calls = [call for delta in deltas(chunks) for call in delta.get("tool_calls", [])]
    signature = gemini[3]["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    assert [call["index"] for call in calls] == [0, 1]
    assert [decode_tool_call_id(call["id"]) for call in calls] == [
        (stable_call_id(RESPONSE_ID, 0, 0), signature),
        (stable_call_id(RESPONSE_ID, 0, 1), None),
    ]
    assert calls[0]["provider_specific_fields"] == {"thought_signature": signature}
    assert [call["function"] for call in calls] == [
        {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
        {"name": "get_time", "arguments": '{"city":"Paris"}'},
    ]
    assert joined(chunks, "content") == "Let me check both."
    # The last chunk has no calls of its own, but the choice made some.
    assert finish_reasons(chunks) == [None, None, None, None, "tool_calls"]


def test_streamed_tool_calls_match_the_whole_response() -> None:
    gemini = decode_sse((DATA / "gemini_stream_parallel_calls.sse").read_bytes())
    streamed = [call for d in deltas(translate_all(gemini)) for call in d.get("tool_calls", [])]
    whole_parts = [part for chunk in gemini for part in chunk["candidates"][0]["content"]["parts"]]
    whole = {
        "candidates": [{"index": 0, "content": {"parts": whole_parts}, "finishReason": "STOP"}]
    }
    completion = translate_response(whole, model=MODEL, response_id=RESPONSE_ID, created=CREATED)
    expected = completion["choices"][0]["message"]["tool_calls"]
    assert [{k: v for k, v in call.items() if k != "index"} for call in streamed] == expected


def test_tool_call_index_counts_per_choice_across_chunks() -> None:
    chunks = translate_all(
        [
            candidate_chunk({"functionCall": {"name": "a"}}),
            candidate_chunk({"functionCall": {"name": "b"}}, index=1),
            candidate_chunk({"functionCall": {"name": "c"}}),
            candidate_chunk({"text": ""}, finishReason="STOP"),
        ]
    )
    indexes = {
        choice: [call["index"] for d in deltas(chunks, choice) for call in d.get("tool_calls", [])]
        for choice in (0, 1)
    }
    assert indexes == {0: [0, 1], 1: [0]}
    ids = [call["id"] for d in deltas(chunks) for call in d.get("tool_calls", [])]
    assert ids == [stable_call_id(RESPONSE_ID, 0, 0), stable_call_id(RESPONSE_ID, 0, 1)]


def test_each_candidate_gets_its_own_choice_and_role() -> None:
    chunk = {
        "candidates": [
            {"content": {"parts": [{"text": "one"}]}, "finishReason": "STOP"},
            {"index": 1, "content": {"parts": [{"text": "two"}]}, "finishReason": "STOP"},
        ]
    }
    chunks = translate_all([chunk])
    assert [(c["choices"][0]["index"], c["choices"][0]["delta"]) for c in chunks] == [
        (0, {"role": "assistant", "content": "one"}),
        (1, {"role": "assistant", "content": "two"}),
    ]


def test_usage_is_the_last_cumulative_report_in_a_final_chunk() -> None:
    def with_usage(chunk: dict[str, Any], candidates: int) -> dict[str, Any]:
        usage = {
            "promptTokenCount": 5,
            "candidatesTokenCount": candidates,
            "thoughtsTokenCount": 90,
        }
        return {**chunk, "usageMetadata": usage}

    translator = new_translator(include_usage=True)
    translator.feed(with_usage(candidate_chunk({"text": "Hel"}), 1))
    translator.feed(with_usage(candidate_chunk({"text": "lo"}, finishReason="STOP"), 2))
    (last,) = translator.finish()
    assert last["choices"] == []
    assert (last["usage"]["prompt_tokens"], last["usage"]["completion_tokens"]) == (5, 92)
    assert last["usage"]["completion_tokens_details"]["reasoning_tokens"] == 90


def test_no_usage_chunk_unless_asked() -> None:
    translator = new_translator(include_usage=False)
    translator.feed(candidate_chunk({"text": "x"}, finishReason="STOP"))
    assert translator.finish() == []
    assert translator.usage is None


def test_a_usage_only_chunk_yields_no_openai_chunk_but_counts() -> None:
    translator = new_translator()
    assert (
        translator.feed({"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4}}) == []
    )
    assert translator.usage is not None and translator.usage.total_tokens == 7


def test_candidate_without_content_sends_role_and_content_filter() -> None:
    chunk = {"candidates": [{"index": 0, "finishReason": "SAFETY", "safetyRatings": []}]}
    (only,) = translate_all([chunk])
    assert only["choices"][0]["delta"] == {
        "role": "assistant",
        "provider_specific_fields": {"safety_ratings": []},
    }
    assert only["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
            errors.ServiceUnavailableError,
        ),
        (
            {"code": 500, "message": "Internal error.", "status": "INTERNAL"},
            errors.InternalServerError,
        ),
        ({"code": 400, "message": "Bad.", "status": "INVALID_ARGUMENT"}, errors.BadRequestError),
        ({"code": 504, "message": "Too slow."}, errors.Timeout),
        ({"message": "no code, no status"}, errors.InternalServerError),
    ],
)
def test_error_chunk_raises_the_mapped_error(
    error: dict[str, Any], expected: type[errors.GemgateError]
) -> None:
    translator = new_translator()
    translator.feed(candidate_chunk({"text": "partial"}))
    with pytest.raises(expected) as raised:
        translator.feed({"error": error})
    assert raised.value.model == MODEL
    assert raised.value.provider == "gemini"


def test_rate_limit_error_chunk_carries_the_retry_delay() -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}
    error = {
        "code": 429,
        "message": "Quota.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [retry_info],
    }
    with pytest.raises(errors.RateLimitError) as raised:
        new_translator().feed({"error": error})
    assert raised.value.retry_after == 26.0


def test_blocked_prompt_in_a_stream_raises() -> None:
    with pytest.raises(errors.ContentPolicyViolationError) as raised:
        new_translator().feed({"promptFeedback": {"blockReason": "BLOCKLIST"}})
    assert raised.value.block_reason == "BLOCKLIST"


# Real streams from the emulator ---------------------------------------------------------------

TOOLS = [
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


def stream(
    http: httpx.Client, model: str, body: dict[str, Any], fault: str = ""
) -> list[dict[str, Any]]:
    """The Gemini chunks of a real ``alt=sse`` stream from the emulator."""
    headers = {"x-goog-api-key": TEST_API_KEY, **({"x-emulator-fault": fault} if fault else {})}
    decoder = SSEDecoder()
    events: list[bytes] = []
    url = f"/v1beta/models/{model}:streamGenerateContent"
    with http.stream("POST", url, params={"alt": "sse"}, json=body, headers=headers) as reply:
        assert reply.status_code == 200, reply.read()
        for data in reply.iter_bytes():
            events.extend(decoder.feed(data))
    events.extend(decoder.flush())
    return [json.loads(event) for event in events]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def test_emulator_text_stream(http: httpx.Client) -> None:
    chunks = translate_all(stream(http, "gemini-2.5-flash", {"contents": [user("Hello there")]}))
    assert joined(chunks, "content") == "Echo: Hello there"
    assert deltas(chunks)[0]["role"] == "assistant"
    assert finish_reasons(chunks)[-1] == "stop"
    assert all(reason is None for reason in finish_reasons(chunks)[:-1])


def test_emulator_thinking_stream_with_include_thoughts(http: httpx.Client) -> None:
    config = {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}
    body = {"contents": [user("Think about it")], "generationConfig": config}
    chunks = translate_all(stream(http, "gemini-2.5-flash", body), include_usage=True)
    assert "Think about it" in joined(chunks, "reasoning_content")
    assert joined(chunks, "content") == "Echo: Think about it"
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_emulator_gemini_3_streamed_calls_round_trip_their_signatures(http: httpx.Client) -> None:
    prompt = user("What is the weather and the time in Paris?")
    gemini = stream(http, "gemini-3-flash-preview", {"contents": [prompt], "tools": TOOLS})
    chunks = translate_all(gemini)
    calls = [call for delta in deltas(chunks) for call in delta.get("tool_calls", [])]
    parts = [part for chunk in gemini for part in chunk["candidates"][0]["content"]["parts"]]
    assert any("thoughtSignature" in part for part in parts)
    decoded = [decode_tool_call_id(call["id"]) for call in calls]
    assert decoded == [(p["functionCall"]["id"], p.get("thoughtSignature")) for p in parts]
    assert finish_reasons(chunks)[-1] == "tool_calls"
    # Replaying the calls rebuilt from the OpenAI ids alone is accepted by the signature check.
    replayed = [_call_part(call) for call in calls]
    results = [
        {
            "functionResponse": {
                "id": call_id,
                "name": call["function"]["name"],
                "response": {"ok": 1},
            }
        }
        for call, (call_id, _) in zip(calls, decoded, strict=True)
    ]
    follow_up = {
        "contents": [
            prompt,
            {"role": "model", "parts": replayed},
            {"role": "user", "parts": results},
        ],
        "tools": TOOLS,
    }
    answer = translate_all(stream(http, "gemini-3-flash-preview", follow_up))
    assert joined(answer, "content").startswith("Function results:")


def _call_part(call: dict[str, Any]) -> dict[str, Any]:
    call_id, signature = decode_tool_call_id(call["id"])
    function = call["function"]
    part: dict[str, Any] = {
        "functionCall": {
            "id": call_id,
            "name": function["name"],
            "args": json.loads(function["arguments"]),
        }
    }
    if signature:
        part["thoughtSignature"] = signature
    return part


def test_emulator_multiple_candidates_stream_as_separate_choices(http: httpx.Client) -> None:
    body = {"contents": [user("Two please")], "generationConfig": {"candidateCount": 2}}
    chunks = translate_all(stream(http, "gemini-2.5-flash", body))
    assert joined(chunks, "content", choice=0) == "Echo: Two please"
    assert joined(chunks, "content", choice=1) == "Echo: Two please (candidate 2)"
    assert [d.get("role") for d in deltas(chunks, 1)][0] == "assistant"
    finished = {
        c["choices"][0]["index"]: c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"][0]["finish_reason"]
    }
    assert finished == {0: "stop", 1: "stop"}


@pytest.mark.parametrize(
    ("body", "fault", "finish_reason"),
    [
        (
            {"generationConfig": {"maxOutputTokens": 3, "thinkingConfig": {"thinkingBudget": 0}}},
            "",
            "length",
        ),
        ({}, "finish=SAFETY", "content_filter"),
        ({"tools": TOOLS}, "finish=MALFORMED_FUNCTION_CALL", "malformed_function_call"),
    ],
)
def test_emulator_stream_finish_reasons(
    http: httpx.Client, body: dict[str, Any], fault: str, finish_reason: str
) -> None:
    prompt = user("Tell me a long story about the weather")
    chunks = translate_all(stream(http, "gemini-2.5-flash", {"contents": [prompt], **body}, fault))
    assert finish_reasons(chunks)[-1] == finish_reason


def test_emulator_malformed_call_keeps_the_finish_message(http: httpx.Client) -> None:
    body = {"contents": [user("call weather")], "tools": TOOLS}
    chunks = translate_all(stream(http, "gemini-2.5-flash", body, "finish=MALFORMED_FUNCTION_CALL"))
    fields = deltas(chunks)[-1]["provider_specific_fields"]
    assert fields["finish_message"].startswith("Malformed function call")


def test_emulator_blocked_prompt_stream_raises(http: httpx.Client) -> None:
    gemini = stream(
        http, "gemini-2.5-flash", {"contents": [user("bad")]}, "block=PROHIBITED_CONTENT"
    )
    with pytest.raises(errors.ContentPolicyViolationError) as raised:
        translate_all(gemini)
    assert raised.value.block_reason == "PROHIBITED_CONTENT"


def test_emulator_mid_stream_error_raises_after_the_first_chunks(http: httpx.Client) -> None:
    prompt = user("A long answer that keeps going for several chunks of text, and more words")
    gemini = stream(http, "gemini-2.5-flash", {"contents": [prompt]}, "break-after=1")
    translator = new_translator()
    translated = translator.feed(gemini[0])
    assert translated[0]["choices"][0]["delta"]["content"].startswith("Echo:")
    with pytest.raises(errors.InternalServerError):
        for chunk in gemini[1:]:
            translator.feed(chunk)
