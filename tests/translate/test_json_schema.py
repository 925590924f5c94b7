"""JSON Schema kept as JSON Schema (`*JsonSchema` fields) and function parameters made objects."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.emulator.schema import check_request
from gemgate.errors import BadRequestError
from gemgate.translate.json_schema import (
    MAX_NESTING,
    lookup_ref,
    to_gemini_json_schema,
    wrap_parameters,
)
from tests.translate.test_schemas import (
    CODING_AGENT_BASH_TOOL,
    MCP_EDIT_FILE_TOOL,
    Person,
    converted_parameters,
    object_schema,
)

_KEYS_DROPPED = {"$ref", "$schema", "$id", "$defs", "definitions"}


def _assert_json_schema_is_self_contained(node: Any) -> None:
    if isinstance(node, dict):
        assert not _KEYS_DROPPED & set(node), node
        for key in ("properties", "patternProperties"):
            for child in node.get(key, {}).values():
                _assert_json_schema_is_self_contained(child)
        for key in ("items", "additionalProperties", "not"):
            _assert_json_schema_is_self_contained(node.get(key))
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for child in node.get(key, []):
                _assert_json_schema_is_self_contained(child)


def converted_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    converted = to_gemini_json_schema(schema)
    declaration = {"name": "tool", "parametersJsonSchema": converted}
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": converted,
        },
    }
    for is_vertex in (False, True):
        check_request("GenerateContentRequest", body, is_vertex=is_vertex)
    _assert_json_schema_is_self_contained(converted)
    return converted


def test_json_schema_keeps_json_schema_keywords_and_inlines_refs() -> None:
    converted = converted_json_schema(MCP_EDIT_FILE_TOOL)
    assert converted["additionalProperties"] is False
    assert converted["properties"]["edits"]["items"]["required"] == ["oldText", "newText"]
    assert converted["properties"]["mode"] == {"const": "overwrite"}
    assert converted["properties"]["limit"]["exclusiveMinimum"] == 0
    assert converted["properties"]["source"]["format"] == "uri"


def test_json_schema_keeps_data_that_looks_like_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {"$id": {"type": "string"}, "definitions": {"type": "string"}},
        "default": {"$ref": "#/not-a-ref", "$schema": "data"},
        "examples": [{"$id": "x"}],
    }
    converted = to_gemini_json_schema(schema)
    assert set(converted["properties"]) == {"$id", "definitions"}
    assert converted["default"] == {"$ref": "#/not-a-ref", "$schema": "data"}
    assert converted["examples"] == [{"$id": "x"}]


def test_json_schema_cuts_recursive_refs() -> None:
    converted = converted_json_schema(Person.model_json_schema())
    assert converted["properties"]["manager"]["anyOf"] == [{"type": "object"}, {"type": "null"}]
    assert converted["properties"]["address"]["properties"]["city"]["type"] == "string"


def test_json_schema_keeps_type_lists() -> None:
    converted = converted_json_schema(CODING_AGENT_BASH_TOOL)
    assert converted["properties"]["timeout"]["type"] == ["integer", "null"]


# --- function parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (None, {"type": "object", "properties": {}}),
        ({}, {"type": "object", "properties": {}}),
        (object_schema(a={"type": "string"}), object_schema(a={"type": "string"})),
        ({"properties": {"a": {}}}, {"properties": {"a": {}}}),
        ({"type": ["object", "null"]}, {"type": ["object", "null"]}),
        (
            {"$ref": "#/$defs/In", "$defs": {"In": object_schema(a={"type": "string"})}},
            {"$ref": "#/$defs/In", "$defs": {"In": object_schema(a={"type": "string"})}},
        ),
        (
            {"type": "string", "description": "the query"},
            {
                "type": "object",
                "properties": {"value": {"type": "string", "description": "the query"}},
                "required": ["value"],
            },
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            {
                "type": "object",
                "properties": {"value": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "required": ["value"],
            },
        ),
        (
            {"type": "array", "items": {"$ref": "#/$defs/X"}, "$defs": {"X": {"type": "string"}}},
            {
                "type": "object",
                "properties": {"value": {"type": "array", "items": {"$ref": "#/$defs/X"}}},
                "required": ["value"],
                "$defs": {"X": {"type": "string"}},
            },
        ),
    ],
)
def test_parameters_are_wrapped_into_an_object_schema(
    parameters: Any, expected: dict[str, Any]
) -> None:
    wrapped = wrap_parameters(parameters)
    assert wrapped == expected
    assert converted_parameters(wrapped)["type"] == "OBJECT"


def test_wrapped_parameters_keep_their_references_resolvable() -> None:
    wrapped = wrap_parameters(
        {"type": "array", "items": {"$ref": "#/$defs/X"}, "$defs": {"X": {"type": "integer"}}}
    )
    assert converted_parameters(wrapped)["properties"]["value"]["items"] == {"type": "INTEGER"}


@pytest.mark.parametrize("parameters", ["string", ["object"], 5])
def test_parameters_that_are_not_a_schema_raise_bad_request(parameters: Any) -> None:
    with pytest.raises(BadRequestError, match="function parameters must be a JSON Schema object"):
        wrap_parameters(parameters)


def test_json_schema_cuts_a_reference_to_the_root() -> None:
    schema = {"type": "object", "properties": {"parent": {"$ref": "#"}}}
    converted = converted_json_schema(schema)
    assert converted["properties"]["parent"]["properties"]["parent"] == {"type": "object"}


def test_json_schema_nesting_deeper_than_the_limit_is_cut_without_recursion_error() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_NESTING * 3):
        schema = {"type": "array", "items": schema}
    converted = converted_json_schema(schema)
    depth = 0
    while "items" in converted:
        converted = converted["items"]
        depth += 1
    assert depth < MAX_NESTING * 3 and converted == {"type": "array"}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("#", {"$defs": {"a/b": {"type": "integer"}, "list": [True, {"type": "string"}]}}),
        ("#/$defs/a~1b", {"type": "integer"}),
        ("#/$defs/list/1", {"type": "string"}),
    ],
)
def test_lookup_ref_follows_json_pointers(ref: str, expected: Any) -> None:
    root = {"$defs": {"a/b": {"type": "integer"}, "list": [True, {"type": "string"}]}}
    assert lookup_ref(root, ref) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("#/$defs/list/5", "does not resolve"),
        ("#/$defs/list/x", "does not resolve"),
        ("#/$defs/missing", "does not resolve"),
        ("definitions.json#/a", "points outside the schema"),
    ],
)
def test_lookup_ref_rejects_references_it_cannot_follow(ref: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        lookup_ref({"$defs": {"list": [True]}}, ref)


def test_a_parameters_reference_to_itself_is_wrapped_without_looping() -> None:
    wrapped = wrap_parameters({"$ref": "#"})
    assert wrapped["properties"]["value"] == {"$ref": "#"}


def test_json_schema_of_a_non_object_raises_bad_request() -> None:
    with pytest.raises(BadRequestError, match="must be an object, got list"):
        to_gemini_json_schema([])  # type: ignore[arg-type]
