"""JSON Schema → Gemini Schema, proven against Google's request schema and Gemini's schema rules."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from gemgate.emulator.schema import check_request
from gemgate.errors import BadRequestError
from gemgate.translate.schemas import MAX_DEPTH, to_gemini_json_schema, to_gemini_schema

_ALLOWED_FORMATS = {
    "STRING": {"enum", "date-time"},
    "INTEGER": {"int32", "int64"},
    "NUMBER": {"float", "double"},
}


def assert_gemini_accepts(schema: dict[str, Any], path: str = "schema") -> None:
    """Rules Gemini applies to a Schema beyond its proto; each is a 400 reported by users."""
    kind = schema.get("type")
    assert kind is not None or "anyOf" in schema, f"{path}.type: must be specified"
    if "properties" in schema:
        assert kind == "OBJECT", f"{path}.properties: only allowed for OBJECT type"
        assert schema["properties"], f"{path}.properties: should be non-empty for OBJECT type"
    if "required" in schema:
        assert set(schema["required"]) <= set(schema.get("properties", {})), path
    if kind == "ARRAY":
        assert "items" in schema, f"{path}.items: missing field"
    if "enum" in schema:
        assert kind == "STRING" and all(isinstance(value, str) for value in schema["enum"]), path
    if "format" in schema:
        assert schema["format"] in _ALLOWED_FORMATS.get(kind or "", set()), path
    for name, child in schema.get("properties", {}).items():
        assert_gemini_accepts(child, f"{path}.properties[{name}]")
    if "items" in schema:
        assert_gemini_accepts(schema["items"], f"{path}.items")
    for index, child in enumerate(schema.get("anyOf", [])):
        assert_gemini_accepts(child, f"{path}.anyOf[{index}]")


def _request_with_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    declaration = {"name": "tool", "description": "a tool", "parameters": parameters}
    return {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
    }


def _request_with_response_schema(schema: dict[str, Any]) -> dict[str, Any]:
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}


def converted_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """The Gemini form of ``schema`` as function parameters, checked as a whole request."""
    converted = to_gemini_schema(schema)
    for is_vertex in (False, True):
        check_request(
            "GenerateContentRequest", _request_with_parameters(converted), is_vertex=is_vertex
        )
    assert_gemini_accepts(converted)
    return converted


def converted_response_schema(schema: dict[str, Any]) -> dict[str, Any]:
    converted = to_gemini_schema(schema, order_properties=True)
    for is_vertex in (False, True):
        body = _request_with_response_schema(converted)
        check_request("GenerateContentRequest", body, is_vertex=is_vertex)
    assert_gemini_accepts(converted)
    return converted


def object_schema(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize(
    ("json_type", "gemini_type"),
    [
        ("string", "STRING"),
        ("number", "NUMBER"),
        ("integer", "INTEGER"),
        ("boolean", "BOOLEAN"),
        ("object", "OBJECT"),
        ("array", "ARRAY"),
    ],
)
def test_json_types_become_gemini_uppercase_types(json_type: str, gemini_type: str) -> None:
    converted = converted_parameters(object_schema(field={"type": json_type}))
    assert converted["properties"]["field"]["type"] == gemini_type


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        ({"type": ["null", "integer"]}, {"type": "INTEGER", "nullable": True}),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "STRING", "nullable": True}),
        ({"oneOf": [{"type": "null"}, {"type": "number"}]}, {"type": "NUMBER", "nullable": True}),
        ({"type": "string", "nullable": True}, {"type": "STRING", "nullable": True}),
        ({"type": "null"}, {"type": "STRING", "nullable": True}),
        ({"anyOf": [{"type": "null"}]}, {"type": "STRING", "nullable": True}),
        (
            {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "title": "Age"},
            {"type": "INTEGER", "nullable": True, "default": None, "title": "Age"},
        ),
    ],
)
def test_null_alternatives_become_nullable(field: dict[str, Any], expected: dict[str, Any]) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
        ),
        (
            {"oneOf": [{"type": "string"}, {"type": "boolean"}], "description": "s or b"},
            {"description": "s or b", "anyOf": [{"type": "STRING"}, {"type": "BOOLEAN"}]},
        ),
        (
            {"type": ["string", "integer", "null"]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": True},
        ),
        (
            {"type": ["string", "array"], "items": {"type": "integer"}, "description": "d"},
            {
                "description": "d",
                "anyOf": [{"type": "STRING"}, {"type": "ARRAY", "items": {"type": "INTEGER"}}],
            },
        ),
    ],
)
def test_unions_of_several_types_become_any_of(
    field: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == expected


def test_constraint_only_branches_inherit_the_parent_type() -> None:
    field = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
    }
    converted = converted_parameters(object_schema(field=field))["properties"]["field"]
    assert [branch["required"] for branch in converted["anyOf"]] == [["a"], ["b"]]
    assert all(branch["type"] == "OBJECT" for branch in converted["anyOf"])


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"const": "fast"}, {"type": "STRING", "enum": ["fast"]}),
        ({"type": "string", "const": "fast"}, {"type": "STRING", "enum": ["fast"]}),
        ({"type": "integer", "enum": [1, 2, 3]}, {"type": "STRING", "enum": ["1", "2", "3"]}),
        ({"enum": [True, 1.5, "x"]}, {"type": "STRING", "enum": ["true", "1.5", "x"]}),
        (
            {"type": ["string", "null"], "enum": ["a", "b", None]},
            {"type": "STRING", "enum": ["a", "b"], "nullable": True},
        ),
        (
            {"type": "integer", "enum": [1, 2], "default": 1},
            {"type": "STRING", "enum": ["1", "2"], "default": "1"},
        ),
        ({"enum": ["a", "a", "b"]}, {"type": "STRING", "enum": ["a", "b"]}),
    ],
)
def test_const_and_enum_become_string_enums(
    field: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"type": "string", "format": "uri"}, {"type": "STRING"}),
        ({"type": "string", "format": "email"}, {"type": "STRING"}),
        ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
        ({"type": "string", "format": "date"}, {"type": "STRING"}),
        ({"type": "integer", "format": "int64"}, {"type": "INTEGER", "format": "int64"}),
        ({"type": "integer", "format": "uint8"}, {"type": "INTEGER"}),
        ({"type": "number", "format": "double"}, {"type": "NUMBER", "format": "double"}),
        ({"type": "number", "format": "int32"}, {"type": "NUMBER"}),
    ],
)
def test_only_formats_gemini_knows_are_kept(
    field: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"type": "integer", "exclusiveMinimum": 0}, {"type": "INTEGER", "minimum": 1}),
        ({"type": "integer", "exclusiveMaximum": 10}, {"type": "INTEGER", "maximum": 9}),
        ({"type": "number", "exclusiveMinimum": 0}, {"type": "NUMBER", "minimum": 0}),
        ({"type": "number", "exclusiveMinimum": 0.5}, {"type": "NUMBER", "minimum": 0.5}),
        (
            {"type": "integer", "minimum": 5, "exclusiveMinimum": 0},
            {"type": "INTEGER", "minimum": 5},
        ),
        # Draft 4 spells exclusivity as a boolean next to the bound.
        (
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            {"type": "NUMBER", "minimum": 0},
        ),
        ({"type": "number", "maximum": 1.5}, {"type": "NUMBER", "maximum": 1.5}),
    ],
)
def test_exclusive_bounds_become_inclusive_bounds(
    field: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
            {"type": "STRING", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3.0},
            {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1, "maxItems": 3},
        ),
        ({"type": "string", "minLength": -1, "maxLength": 2.5}, {"type": "STRING"}),
        ({"type": "string", "examples": ["a", "b"]}, {"type": "STRING", "example": "a"}),
        ({"type": "string", "example": "x"}, {"type": "STRING", "example": "x"}),
        (
            {"type": "string", "title": "T", "description": "D", "default": "d"},
            {"type": "STRING", "title": "T", "description": "D", "default": "d"},
        ),
    ],
)
def test_supported_keywords_are_kept(field: dict[str, Any], expected: dict[str, Any]) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == expected


@pytest.mark.parametrize(
    "dropped",
    [
        {"additionalProperties": False},
        {"additionalProperties": {"type": "string"}},
        {"patternProperties": {"^x": {"type": "string"}}},
        {"$schema": "http://json-schema.org/draft-07/schema#"},
        {"$id": "https://example.com/tool.json"},
        {"$comment": "internal"},
        {"unevaluatedProperties": False},
        {"dependentRequired": {"a": ["b"]}},
        {"not": {"required": ["b"]}},
        {"if": {"required": ["a"]}, "then": {"required": ["b"]}},
        {"readOnly": True, "deprecated": True},
    ],
)
def test_unsupported_keywords_are_dropped(dropped: dict[str, Any]) -> None:
    schema = {**object_schema(a={"type": "string"}), **dropped}
    assert converted_parameters(schema) == {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}},
    }


def test_required_keeps_only_declared_properties() -> None:
    schema = {**object_schema(a={"type": "string"}), "required": ["a", "ghost", "a", 3]}
    assert converted_parameters(schema)["required"] == ["a"]


@pytest.mark.parametrize(
    "field",
    [
        {"type": "object"},
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {}, "required": ["x"]},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ],
)
def test_free_form_objects_have_no_properties(field: dict[str, Any]) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == {
        "type": "OBJECT"
    }


@pytest.mark.parametrize(
    ("field", "items"),
    [
        ({"type": "array"}, {"type": "STRING"}),
        ({"type": "array", "items": True}, {"type": "STRING"}),
        ({"type": "array", "items": [{"type": "string"}]}, {"type": "STRING"}),
        (
            {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
        ),
        (
            {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
            {"anyOf": [{"type": "NUMBER"}, {"type": "NUMBER"}]},
        ),
        ({"type": "array", "items": []}, {"type": "STRING"}),
    ],
)
def test_arrays_always_have_items(field: dict[str, Any], items: dict[str, Any]) -> None:
    assert converted_parameters(object_schema(field=field))["properties"]["field"]["items"] == items


@pytest.mark.parametrize(
    ("field", "expected_type"),
    [
        ({"properties": {"a": {"type": "string"}}}, "OBJECT"),
        ({"items": {"type": "string"}}, "ARRAY"),
        ({"minimum": 1}, "NUMBER"),
        ({"pattern": "^a"}, "STRING"),
        ({"description": "anything"}, "STRING"),
        ({}, "STRING"),
        (True, "STRING"),
        ({"type": "String"}, "STRING"),
        ({"type": "date"}, "STRING"),
    ],
)
def test_untyped_nodes_get_the_type_their_keywords_imply(
    field: dict[str, Any] | bool, expected_type: str
) -> None:
    assert (
        converted_parameters(object_schema(field=field))["properties"]["field"]["type"]
        == expected_type
    )


def test_all_of_parts_are_merged() -> None:
    field = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ],
        "description": "both",
    }
    assert converted_parameters(object_schema(field=field))["properties"]["field"] == {
        "type": "OBJECT",
        "description": "both",
        "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}},
        "required": ["a", "b"],
    }


@pytest.mark.parametrize("defs_key", ["$defs", "definitions"])
def test_refs_are_inlined(defs_key: str) -> None:
    schema = {
        **object_schema(home={"$ref": f"#/{defs_key}/Address"}),
        defs_key: {"Address": object_schema(city={"type": "string"})},
    }
    assert converted_parameters(schema)["properties"]["home"] == {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}},
    }


def test_ref_siblings_refine_the_referenced_schema() -> None:
    schema = {
        **object_schema(home={"$ref": "#/$defs/Address", "description": "where they live"}),
        "$defs": {
            "Address": {**object_schema(city={"type": "string"}), "description": "an address"}
        },
    }
    assert converted_parameters(schema)["properties"]["home"]["description"] == "where they live"


@pytest.mark.parametrize(
    ("ref", "defs"),
    [
        ("#/$defs/a~1b", {"a/b": {"type": "integer"}}),
        ("#/$defs/a~0b", {"a~b": {"type": "integer"}}),
        ("#/$defs/with%20space", {"with space": {"type": "integer"}}),
        ("#/$defs/list/1", {"list": [{"type": "string"}, {"type": "integer"}]}),
    ],
)
def test_ref_pointers_follow_json_pointer_escapes(ref: str, defs: dict[str, Any]) -> None:
    schema = {**object_schema(field={"$ref": ref}), "$defs": defs}
    assert converted_parameters(schema)["properties"]["field"] == {"type": "INTEGER"}


def test_recursive_refs_are_cut_where_they_repeat() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                **object_schema(
                    name={"type": "string"},
                    children={"type": "array", "items": {"$ref": "#/$defs/Node"}},
                ),
                "description": "a tree node",
            }
        },
    }
    converted = converted_parameters(schema)
    assert converted["properties"]["children"]["items"] == {
        "type": "OBJECT",
        "description": "a tree node",
    }


def test_a_reference_to_the_root_is_cut_like_any_cycle() -> None:
    schema = object_schema(name={"type": "string"}, parent={"$ref": "#"})
    parent = converted_parameters(schema)["properties"]["parent"]
    assert parent["properties"]["parent"] == {"type": "OBJECT"}


def test_mutually_recursive_refs_are_cut() -> None:
    schema = {
        "$ref": "#/$defs/A",
        "$defs": {
            "A": object_schema(b={"$ref": "#/$defs/B"}),
            "B": object_schema(a={"$ref": "#/$defs/A"}, leaf={"type": "string"}),
        },
    }
    converted = converted_parameters(schema)
    assert converted["properties"]["b"]["properties"]["a"] == {"type": "OBJECT"}


def test_nesting_deeper_than_the_limit_is_cut_without_recursion_error() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_DEPTH * 3):
        schema = object_schema(inner=schema)
    converted = converted_parameters(schema)
    depth = 0
    while "properties" in converted:
        converted = converted["properties"]["inner"]
        depth += 1
    assert depth < MAX_DEPTH * 3 and converted == {"type": "OBJECT"}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (object_schema(a={"$ref": "https://example.com/a.json"}), "points outside the schema"),
        (object_schema(a={"$ref": "other.json#/x"}), "points outside the schema"),
        (object_schema(a={"$ref": "#/$defs/Missing"}), "does not resolve"),
        (object_schema(a="string"), "schema.properties.a must be a JSON Schema object"),
        (object_schema(a={"type": "array", "items": [5]}), "schema.properties.a.items.0"),
    ],
)
def test_unusable_schemas_raise_bad_request(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestError, match=message.replace(".", r"\.")):
        to_gemini_schema(schema)


def test_a_schema_that_is_not_an_object_raises_bad_request() -> None:
    with pytest.raises(BadRequestError, match="must be an object"):
        to_gemini_schema(["string"])  # type: ignore[arg-type]


def test_property_ordering_follows_the_schema_when_asked() -> None:
    schema = object_schema(
        zebra={"type": "string"}, apple={"type": "string"}, mango={"type": "string"}
    )
    assert converted_response_schema(schema)["propertyOrdering"] == ["zebra", "apple", "mango"]


def test_property_ordering_is_not_added_by_default() -> None:
    schema = object_schema(zebra={"type": "string"}, apple={"type": "string"})
    assert "propertyOrdering" not in converted_parameters(schema)


def test_given_property_ordering_is_kept_for_declared_properties() -> None:
    schema = {
        **object_schema(a={"type": "string"}, b={"type": "string"}),
        "propertyOrdering": ["b", "x"],
    }
    assert converted_parameters(schema)["propertyOrdering"] == ["b"]


def test_input_schema_is_not_modified() -> None:
    schema = {
        **object_schema(
            a={"$ref": "#/$defs/A"}, b={"anyOf": [{"type": "string"}, {"type": "null"}]}
        ),
        "$defs": {"A": {"allOf": [object_schema(x={"type": "string"})]}},
    }
    snapshot = repr(schema)
    to_gemini_schema(schema)
    to_gemini_json_schema(schema)
    assert repr(schema) == snapshot


def test_seed_cookie_recipe_schema_is_a_valid_response_schema() -> None:
    schema = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"recipe_name": {"type": "string"}},
            "required": ["recipe_name"],
        },
    }
    assert converted_response_schema(schema) == {
        "type": "ARRAY",
        "items": {
            "type": "OBJECT",
            "properties": {"recipe_name": {"type": "STRING"}},
            "required": ["recipe_name"],
        },
    }


# --- real-world schemas --------------------------------------------------------------------

MCP_EDIT_FILE_TOOL: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string", "description": "File to edit"},
        "source": {"type": "string", "format": "uri"},
        "edits": {"type": "array", "items": {"$ref": "#/$defs/Edit"}},
        "mode": {"const": "overwrite"},
        "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100},
        "encoding": {"anyOf": [{"type": "string", "enum": ["utf-8", "base64"]}, {"type": "null"}]},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "dryRun": {"type": "boolean", "default": False},
    },
    "required": ["path", "edits"],
    "$defs": {
        "Edit": {
            "type": "object",
            "properties": {"oldText": {"type": "string"}, "newText": {"type": "string"}},
            "required": ["oldText", "newText"],
            "additionalProperties": False,
        }
    },
}


def test_mcp_server_tool_schema_is_converted() -> None:
    assert converted_parameters(MCP_EDIT_FILE_TOOL) == {
        "type": "OBJECT",
        "properties": {
            "path": {"type": "STRING", "description": "File to edit"},
            "source": {"type": "STRING"},
            "edits": {
                "type": "ARRAY",
                "items": {
                    "type": "OBJECT",
                    "properties": {"oldText": {"type": "STRING"}, "newText": {"type": "STRING"}},
                    "required": ["oldText", "newText"],
                },
            },
            "mode": {"type": "STRING", "enum": ["overwrite"]},
            "limit": {"type": "INTEGER", "minimum": 1, "maximum": 100},
            "encoding": {"type": "STRING", "enum": ["utf-8", "base64"], "nullable": True},
            "headers": {"type": "OBJECT"},
            "dryRun": {"type": "BOOLEAN", "default": False},
        },
        "required": ["path", "edits"],
    }


class Status(Enum):
    ACTIVE = 1
    RETIRED = 2


class Address(BaseModel):
    street: str
    city: str
    postcode: str | None = None


class Pet(BaseModel):
    kind: Literal["cat", "dog"]
    name: str


class Person(BaseModel):
    """Someone on the payroll."""

    name: str = Field(description="Full name")
    age: int | None = Field(default=None, ge=0)
    status: Status = Status.ACTIVE
    address: Address
    previous_addresses: list[Address] = []
    pets: list[Pet] | None = None
    manager: Person | None = None
    tags: dict[str, str] = {}


def test_pydantic_model_schema_is_converted() -> None:
    converted = converted_response_schema(Person.model_json_schema())
    properties = converted["properties"]
    assert converted["required"] == ["name", "address"]
    assert converted["propertyOrdering"][:3] == ["name", "age", "status"]
    assert properties["name"] == {"type": "STRING", "title": "Name", "description": "Full name"}
    assert properties["age"] == {
        "type": "INTEGER",
        "title": "Age",
        "minimum": 0,
        "default": None,
        "nullable": True,
    }
    assert properties["status"]["enum"] == ["1", "2"]
    assert properties["status"]["default"] == "1"
    assert properties["address"]["properties"]["postcode"]["nullable"] is True
    assert properties["previous_addresses"]["items"]["required"] == ["street", "city"]
    assert properties["pets"]["nullable"] is True
    assert properties["pets"]["items"]["properties"]["kind"]["enum"] == ["cat", "dog"]
    # The model refers to itself: the reference is cut to a free-form object.
    assert properties["manager"] == {
        "type": "OBJECT",
        "description": "Someone on the payroll.",
        "nullable": True,
    }
    assert properties["tags"] == {"type": "OBJECT", "title": "Tags", "default": {}}


CODING_AGENT_BASH_TOOL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The command to run"},
        "timeout": {"type": ["integer", "null"], "description": "Milliseconds"},
        "cwd": {"type": ["string", "null"]},
        "env": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        "args": {"type": ["array", "null"], "items": {"type": "string"}},
        "run_in_background": {"type": "boolean"},
    },
    "required": ["command", "timeout", "cwd"],
    "additionalProperties": False,
}


def test_coding_agent_tool_with_type_lists_is_converted() -> None:
    assert converted_parameters(CODING_AGENT_BASH_TOOL) == {
        "type": "OBJECT",
        "properties": {
            "command": {"type": "STRING", "description": "The command to run"},
            "timeout": {"type": "INTEGER", "description": "Milliseconds", "nullable": True},
            "cwd": {"type": "STRING", "nullable": True},
            "env": {"type": "OBJECT", "nullable": True},
            "args": {"type": "ARRAY", "items": {"type": "STRING"}, "nullable": True},
            "run_in_background": {"type": "BOOLEAN"},
        },
        "required": ["command", "timeout", "cwd"],
    }
