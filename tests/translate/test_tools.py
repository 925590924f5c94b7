"""OpenAI tools, tool_choice and response_format → Gemini, each checked inside a full request."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.emulator.schema import check_request
from gemgate.errors import BadRequestError
from gemgate.translate.tools import (
    translate_response_format,
    translate_tool_choice,
    translate_tools,
)
from tests.translate.test_schemas import (
    CODING_AGENT_BASH_TOOL,
    MCP_EDIT_FILE_TOOL,
    assert_gemini_accepts,
)

_USER_TURN = {"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}


def _function_tool(name: str, parameters: Any = WEATHER_PARAMETERS, **extra: Any) -> dict[str, Any]:
    function = {"name": name, "description": f"{name} tool", "parameters": parameters, **extra}
    return {"type": "function", "function": function}


def _check(**body: Any) -> None:
    request = {"contents": [_USER_TURN], **body}
    for is_vertex in (False, True):
        check_request("GenerateContentRequest", request, is_vertex=is_vertex)


def checked_tools(tools: Any, functions: Any = None, *, use_json_schema: bool = False) -> Any:
    translated = translate_tools(tools, functions, use_json_schema=use_json_schema)
    _check(tools=translated)
    for tool in translated:
        for declaration in tool.get("functionDeclarations", []):
            if "parameters" in declaration:
                assert_gemini_accepts(declaration["parameters"])
    return translated


def test_no_tools_give_a_new_empty_list_each_time() -> None:
    first = translate_tools(None, None, use_json_schema=True)
    first.append({"googleSearch": {}})  # the caller may add to it (web_search_options does)
    assert first == [{"googleSearch": {}}]
    assert translate_tools(None, None, use_json_schema=True) == []


def test_function_tools_share_one_gemini_tool() -> None:
    assert checked_tools([_function_tool("get_weather"), _function_tool("get_time")]) == [
        {
            "functionDeclarations": [
                {
                    "name": name,
                    "description": f"{name} tool",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {
                            "location": {"type": "STRING", "description": "City"},
                            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
                        },
                        "required": ["location"],
                    },
                }
                for name in ("get_weather", "get_time")
            ]
        }
    ]


def test_json_schema_mode_sends_parameters_json_schema() -> None:
    [tool] = checked_tools([_function_tool("edit_file", MCP_EDIT_FILE_TOOL)], use_json_schema=True)
    [declaration] = tool["functionDeclarations"]
    assert "parameters" not in declaration
    schema = declaration["parametersJsonSchema"]
    assert schema["additionalProperties"] is False and "$schema" not in schema
    assert schema["properties"]["edits"]["items"]["properties"]["oldText"] == {"type": "string"}


@pytest.mark.parametrize("parameters", [MCP_EDIT_FILE_TOOL, CODING_AGENT_BASH_TOOL])
def test_real_world_tool_schemas_are_accepted(parameters: dict[str, Any]) -> None:
    [tool] = checked_tools([_function_tool("tool", parameters)])
    assert tool["functionDeclarations"][0]["parameters"]["type"] == "OBJECT"


@pytest.mark.parametrize("parameters", [None, {}, {"type": "object", "properties": {}}])
def test_function_without_parameters_declares_an_empty_object(parameters: Any) -> None:
    function: dict[str, Any] = {"name": "now"}
    if parameters is not None:
        function["parameters"] = parameters
    [translated] = checked_tools([{"type": "function", "function": function}])
    assert translated["functionDeclarations"] == [{"name": "now", "parameters": {"type": "OBJECT"}}]


def test_non_object_parameters_are_wrapped() -> None:
    [tool] = checked_tools([_function_tool("search", {"type": "string"})])
    assert tool["functionDeclarations"][0]["parameters"] == {
        "type": "OBJECT",
        "properties": {"value": {"type": "STRING"}},
        "required": ["value"],
    }


def test_strict_and_empty_description_are_not_sent() -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "", "strict": True}}
    [translated] = checked_tools([tool])
    assert translated["functionDeclarations"] == [{"name": "f", "parameters": {"type": "OBJECT"}}]


def test_legacy_functions_are_declared_like_tools() -> None:
    functions = [{"name": "get_weather", "parameters": WEATHER_PARAMETERS}]
    [tool] = checked_tools(None, functions)
    assert [d["name"] for d in tool["functionDeclarations"]] == ["get_weather"]


def test_tools_and_legacy_functions_are_declared_together() -> None:
    [tool] = checked_tools([_function_tool("a")], [{"name": "b"}])
    assert [d["name"] for d in tool["functionDeclarations"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ({"googleSearch": {}}, {"googleSearch": {}}),
        ({"google_search": {}}, {"googleSearch": {}}),
        ({"urlContext": {}}, {"urlContext": {}}),
        ({"url_context": {}}, {"urlContext": {}}),
        ({"codeExecution": {}}, {"codeExecution": {}}),
        ({"code_execution": None}, {"codeExecution": {}}),
        ({"googleMaps": {"enableWidget": True}}, {"googleMaps": {"enableWidget": True}}),
        (
            {"googleSearchRetrieval": {"dynamicRetrievalConfig": {"mode": "MODE_DYNAMIC"}}},
            {"googleSearchRetrieval": {"dynamicRetrievalConfig": {"mode": "MODE_DYNAMIC"}}},
        ),
        (
            {"computerUse": {"environment": "ENVIRONMENT_BROWSER"}},
            {"computerUse": {"environment": "ENVIRONMENT_BROWSER"}},
        ),
        (
            {"file_search": {"retrievalResources": [{"ragStoreName": "ragStores/s"}]}},
            {"fileSearch": {"retrievalResources": [{"ragStoreName": "ragStores/s"}]}},
        ),
        ({"googleSearch": {}, "cache_control": {"type": "ephemeral"}}, {"googleSearch": {}}),
        ({"type": "web_search"}, {"googleSearch": {}}),
        ({"type": "web_search_preview", "search_context_size": "low"}, {"googleSearch": {}}),
    ],
)
def test_gemini_tools_pass_through_in_their_own_tool(
    tool: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert checked_tools([tool]) == [expected]


def test_vertex_only_tools_pass_through() -> None:
    tool = {"retrieval": {"vertexAiSearch": {"datastore": "projects/p/locations/l/x/d"}}}
    translated = translate_tools([tool], None, use_json_schema=False)
    check_request(
        "GenerateContentRequest", {"contents": [_USER_TURN], "tools": translated}, is_vertex=True
    )
    assert translated == [tool]


def test_functions_come_first_then_gemini_tools_in_order() -> None:
    translated = checked_tools([{"urlContext": {}}, _function_tool("f"), {"googleSearch": {}}])
    assert [next(iter(tool)) for tool in translated] == [
        "functionDeclarations",
        "urlContext",
        "googleSearch",
    ]


@pytest.mark.parametrize("tools", [None, []])
def test_no_tools_translate_to_an_empty_list(tools: Any) -> None:
    assert translate_tools(tools, None, use_json_schema=False) == []


@pytest.mark.parametrize("name", ["get_weather", "_private", "ns.tool:v1-beta", "A" * 64, "x"])
def test_valid_function_names_are_accepted(name: str) -> None:
    [tool] = checked_tools([_function_tool(name)])
    assert tool["functionDeclarations"][0]["name"] == name


@pytest.mark.parametrize(
    "name", ["get weather", "1st_tool", "A" * 65, "", "tool/name", "naïve", "-dash", None, 5]
)
def test_invalid_function_names_raise_bad_request(name: Any) -> None:
    with pytest.raises(BadRequestError, match=r"tools\[0\]\.function\.name .* not a valid Gemini"):
        translate_tools([_function_tool(name)], None, use_json_schema=False)


@pytest.mark.parametrize(
    ("tools", "functions", "message"),
    [
        ("get_weather", None, "`tools` must be a list"),
        ([_function_tool("f")], {"name": "g"}, "`functions` must be a list"),
        (["get_weather"], None, r"tools\[0\] must be an object"),
        ([{"type": "function"}], None, r"tools\[0\]\.function must be an object"),
        ([{"type": "function", "function": "f"}], None, "must be an object with a `name`"),
        ([{"type": "custom", "custom": {"name": "x"}}], None, "neither a function tool"),
        ([{"googleSearch": {}, "urlContext": {}}], None, "neither a function tool"),
        ([{"bing": {}}], None, "neither a function tool"),
        ([{"googleSearch": True}], None, r"tools\[0\]\.googleSearch must be an object"),
        ([_function_tool("f"), _function_tool("f")], None, "function 'f' more than once"),
        ([_function_tool("f")], [{"name": "f"}], "function 'f' more than once"),
        ([{"googleSearch": {}}, {"type": "web_search"}], None, "tool 'googleSearch' more than"),
        (
            [{"type": "function", "function": {"name": "f", "description": 3}}],
            None,
            "description must be a string",
        ),
        (
            [_function_tool("f", {"type": "object", "properties": {"a": {"$ref": "#/x"}}})],
            None,
            r"tools\[0\]\.function\.parameters: JSON Schema \$ref '#/x' does not resolve",
        ),
        ([_function_tool("f", "string")], None, "must be a JSON Schema object"),
    ],
)
def test_bad_tool_shapes_raise_bad_request(tools: Any, functions: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        translate_tools(tools, functions, use_json_schema=False)


# --- tool_choice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_choice", "function_call", "expected"),
    [
        (None, None, None),
        ("auto", None, {"mode": "AUTO"}),
        ("none", None, {"mode": "NONE"}),
        ("required", None, {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
        (
            {"type": "function", "name": "get_weather"},
            None,
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "a"}}],
                },
            },
            None,
            {"mode": "ANY", "allowedFunctionNames": ["a"]},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "auto",
                    "tools": [{"type": "function", "name": "a"}, {"function": {"name": "b"}}],
                },
            },
            None,
            {"mode": "VALIDATED", "allowedFunctionNames": ["a", "b"]},
        ),
        (None, "auto", {"mode": "AUTO"}),
        (None, "none", {"mode": "NONE"}),
        (None, {"name": "get_weather"}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ("none", {"name": "get_weather"}, {"mode": "NONE"}),
    ],
)
def test_tool_choice_becomes_function_calling_config(
    tool_choice: Any, function_call: Any, expected: dict[str, Any] | None
) -> None:
    config = translate_tool_choice(tool_choice, function_call)
    if expected is None:
        assert config is None
        return
    assert config == {"functionCallingConfig": expected}
    _check(
        tools=translate_tools([_function_tool("get_weather")], None, use_json_schema=False),
        toolConfig=config,
    )


@pytest.mark.parametrize(
    ("tool_choice", "function_call", "message"),
    [
        ("any", None, "tool_choice 'any' is not one of"),
        ("AUTO", None, "tool_choice 'AUTO' is not one of"),
        ({"type": "function"}, None, "tool_choice names no function"),
        ({"type": "function", "function": {"name": ""}}, None, "tool_choice names no function"),
        ({"type": "web_search"}, None, "tool_choice must be"),
        (5, None, "tool_choice must be"),
        ({"type": "allowed_tools", "allowed_tools": {"mode": "x"}}, None, "mode 'auto' or"),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{}]}},
            None,
            "a tool without a name",
        ),
        (None, "required", "function_call must be"),
        (None, {"name": 3}, "function_call names no function"),
    ],
)
def test_unknown_tool_choice_raises_bad_request(
    tool_choice: Any, function_call: Any, message: str
) -> None:
    with pytest.raises(BadRequestError, match=message):
        translate_tool_choice(tool_choice, function_call)


# --- response_format -----------------------------------------------------------------------

RECIPES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"recipe_name": {"type": "string"}, "minutes": {"type": "integer"}},
        "required": ["recipe_name"],
    },
}
GEMINI_RECIPES = {
    "type": "ARRAY",
    "items": {
        "type": "OBJECT",
        "properties": {"recipe_name": {"type": "STRING"}, "minutes": {"type": "INTEGER"}},
        "required": ["recipe_name"],
        "propertyOrdering": ["recipe_name", "minutes"],
    },
}
JSON = "application/json"


@pytest.mark.parametrize(
    ("response_format", "use_json_schema", "expected"),
    [
        (None, False, {}),
        ({"type": "text"}, False, {}),
        ({"type": "json_object"}, False, {"responseMimeType": JSON}),
        (
            {"type": "json_object", "response_schema": RECIPES},
            False,
            {"responseMimeType": JSON, "responseSchema": GEMINI_RECIPES},
        ),
        (
            {"type": "json_object", "response_schema": RECIPES, "enforce_validation": True},
            False,
            {"responseMimeType": JSON, "responseSchema": GEMINI_RECIPES},
        ),
        (
            {"type": "json_object", "response_schema": RECIPES},
            True,
            {"responseMimeType": JSON, "responseJsonSchema": RECIPES},
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": RECIPES, "strict": True},
            },
            False,
            {"responseMimeType": JSON, "responseSchema": GEMINI_RECIPES},
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "r", "schema": RECIPES}},
            True,
            {"responseMimeType": JSON, "responseJsonSchema": RECIPES},
        ),
        ({"type": "json_schema", "json_schema": {"name": "r"}}, False, {"responseMimeType": JSON}),
    ],
)
def test_response_format_becomes_json_generation_config(
    response_format: Any, use_json_schema: bool, expected: dict[str, Any]
) -> None:
    config = translate_response_format(response_format, use_json_schema=use_json_schema)
    assert config == expected
    _check(generationConfig=config)
    if "responseSchema" in config:
        assert_gemini_accepts(config["responseSchema"])


def test_response_json_schema_is_self_contained() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Place"}},
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    config = translate_response_format(response_format, use_json_schema=True)
    _check(generationConfig=config)
    assert config["responseJsonSchema"] == {
        "type": "object",
        "properties": {"home": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }


@pytest.mark.parametrize(
    ("response_format", "message"),
    [
        ({"type": "xml"}, "response_format type 'xml' is not one of"),
        ({}, "response_format type None is not one of"),
        ("json", "response_format must be an object"),
        ({"type": "json_schema"}, "needs a `json_schema` object"),
        ({"type": "json_schema", "json_schema": "s"}, "needs a `json_schema` object"),
        ({"type": "json_object", "response_schema": "s"}, "must be a JSON Schema object"),
        (
            {"type": "json_object", "response_schema": {"$ref": "https://x/y.json"}},
            "points outside the schema",
        ),
    ],
)
def test_bad_response_format_raises_bad_request(response_format: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        translate_response_format(response_format, use_json_schema=False)
