"""OpenAI messages → Gemini contents and systemInstruction, checked as whole requests."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import httpx
import orjson
import pytest

from gemgate.emulator.request_rules import check_contents
from gemgate.emulator.schema import check_request
from gemgate.errors import BadRequestError
from gemgate.translate.messages import translate_messages
from gemgate.translate.tool_call_ids import encode_tool_call_id, stable_call_id
from gemgate.types.gemini import Blob, Content
from tests.conftest import TEST_API_KEY

SIGNATURE = "c2lnbmF0dXJlLW9uZQ=="


def assert_google_accepts(contents: list[Content], system: Content | None) -> None:
    """Both APIs' schemas, and Vertex's rules on roles and parts, accept the translation."""
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = system
    for is_vertex in (False, True):
        check_request("GenerateContentRequest", body, is_vertex=is_vertex)
    check_contents(contents, is_vertex=True, message="GenerateContentRequest")


def translated(
    messages: list[dict[str, Any]], media: dict[str, Blob] | None = None
) -> tuple[list[Content], Content | None]:
    contents, system = translate_messages(messages, media=media or {})
    assert_google_accepts(contents, system)
    return contents, system


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _call(call_id: str, name: str = "get_weather", arguments: Any = '{"city": "Paris"}') -> Any:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _assistant_calls(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def _tool(call_id: str, content: Any = '{"temperature": 21}') -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def test_user_and_assistant_become_user_and_model_turns() -> None:
    contents, system = translated(
        [_user("Hi"), {"role": "assistant", "content": "Hello!"}, _user("Weather?")]
    )
    assert system is None
    assert contents == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "Weather?"}]},
    ]


def test_system_and_developer_messages_are_merged_into_the_system_instruction() -> None:
    contents, system = translated(
        [
            {"role": "system", "content": "Be brief."},
            _user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "system", "content": ""},
        ]
    )
    assert system == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert contents == [{"role": "user", "parts": [{"text": "Hi"}]}]


def test_only_system_messages_become_the_user_turn() -> None:
    contents, system = translated([{"role": "system", "content": "Say hello."}])
    assert (contents, system) == ([{"role": "user", "parts": [{"text": "Say hello."}]}], None)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [_user("a"), _user("b")],
            [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}],
        ),
        (
            [
                _user("a"),
                {"role": "assistant", "content": "b"},
                {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
            ],
            [
                {"role": "user", "parts": [{"text": "a"}]},
                {"role": "model", "parts": [{"text": "b"}, {"text": "c"}]},
            ],
        ),
        (
            [_user("a"), {"role": "assistant", "content": ""}, _user("b")],
            [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}],
        ),
    ],
)
def test_consecutive_turns_of_one_role_are_merged(
    messages: list[dict[str, Any]], expected: list[Content]
) -> None:
    assert translated(messages)[0] == expected


def test_tool_calls_become_function_calls_with_their_ids() -> None:
    contents, _ = translated(
        [
            _user("Weather in Paris and time in Rome?"),
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    _call("call_1"),
                    _call("call_2", "get_time", {"city": "Rome"}),
                    _call("call_3", "ping", ""),
                ],
            },
        ]
    )
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"text": "Let me check."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}},
            {"functionCall": {"name": "get_time", "args": {"city": "Rome"}, "id": "call_2"}},
            {"functionCall": {"name": "ping", "args": {}, "id": "call_3"}},
        ],
    }


@pytest.mark.parametrize(
    ("call", "signature"),
    [
        (_call(encode_tool_call_id("call_1", SIGNATURE)), SIGNATURE),
        (
            {**_call("call_1"), "provider_specific_fields": {"thought_signature": SIGNATURE}},
            SIGNATURE,
        ),
        (
            {
                **_call(encode_tool_call_id("call_1", "b2xk")),
                "provider_specific_fields": {"thought_signature": SIGNATURE},
            },
            SIGNATURE,
        ),
        (_call("call_1"), None),
        ({**_call("call_1"), "provider_specific_fields": {"thought_signature": None}}, None),
    ],
)
def test_thought_signature_is_restored_from_the_id_or_provider_fields(
    call: dict[str, Any], signature: str | None
) -> None:
    contents, _ = translated([_user("Weather?"), _assistant_calls(call), _tool(call["id"])])
    part = contents[1]["parts"][0]
    assert part.get("thoughtSignature") == signature
    assert part["functionCall"]["id"] == "call_1"
    assert contents[2]["parts"][0]["functionResponse"]["id"] == "call_1"


def test_parallel_tool_results_are_grouped_into_one_user_turn() -> None:
    first = encode_tool_call_id("call_1", SIGNATURE)
    contents, _ = translated(
        [
            _user("Weather in Paris and time in Rome?"),
            _assistant_calls(_call(first), _call("call_2", "get_time")),
            _tool(first),
            _tool("call_2", "12:00"),
            _user("Thanks! And tomorrow?"),
        ]
    )
    assert contents[2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": "call_1",
                    "name": "get_weather",
                    "response": {"temperature": 21},
                }
            },
            {
                "functionResponse": {
                    "id": "call_2",
                    "name": "get_time",
                    "response": {"content": "12:00"},
                }
            },
            {"text": "Thanks! And tomorrow?"},
        ],
    }
    assert len(contents) == 3


@pytest.mark.parametrize(
    ("content", "response"),
    [
        ('{"temperature": 21, "unit": "C"}', {"temperature": 21, "unit": "C"}),
        ("Sunny, 21°C", {"content": "Sunny, 21°C"}),
        ("[1, 2]", {"content": [1, 2]}),
        ("42", {"content": 42}),
        ('"quoted"', {"content": "quoted"}),
        ("null", {"content": None}),
        ("", {"content": ""}),
        ("{not json", {"content": "{not json"}),
        (
            [{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}],
            {"a": 1},
        ),
        ({"already": "an object"}, {"already": "an object"}),
    ],
)
def test_tool_output_is_a_json_object_or_wrapped_in_one(
    content: Any, response: dict[str, Any]
) -> None:
    contents, _ = translated([_user("q"), _assistant_calls(_call("c")), _tool("c", content)])
    assert contents[2]["parts"][0]["functionResponse"]["response"] == response


def test_legacy_function_call_and_function_result_are_translated_by_name() -> None:
    contents, _ = translated(
        [
            _user("Weather?"),
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            },
            {"role": "function", "name": "get_weather", "content": "cold"},
        ]
    )
    assert contents[1:] == [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"content": "cold"}}}
            ],
        },
    ]


def test_fields_gemini_has_no_use_for_are_ignored() -> None:
    contents, system = translated(
        [
            {
                "role": "system",
                "content": "S",
                "name": "boss",
                "cache_control": {"type": "ephemeral"},
            },
            {
                "role": "user",
                "name": "alice",
                "content": [{"type": "text", "text": "Q", "cache_control": {"type": "ephemeral"}}],
            },
            {
                "role": "assistant",
                "content": "A",
                "reasoning_content": "thinking...",
                "name": "bot",
            },
            _user("Q2"),
        ]
    )
    assert system == {"parts": [{"text": "S"}]}
    assert [content["parts"] for content in contents] == [
        [{"text": "Q"}],
        [{"text": "A"}],
        [{"text": "Q2"}],
    ]


def test_assistant_refusal_parts_are_kept_as_text() -> None:
    contents, _ = translated(
        [
            _user("Q"),
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            _user("Why?"),
        ]
    )
    assert contents[1]["parts"] == [{"text": "I can't."}]


def test_remote_images_come_from_pre_fetched_media() -> None:
    url = "https://example.com/cat.png"
    media: dict[str, Blob] = {url: {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    contents, _ = translated(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
        media,
    )
    assert contents[0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}
    }


def test_messages_may_be_any_mapping() -> None:
    messages = [
        {"role": "system", "content": "S"},
        _user("Q"),
        {"role": "assistant", "content": "A"},
    ]
    read_only: Any = [MappingProxyType(message) for message in messages]
    assert translate_messages(read_only) == translated(messages)


def test_input_messages_are_not_modified() -> None:
    messages = [
        {"role": "system", "content": "S"},
        _user("Q"),
        _assistant_calls(_call(encode_tool_call_id("c", SIGNATURE))),
        _tool(encode_tool_call_id("c", SIGNATURE)),
        _tool(encode_tool_call_id("c", SIGNATURE), "again"),
    ]
    snapshot = orjson.dumps(messages)
    translated(messages)
    translated(messages)
    assert orjson.dumps(messages) == snapshot


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (None, "`messages` must be a non-empty list"),
        ([], "`messages` must be a non-empty list"),
        ("hello", "`messages` must be a non-empty list"),
        ({"role": "user", "content": "hi"}, "`messages` must be a non-empty list"),
        (["hello"], r"messages\[0\] must be an object with a `role`"),
        ([{"content": "hi"}], r"messages\[0\] has unknown role None"),
        ([{"role": "human", "content": "hi"}], r"messages\[0\] has unknown role 'human'"),
        ([{"role": "user"}], r"messages\[0\] \(user\) has no `content`"),
        ([{"role": "system", "content": None}], r"messages\[0\] \(system\) has no `content`"),
        ([{"role": "user", "content": 5}], "content must be a string or a list"),
        ([{"role": "user", "content": ""}], "`messages` has no content to send"),
        (
            [_user("q"), {"role": "assistant"}],
            r"messages\[1\] \(assistant\) has neither `content` nor `tool_calls`",
        ),
        (
            [_user("q"), {"role": "assistant", "content": None, "tool_calls": {"id": "x"}}],
            r"messages\[1\]\.tool_calls must be a list",
        ),
        (
            [_user("q"), _assistant_calls({"id": "c", "type": "custom", "custom": {}})],
            r"messages\[1\]\.tool_calls\[0\] must be a function tool call",
        ),
        (
            [_user("q"), _assistant_calls({"id": "c", "type": "function"})],
            r"tool_calls\[0\]\.function must be an object",
        ),
        (
            [_user("q"), _assistant_calls(_call("c", name=""))],
            r"tool_calls\[0\]\.function\.name must be a non-empty string",
        ),
        (
            [_user("q"), _assistant_calls(_call("c", arguments='{"city": '))],
            r"tool_calls\[0\]\.function\.arguments is not valid JSON",
        ),
        (
            [_user("q"), _assistant_calls(_call("c", arguments="[1, 2]"))],
            r"arguments must encode a JSON object",
        ),
        (
            [_user("q"), _assistant_calls(_call("c", arguments=42))],
            r"arguments must be a JSON string",
        ),
        ([_user("q"), _tool("call_404")], "tool_call_id 'call_404' has no matching tool call"),
        (
            [_user("q"), _tool(encode_tool_call_id("call_404", SIGNATURE))],
            "tool_call_id 'call_404' has no matching tool call",
        ),
        (
            [_user("q"), _assistant_calls(_call("c")), {"role": "tool", "content": "x"}],
            r"messages\[2\] \(tool\) needs a `tool_call_id`",
        ),
        (
            [_user("q"), _assistant_calls(_call("c")), _tool("c", None)],
            r"messages\[2\] \(tool\) has no `content`",
        ),
        (
            [_user("q"), {"role": "function", "name": "f", "content": "x"}],
            "function message named 'f' has no matching function call",
        ),
        (
            [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "x"}}]}],
            r"messages\[0\]\.content\[0\] has content part type 'video_url'",
        ),
        (
            [
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": "data:,x"}}],
                }
            ],
            r"content part type 'image_url'; expected one of: text",
        ),
        (
            [_user("q"), _assistant_calls(_call("c")), _tool("c", [{"type": "image_url"}])],
            r"messages\[2\]\.content\[0\] has content part type 'image_url'",
        ),
    ],
)
def test_bad_messages_raise_bad_request(messages: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        translate_messages(messages)


# --- round trip through the emulator ---------------------------------------------------------

GEMINI_3 = "gemini-3-flash-preview"
WEATHER_TOOL = {
    "functionDeclarations": [
        {
            "name": "get_current_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "OBJECT",
                "properties": {"location": {"type": "STRING"}},
                "required": ["location"],
            },
        }
    ]
}


def _generate(http: httpx.Client, contents: list[Content]) -> httpx.Response:
    body = {"contents": contents, "tools": [WEATHER_TOOL]}
    return http.post(
        f"/v1beta/models/{GEMINI_3}:generateContent",
        json=body,
        headers={"x-goog-api-key": TEST_API_KEY},
    )


def _openai_history(http: httpx.Client, *, keep_signature: bool) -> list[dict[str, Any]]:
    """A user question and the model's tool call, as an OpenAI client would hold them."""
    question = "Call get_current_weather for Paris"
    first = _generate(http, [{"role": "user", "parts": [{"text": question}]}])
    assert first.status_code == 200, first.text
    part = first.json()["candidates"][0]["content"]["parts"][0]
    call = part["functionCall"]
    call_id = call.get("id") or stable_call_id(first.json().get("responseId", ""), 0, 0)
    signature = part.get("thoughtSignature") if keep_signature else None
    tool_call_id = encode_tool_call_id(call_id, signature)
    return [
        _user(question),
        _assistant_calls(_call(tool_call_id, call["name"], orjson.dumps(call["args"]).decode())),
        _tool(tool_call_id, '{"temperature": 21}'),
    ]


def test_signature_carried_in_the_tool_call_id_is_accepted_by_gemini_3(
    http: httpx.Client,
) -> None:
    contents, _ = translated(_openai_history(http, keep_signature=True))
    assert "thoughtSignature" in contents[1]["parts"][0]
    answer = _generate(http, contents)
    assert answer.status_code == 200, answer.text


def test_history_without_the_signature_is_refused_by_gemini_3(http: httpx.Client) -> None:
    contents, _ = translated(_openai_history(http, keep_signature=False))
    answer = _generate(http, contents)
    assert answer.status_code == 400
    assert "thought_signature" in answer.json()["error"]["message"]
