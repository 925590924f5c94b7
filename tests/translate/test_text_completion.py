"""Legacy completions ↔ chat: prompt in, text_completion (and its stream chunks) out."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.errors import BadRequestError, UnsupportedParamsError
from gemgate.translate.text_completion import (
    chat_request_from_completion,
    completion_chunk_from_chat_chunk,
    completion_response_from_chat,
)

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.mark.parametrize("prompt", ["Say hi", ["Say hi"]])
def test_prompt_becomes_one_user_message(prompt: str | list[str]) -> None:
    chat = chat_request_from_completion({"prompt": prompt, "max_tokens": 5, "temperature": 0})
    assert chat == {
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_tokens": 5,
        "temperature": 0,
    }


def test_no_max_tokens_default_is_added() -> None:
    assert chat_request_from_completion({"prompt": "x"}) == {
        "messages": [{"role": "user", "content": "x"}]
    }


def test_integer_logprobs_is_kept_for_the_generation_config() -> None:
    chat = chat_request_from_completion({"prompt": "x", "logprobs": 2})
    assert chat["logprobs"] == 2


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        ({"echo": False}, True),
        ({"suffix": ""}, True),
        ({"suffix": None}, True),
        ({"best_of": 1}, True),
        ({"best_of": 3, "n": 3}, True),
        ({"suffix": "end"}, False),
        ({"echo": True}, False),
        ({"best_of": 3}, False),
        ({"best_of": 3, "n": 2}, False),
    ],
)
def test_suffix_echo_and_best_of_are_unsupported(request_: dict[str, Any], allowed: bool) -> None:
    request = {"prompt": "x", **request_}
    if allowed:
        assert chat_request_from_completion(request)["messages"][0]["content"] == "x"
    else:
        with pytest.raises(UnsupportedParamsError):
            chat_request_from_completion(request)


def test_unsupported_parameters_are_dropped_on_request() -> None:
    chat = chat_request_from_completion(
        {"prompt": "x", "suffix": "y", "echo": True, "best_of": 4, "n": 1}, drop_unsupported=True
    )
    assert chat == {"messages": [{"role": "user", "content": "x"}], "n": 1}


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (None, "non-empty string"),
        ("", "non-empty string"),
        ([], "non-empty string"),
        ([""], "non-empty string"),
        (["a", "b"], "one prompt per request"),
        ([1, 2, 3], "token ids"),
        ([[1, 2]], "token ids"),
        ({"text": "x"}, "non-empty string"),
    ],
)
def test_prompts_gemgate_cannot_send_are_bad_requests(prompt: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        chat_request_from_completion({"prompt": prompt})


def test_chat_completion_becomes_text_completion() -> None:
    chat = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1740470510,
        "model": "gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "reasoning_content": "hm"},
                "finish_reason": "stop",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None},
                "finish_reason": "length",
            },
        ],
        "usage": USAGE,
    }
    assert completion_response_from_chat(chat) == {
        "id": "cmpl-abc",
        "object": "text_completion",
        "created": 1740470510,
        "model": "gemini-2.5-flash",
        "choices": [
            {"text": "Hi!", "index": 0, "logprobs": None, "finish_reason": "stop"},
            {"text": "", "index": 1, "logprobs": None, "finish_reason": "length"},
        ],
        "usage": USAGE,
    }


def test_chat_logprobs_become_completion_logprobs() -> None:
    logprobs = {
        "content": [
            {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}, {"token": "Yo", "logprob": -2.5}]},
            {"token": "!", "logprob": -0.3, "top_logprobs": []},
        ]
    }  # fmt: skip
    chat = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {"content": "Hi!"},
                "finish_reason": "stop",
                "logprobs": logprobs,
            }
        ],
    }
    choice = completion_response_from_chat(chat)["choices"][0]
    assert choice["logprobs"] == {
        "tokens": ["Hi", "!"],
        "token_logprobs": [-0.1, -0.3],
        "top_logprobs": [{"Hi": -0.1, "Yo": -2.5}, {}],
        "text_offset": [0, 2],
    }


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def test_content_delta_becomes_a_text_chunk() -> None:
    assert completion_chunk_from_chat_chunk(chunk({"content": "Hel"})) == {
        "id": "cmpl-s1",
        "object": "text_completion",
        "created": 7,
        "model": "gemini-2.5-flash",
        "choices": [{"text": "Hel", "index": 0, "logprobs": None, "finish_reason": None}],
    }


def test_finish_chunk_carries_the_reason_with_empty_text() -> None:
    converted = completion_chunk_from_chat_chunk(chunk({}, "stop"))
    assert converted is not None
    assert converted["choices"] == [
        {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]


@pytest.mark.parametrize(
    "delta",
    [
        {"role": "assistant"},
        {"role": "assistant", "content": ""},
        {"reasoning_content": "thinking"},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
    ],
)
def test_chunks_without_text_have_no_equivalent(delta: dict[str, Any]) -> None:
    assert completion_chunk_from_chat_chunk(chunk(delta)) is None


def test_usage_chunk_keeps_its_usage_and_no_choices() -> None:
    usage_chunk = {**chunk({}), "choices": [], "usage": USAGE}
    converted = completion_chunk_from_chat_chunk(usage_chunk)
    assert converted is not None
    assert (converted["choices"], converted["usage"]) == ([], USAGE)
