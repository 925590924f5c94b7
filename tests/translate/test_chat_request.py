"""Whole OpenAI chat requests → generateContent bodies that Google's schema (Dev and Vertex) accepts."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.emulator import schema
from gemgate.emulator.models import find_model
from gemgate.emulator.request_rules import check_generate
from gemgate.errors import BadRequestError, UnsupportedParamsError
from gemgate.translate.chat_request import build_generate_request

HELLO = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
RECIPES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"recipe_name": {"type": "string"}},
        "required": ["recipe_name"],
    },
}
SAFETY_OFF = [
    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_NONE"},
]


def build(model: str, /, **request: Any) -> dict[str, Any]:
    """Build the body and prove that Google's schema and rules accept it on both backends."""
    body = dict(build_generate_request(request, model=model))
    info = find_model(model)
    assert info is not None
    for is_vertex in (False, True):
        schema.check_request("GenerateContentRequest", body, is_vertex=is_vertex)
        check_generate(body, info, is_vertex=is_vertex)
    return body


def user_turn(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


# The seed's examples ------------------------------------------------------------------------------


def test_plain_request_has_no_generation_config() -> None:
    body = build(
        "gemini-pro",
        messages=[{"role": "user", "content": "write code for saying hi from LiteLLM"}],
    )
    assert body == {"contents": [user_turn("write code for saying hi from LiteLLM")]}


def test_reasoning_effort_low_asks_for_1024_thinking_tokens_and_thoughts() -> None:
    body = build("gemini-2.5-flash-preview-04-17", messages=HELLO, reasoning_effort="low")
    assert body == {
        "contents": [user_turn("What is the capital of France?")],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}},
    }


def test_thinking_budget_1024_is_sent_as_thinking_budget() -> None:
    body = build(
        "gemini-2.5-flash-preview-04-17",
        messages=HELLO,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert body["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}
    }


def test_tts_request_asks_for_audio_in_the_chosen_voice() -> None:
    body = build(
        "gemini-2.5-flash-preview-tts",
        messages=[{"role": "user", "content": "Say hello in a friendly voice"}],
        modalities=["audio"],
        audio={"voice": "Kore", "format": "pcm16"},
    )
    assert body["generationConfig"] == {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    }


def test_tts_with_system_message_and_sampling() -> None:
    body = build(
        "gemini-2.5-pro-preview-tts",
        messages=[
            {"role": "system", "content": "You are a helpful assistant that speaks clearly."},
            {"role": "user", "content": "Explain quantum computing in simple terms"},
        ],
        modalities=["audio"],
        audio={"voice": "Charon", "format": "pcm16"},
        temperature=0.7,
        max_tokens=150,
    )
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are a helpful assistant that speaks clearly."}]
    }
    assert body["generationConfig"] == {
        "temperature": 0.7,
        "maxOutputTokens": 150,
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Charon"}}},
    }


def test_response_schema_with_enforce_validation_asks_for_json() -> None:
    body = build(
        "gemini-1.5-pro",
        messages=[{"role": "user", "content": "List 5 popular cookie recipes."}],
        response_format={
            "type": "json_object",
            "response_schema": RECIPES_SCHEMA,
            "enforce_validation": True,
        },
    )
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["type"] == "ARRAY"
    assert "enforce_validation" not in str(body)


def test_response_schema_on_2_5_uses_json_schema() -> None:
    body = build(
        "gemini-2.5-flash",
        messages=HELLO,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": RECIPES_SCHEMA},
        },
    )
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["items"]["required"] == ["recipe_name"]


def test_json_mode_sets_the_json_mime_type() -> None:
    body = build("gemini-1.5-pro", messages=HELLO, response_format={"type": "json_object"})
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_top_k_passes_through_as_a_generation_config_key() -> None:
    body = build("gemini-1.5-pro", messages=HELLO, topK=1)
    assert body["generationConfig"] == {"topK": 1}


def test_safety_settings_become_safety_settings() -> None:
    body = build("gemini-pro", messages=HELLO, safety_settings=SAFETY_OFF)
    assert body["safetySettings"] == SAFETY_OFF


def test_function_tool_becomes_a_function_declaration() -> None:
    body = build(
        "gemini-1.5-flash",
        messages=[{"role": "user", "content": "What's the weather like in Boston today?"}],
        tools=[WEATHER_TOOL],
    )
    (tool,) = body["tools"]
    (declaration,) = tool["functionDeclarations"]
    assert declaration["name"] == "get_current_weather"
    assert declaration["parameters"]["required"] == ["location"]
    assert "toolConfig" not in body and "generationConfig" not in body


@pytest.mark.parametrize("tool", ["googleSearch", "urlContext", "codeExecution"])
def test_gemini_tools_pass_through(tool: str) -> None:
    body = build("gemini-2.0-flash", messages=HELLO, tools=[{tool: {}}])
    assert body["tools"] == [{tool: {}}]


# Request-level fields -----------------------------------------------------------------------------


def test_tool_choice_becomes_tool_config() -> None:
    body = build(
        "gemini-2.5-flash",
        messages=HELLO,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_current_weather"}},
    )
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}
    }
    assert "parametersJsonSchema" in body["tools"][0]["functionDeclarations"][0]


def test_legacy_functions_and_function_call_are_translated() -> None:
    body = build(
        "gemini-2.0-flash",
        messages=HELLO,
        functions=[WEATHER_TOOL["function"]],
        function_call="auto",
    )
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_current_weather"
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_tool_conversation_round_trips_through_the_schema() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_current_weather", "arguments": '{"location": "Boston"}'},
    }
    body = build(
        "gemini-2.5-flash",
        messages=[
            {"role": "user", "content": "Weather in Boston?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
        ],
        tools=[WEATHER_TOOL],
        temperature=0,
    )
    assert [content["role"] for content in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"temperature": 0}


def test_web_search_options_add_google_search_once() -> None:
    body = build("gemini-2.5-flash", messages=HELLO, web_search_options={})
    assert body["tools"] == [{"googleSearch": {}}]
    body = build(
        "gemini-2.5-flash", messages=HELLO, web_search_options={}, tools=[{"googleSearch": {}}]
    )
    assert body["tools"] == [{"googleSearch": {}}]


def test_cached_content_is_named_at_the_top_level() -> None:
    body = build("gemini-2.5-flash", messages=HELLO, cached_content="cachedContents/abc")
    assert body["cachedContent"] == "cachedContents/abc"


@pytest.mark.parametrize(
    ("extra", "clash"),
    [
        ({"messages": [{"role": "system", "content": "x"}, *HELLO]}, "system messages"),
        ({"tools": [WEATHER_TOOL]}, "tools"),
        ({"tool_choice": "none"}, "tool_choice"),
    ],
)
def test_cached_content_refuses_what_belongs_in_the_cache(
    extra: dict[str, Any], clash: str
) -> None:
    request = {"messages": HELLO, "cached_content": "cachedContents/abc", **extra}
    with pytest.raises(BadRequestError, match=clash):
        build_generate_request(request, model="gemini-2.5-flash")


def test_labels_pass_through() -> None:
    body = build("gemini-2.5-flash", messages=HELLO, labels={"team": "search"})
    assert body["labels"] == {"team": "search"}


def test_vertex_safety_method_passes_through() -> None:
    settings = [{**SAFETY_OFF[0], "method": "SEVERITY"}]
    request = {"messages": HELLO, "safety_settings": settings}
    body = dict(build_generate_request(request, model="gemini-2.5-flash"))
    schema.check_request("GenerateContentRequest", body, is_vertex=True)
    assert body["safetySettings"] == settings


@pytest.mark.parametrize(
    "settings",
    [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
        ["BLOCK_NONE"],
        [{"category": "HARM_CATEGORY_HARASSMENT"}],
        [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": 0}],
        [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE", "level": 1}],
    ],
)
def test_malformed_safety_settings_are_bad_requests(settings: Any) -> None:
    with pytest.raises(BadRequestError, match="safety_settings"):
        build_generate_request({"messages": HELLO, "safety_settings": settings}, model="gemini-pro")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"labels": {"team": 1}}, "labels"),
        ({"labels": ["team"]}, "labels"),
        ({"cached_content": ""}, "cached_content"),
        ({"cached_content": 5}, "cached_content"),
    ],
)
def test_malformed_request_fields_are_bad_requests(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        build_generate_request({"messages": HELLO, **extra}, model="gemini-2.5-flash")


# Combinations and errors --------------------------------------------------------------------------


def test_tools_with_json_output_are_refused_before_gemini_3() -> None:
    request = {
        "messages": HELLO,
        "tools": [WEATHER_TOOL],
        "response_format": {"type": "json_object"},
    }
    with pytest.raises(UnsupportedParamsError, match="cannot combine tools"):
        build_generate_request(request, model="gemini-2.5-flash")


def test_tools_with_json_output_drop_the_format_on_request() -> None:
    request = {
        "messages": HELLO,
        "tools": [{"googleSearch": {}}],
        "response_format": {"type": "json_schema", "json_schema": {"schema": RECIPES_SCHEMA}},
        "temperature": 1,
    }
    body = build_generate_request(request, model="gemini-2.5-flash", drop_unsupported=True)
    assert body["generationConfig"] == {"temperature": 1}


def test_gemini_3_combines_tools_with_json_output() -> None:
    body = build(
        "gemini-3-flash-preview",
        messages=HELLO,
        tools=[WEATHER_TOOL],
        response_format={"type": "json_schema", "json_schema": {"schema": RECIPES_SCHEMA}},
    )
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_current_weather"


def test_parallel_tool_calls_false_is_unsupported() -> None:
    request = {"messages": HELLO, "tools": [WEATHER_TOOL], "parallel_tool_calls": False}
    with pytest.raises(UnsupportedParamsError, match="parallel_tool_calls"):
        build_generate_request(request, model="gemini-2.5-flash")
    dropped = build_generate_request(request, model="gemini-2.5-flash", drop_unsupported=True)
    assert "tools" in dropped
    assert "tools" in build(
        "gemini-2.5-flash", messages=HELLO, tools=[WEATHER_TOOL], parallel_tool_calls=True
    )


def test_keys_the_caller_acts_on_are_not_sent() -> None:
    body = build(
        "gemini-2.5-flash",
        model="gemini/gemini-2.5-flash",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
        user="u-1",
    )
    assert body == {"contents": [user_turn("What is the capital of France?")]}


def test_unknown_parameters_are_refused_before_any_call() -> None:
    with pytest.raises(UnsupportedParamsError, match="logit_bias"):
        build_generate_request({"messages": HELLO, "logit_bias": {}}, model="gemini-2.5-flash")


def test_unknown_parameters_are_dropped_on_request() -> None:
    body = build_generate_request(
        {"messages": HELLO, "logit_bias": {"1": 1}}, model="gemini-2.5-flash", drop_unsupported=True
    )
    assert "generationConfig" not in body


@pytest.mark.parametrize("messages", [None, [], "hi"])
def test_messages_are_required(messages: Any) -> None:
    with pytest.raises(BadRequestError, match="messages"):
        build_generate_request({"messages": messages}, model="gemini-2.5-flash")


def test_every_parameter_at_once_passes_both_schemas() -> None:
    body = build(
        "gemini-2.5-flash",
        messages=[{"role": "system", "content": "Be brief."}, *HELLO],
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=300,
        n=2,
        stop=["END"],
        logprobs=True,
        top_logprobs=2,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        seed=7,
        reasoning_effort="medium",
        safety_settings=SAFETY_OFF[:1],
        labels={"env": "test"},
        top_k=20,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "frequencyPenalty": 0.1,
        "presencePenalty": 0.2,
        "seed": 7,
        "candidateCount": 2,
        "maxOutputTokens": 300,
        "stopSequences": ["END"],
        "responseLogprobs": True,
        "logprobs": 2,
        "topK": 20,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048},
    }
