"""`cache_control` marks → the prefix to cache, the cachedContents body and the rest of the request."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from gemgate.emulator.schema import (
    DEVELOPER_EXTENSIONS,
    VERTEX_EXTENSIONS,
    check_message,
    check_request,
    descriptor,
)
from gemgate.errors import BadRequestError
from gemgate.translate.chat_request import build_generate_request
from gemgate.translate.context_cache import (
    DEFAULT_TTL_SECONDS,
    CachedPrefix,
    CacheSplit,
    cache_key,
    find_cached_prefix,
    prefix_part_count,
    split_request,
)
from gemgate.types.gemini import CachedContent

EPHEMERAL = {"type": "ephemeral"}
DOCUMENT = "Here is the full text of a complex legal agreement. " * 20
QUESTION = "What are the key terms and conditions in this agreement?"
MARKED_SYSTEM = {"role": "system", "content": [{"type": "text", "text": DOCUMENT, "cache_control": EPHEMERAL}]}  # fmt: skip
MARKED_QUESTION = {"role": "user", "content": [{"type": "text", "text": QUESTION, "cache_control": EPHEMERAL}]}  # fmt: skip
USER = {"role": "user", "content": "Hi"}
ASSISTANT = {"role": "assistant", "content": "Hello"}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}  # fmt: skip
MODEL_NAME = "models/gemini-2.5-flash"


def marked(message: dict[str, Any], **mark: Any) -> dict[str, Any]:
    return {**message, "cache_control": {"type": "ephemeral", **mark}}


def split(messages: list[dict[str, Any]], **request: Any) -> CacheSplit | None:
    """Translate ``messages`` as the SDK does, then split the body at the marked prefix."""
    body = build_generate_request({"messages": messages, **request}, model="gemini-2.5-flash")
    prefix = find_cached_prefix(messages)
    assert prefix is not None
    parts = prefix_part_count(messages[: prefix.message_count], media={})
    return split_request(body, prefix_parts=parts, model_name=MODEL_NAME, ttl_seconds=prefix.ttl_seconds)  # fmt: skip


def texts(contents: Any) -> list[list[str]]:
    return [[part["text"] for part in content["parts"]] for content in contents or []]


def test_messages_without_marks_have_no_prefix() -> None:
    assert find_cached_prefix([{"role": "system", "content": DOCUMENT}, USER]) is None


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": [{"type": "text", "text": "Hi"}, "not a part"]}, USER],
        [MappingProxyType(USER), "not a message", ASSISTANT, USER],
        [{**USER, "cache_control": None}, USER],
    ],
)
def test_messages_of_any_shape_without_marks_have_no_prefix(messages: list[Any]) -> None:
    assert find_cached_prefix(messages) is None


def test_a_mark_on_a_message_of_any_mapping_type_is_found() -> None:
    messages: list[Any] = [MappingProxyType(marked(USER)), ASSISTANT, USER]
    assert find_cached_prefix(messages) == CachedPrefix(message_count=1, ttl_seconds=DEFAULT_TTL_SECONDS)  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "count"),
    [
        ([MARKED_SYSTEM, USER], 1),
        ([marked(USER), ASSISTANT, USER], 1),
        ([USER, marked(ASSISTANT), USER], 2),
        # The first continuous block only: Gemini holds one cached prefix.
        ([marked(USER), marked(ASSISTANT), USER, marked(ASSISTANT), USER], 2),
        # Everything marked: the last turn stays out, Gemini needs one next to a cache.
        ([MARKED_SYSTEM, MARKED_QUESTION], 1),
        ([marked(USER), marked(ASSISTANT), marked(USER)], 2),
    ],
)
def test_prefix_ends_with_the_first_block_of_marks(messages: list[dict[str, Any]], count: int) -> None:  # fmt: skip
    prefix = find_cached_prefix(messages)
    assert prefix is not None and prefix.message_count == count


@pytest.mark.parametrize(
    ("mark", "seconds"),
    [
        ({}, DEFAULT_TTL_SECONDS),
        ({"ttl": "5m"}, 300),
        ({"ttl": "1h"}, 3600),
        ({"ttl": "600s"}, 600),
        ({"ttl": 90}, 90),
    ],
)
def test_ttl_comes_from_the_mark_else_five_minutes(mark: dict[str, Any], seconds: int) -> None:
    assert find_cached_prefix([marked(USER, **mark), USER]) == CachedPrefix(1, seconds)


def test_the_longest_ttl_of_the_block_wins() -> None:
    messages = [marked(USER, ttl="1h"), marked(ASSISTANT), USER]
    assert find_cached_prefix(messages) == CachedPrefix(2, 3600)


@pytest.mark.parametrize(
    ("mark", "message"),
    [
        ({"type": "persistent"}, "must be"),
        ("ephemeral", "must be"),
        ({"type": "ephemeral", "ttl": "soon"}, "positive duration"),
        ({"type": "ephemeral", "ttl": "0s"}, "positive duration"),
        ({"type": "ephemeral", "ttl": -5}, "positive duration"),
        ({"type": "ephemeral", "ttl": True}, "positive duration"),
    ],
)
def test_a_malformed_mark_is_a_clear_bad_request(mark: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        find_cached_prefix([{**USER, "cache_control": mark}, USER])


@pytest.mark.parametrize(
    ("messages", "count"),
    [
        ([MARKED_SYSTEM], 0),
        ([USER, ASSISTANT], 2),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": text} for text in ("a", "", "b")],
                }
            ],
            2,
        ),
    ],
)
def test_prefix_part_count_counts_the_parts_of_turns(messages: list[dict[str, Any]], count: int) -> None:  # fmt: skip
    assert prefix_part_count(messages, media={}) == count


def test_the_seed_example_caches_the_system_prompt_and_sends_the_question() -> None:
    result = split([MARKED_SYSTEM, MARKED_QUESTION])
    assert result is not None
    assert result.cache == {
        "model": MODEL_NAME,
        "displayName": "gemgate cache_control prefix",
        "systemInstruction": {"parts": [{"text": DOCUMENT}]},
    }
    assert result.rest == {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}


def test_system_instruction_tools_and_tool_config_move_into_the_cache() -> None:
    result = split([marked(USER), ASSISTANT, USER], tools=[TOOL], tool_choice="required", temperature=0.5)  # fmt: skip
    assert result is not None
    assert set(result.cache) == {"model", "displayName", "contents", "tools", "toolConfig"}
    assert texts(result.cache["contents"]) == [["Hi"]]
    assert texts(result.rest["contents"]) == [["Hello"], ["Hi"]]
    assert result.rest["generationConfig"] == {"temperature": 0.5}
    assert not {"systemInstruction", "tools", "toolConfig"} & set(result.rest)


def test_a_cache_can_end_inside_a_merged_turn() -> None:
    # Consecutive user messages are one Gemini turn; the marked one is cached, the next is sent.
    result = split([marked({"role": "user", "content": DOCUMENT}), {"role": "user", "content": QUESTION}])  # fmt: skip
    assert result is not None
    assert texts(result.cache.get("contents")) == [[DOCUMENT]]
    assert texts(result.rest["contents"]) == [[QUESTION]]
    assert result.rest["contents"][0]["role"] == "user"


def test_the_last_turn_stays_out_even_when_its_parts_are_all_counted() -> None:
    body = build_generate_request({"messages": [USER, ASSISTANT, USER]}, model="gemini-2.5-flash")
    result = split_request(body, prefix_parts=3, model_name=MODEL_NAME, ttl_seconds=60)
    assert result is not None
    assert texts(result.cache.get("contents")) == [["Hi"], ["Hello"]]
    assert texts(result.rest["contents"]) == [["Hi"]]


@pytest.mark.parametrize(
    "body",
    [
        {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "cachedContent": "c/mine"},
    ],
)
def test_nothing_to_cache_or_a_named_cache_means_no_split(body: Any) -> None:
    assert split_request(body, prefix_parts=1, model_name=MODEL_NAME, ttl_seconds=60) is None


def test_create_body_carries_the_ttl_and_rest_names_the_cache() -> None:
    result = split([MARKED_SYSTEM, USER])
    assert result is not None
    assert result.create_body()["ttl"] == f"{DEFAULT_TTL_SECONDS}s"
    assert "ttl" not in result.cache
    assert result.rest_with("cachedContents/abc")["cachedContent"] == "cachedContents/abc"


@pytest.mark.parametrize("is_vertex", [False, True])
def test_both_bodies_pass_googles_schema(is_vertex: bool) -> None:
    result = split([MARKED_SYSTEM, marked(USER), ASSISTANT, USER], tools=[TOOL], tool_choice="auto")
    assert result is not None
    extras = VERTEX_EXTENSIONS if is_vertex else DEVELOPER_EXTENSIONS
    check_message(descriptor("CachedContent"), dict(result.create_body()), extras=extras)
    check_request("GenerateContentRequest", dict(result.rest_with("cachedContents/1")), is_vertex=is_vertex)  # fmt: skip


CACHE: CachedContent = {"model": MODEL_NAME, "systemInstruction": {"parts": [{"text": DOCUMENT}]}}


@pytest.mark.parametrize(
    ("other", "scope"),
    [
        ({**CACHE, "model": "models/gemini-2.5-pro"}, "here"),
        ({**CACHE, "systemInstruction": {"parts": [{"text": "other"}]}}, "here"),
        (CACHE, "elsewhere"),
    ],
)
def test_cache_key_differs_by_model_content_and_scope(other: CachedContent, scope: str) -> None:
    assert cache_key(CACHE, scope="here") == cache_key(dict(CACHE), scope="here")  # type: ignore[arg-type]
    assert cache_key(other, scope=scope) != cache_key(CACHE, scope="here")
