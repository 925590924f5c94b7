"""JSON Schema, as OpenAI tools, MCP servers and pydantic write it, made into Gemini's `Schema`.

`Schema` is Google's OpenAPI subset used by `parameters` and `responseSchema`, checked field by field
by the API (https://ai.google.dev/api/caching#Schema). The JSON Schema fields
(`parametersJsonSchema`, `responseJsonSchema`) are prepared in `json_schema.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

import orjson

from gemgate.errors import BadRequestError
from gemgate.translate.json_schema import (
    MAX_REF_DEPTH,
    lookup_ref,
    to_gemini_json_schema,
    type_name,
    wrap_parameters,
)

__all__ = ["MAX_DEPTH", "to_gemini_json_schema", "to_gemini_schema", "wrap_parameters"]

# Nesting deeper than this is cut (a free-form node), as are cycles of `$ref`.
MAX_DEPTH = 40

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
# Gemini rejects any other `format` ("uri", "email", "uuid", ...).
_FORMATS = {
    "STRING": {"enum", "date-time"},
    "INTEGER": {"int32", "int64"},
    "NUMBER": {"float", "double"},
}
_OBJECT_HINTS = ("properties", "additionalProperties", "patternProperties", "required")
_ARRAY_HINTS = ("items", "prefixItems", "minItems", "maxItems")
_NUMBER_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_UNIONS = ("anyOf", "oneOf")
# Kept on a union node itself rather than copied into each of its branches.
_ANNOTATIONS = ("title", "description", "default", "example", "examples", "nullable")


@dataclass(frozen=True, slots=True)
class _Walk:
    """Where the walk is: the whole document (for `$ref`), refs being expanded, depth and path."""

    root: Mapping[str, Any]
    refs: tuple[str, ...] = ()
    depth: int = 0
    order_properties: bool = False
    path: str = "schema"

    def deeper(self, step: str) -> _Walk:
        return replace(self, depth=self.depth + 1, path=f"{self.path}.{step}")


def to_gemini_schema(
    schema: Mapping[str, Any], *, order_properties: bool = False
) -> dict[str, Any]:
    """Convert a JSON Schema into Gemini's `Schema` (uppercase types, supported keywords only).

    ``order_properties`` adds `propertyOrdering` so that JSON answers keep the schema's key order.
    """
    if not isinstance(schema, Mapping):
        raise BadRequestError(f"a JSON Schema must be an object, got {type_name(schema)}")
    return _convert(schema, _Walk(root=schema, order_properties=order_properties))


def _convert(node: Any, walk: _Walk) -> dict[str, Any]:
    if walk.depth > MAX_DEPTH:
        return _shallow(node if isinstance(node, Mapping) else {})
    expanded, walk, is_cut = _expand(node, walk)
    if is_cut:
        return _shallow(expanded)
    for key in _UNIONS:
        if isinstance(expanded.get(key), list):
            return _convert_union(expanded, expanded[key], walk)
    declared = expanded.get("type")
    if isinstance(declared, list):
        return _convert_type_list(expanded, declared, walk)
    return _convert_single(expanded, walk)


def _expand(node: Any, walk: _Walk) -> tuple[dict[str, Any], _Walk, bool]:
    """The node as a dict with its `$ref` inlined and `allOf` merged; True when a cycle was cut."""
    if isinstance(node, bool) or node is None:
        return {}, walk, False  # `true` accepts anything; `false` has no Gemini equivalent
    if not isinstance(node, Mapping):
        raise BadRequestError(f"{walk.path} must be a JSON Schema object, got {type_name(node)}")
    expanded = dict(node)
    ref = expanded.pop("$ref", None)
    if isinstance(ref, str):
        target = lookup_ref(walk.root, ref)
        if ref in walk.refs or len(walk.refs) >= MAX_REF_DEPTH:
            base = dict(target) if isinstance(target, Mapping) else {}
            return {**base, **expanded}, walk, True
        resolved, walk, is_cut = _expand(target, replace(walk, refs=(*walk.refs, ref)))
        expanded = {**resolved, **expanded}  # sibling keywords refine the referenced schema
        if is_cut:
            return expanded, walk, True
    parts = expanded.pop("allOf", None)
    refs = walk.refs
    for index, part in enumerate(parts if isinstance(parts, list) else []):
        resolved, part_walk, _ = _expand(part, walk.deeper(f"allOf[{index}]"))
        refs = tuple(dict.fromkeys((*refs, *part_walk.refs)))
        expanded = _merge(expanded, resolved)
    return expanded, replace(walk, refs=refs), False


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`allOf`: properties and required lists are combined; otherwise what is set first wins."""
    merged = {**extra, **base}
    properties = {**_schema_map(extra.get("properties")), **_schema_map(base.get("properties"))}
    if properties:
        merged["properties"] = properties
    required = [*_names(base.get("required")), *_names(extra.get("required"))]
    if required:
        merged["required"] = list(dict.fromkeys(required))
    return merged


def _schema_map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _names(value: Any) -> list[str]:
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


def _is_null(node: Mapping[str, Any]) -> bool:
    declared = node.get("type")
    return (
        declared == "null"
        or declared == ["null"]
        or ("const" in node and node["const"] is None)
        or node.get("enum") == [None]
    )


def _convert_union(node: dict[str, Any], options: list[Any], walk: _Walk) -> dict[str, Any]:
    rest = {key: value for key, value in node.items() if key not in _UNIONS}
    branches = [
        _expand(option, walk.deeper(f"anyOf[{index}]")) for index, option in enumerate(options)
    ]
    nullable = rest.get("nullable") is True or any(_is_null(branch) for branch, _, _ in branches)
    kept = [branch for branch in branches if not _is_null(branch[0])]
    if len(kept) == 1:
        branch, branch_walk, is_cut = kept[0]
        merged = {**branch, **rest}  # the field's own description beats the referenced model's
        result = _shallow(merged) if is_cut else _convert(merged, branch_walk)
        return _with_nullable(result, nullable)
    inherited = {key: value for key, value in rest.items() if key not in _ANNOTATIONS}
    result = _annotations(rest, "")
    if kept:
        result["anyOf"] = [
            _shallow({**inherited, **branch})
            if is_cut
            else _convert({**inherited, **branch}, branch_walk)
            for branch, branch_walk, is_cut in kept
        ]
    else:
        result["type"] = "STRING"  # only `null` was allowed: the closest Gemini can say
    return _with_nullable(result, nullable)


def _convert_type_list(node: dict[str, Any], declared: list[Any], walk: _Walk) -> dict[str, Any]:
    names = [name for name in dict.fromkeys(_names(declared)) if name != "null"]
    nullable = "null" in declared or node.get("nullable") is True
    if len(names) <= 1:
        single = {**node, "type": names[0] if names else "null"}
        return _with_nullable(_convert_single(single, walk), nullable)
    inherited = {key: value for key, value in node.items() if key not in _ANNOTATIONS}
    result = _annotations(node, "")
    result["anyOf"] = [_convert_single({**inherited, "type": name}, walk) for name in names]
    return _with_nullable(result, nullable)


def _with_nullable(schema: dict[str, Any], nullable: bool) -> dict[str, Any]:
    if nullable:
        schema["nullable"] = True
    return schema


def _convert_single(node: dict[str, Any], walk: _Walk) -> dict[str, Any]:
    kind = _kind_of(node)
    values = node["enum"] if isinstance(node.get("enum"), list) else None
    if values is None and "const" in node:
        values = [node["const"]]
    if values is not None:
        return _convert_enum(node, values)
    result = {"type": kind, **_annotations(node, kind)}
    if node.get("type") == "null":
        result["nullable"] = True
    if kind == "STRING":
        _copy_ints(node, result, ("minLength", "maxLength"))
        if isinstance(node.get("pattern"), str):
            result["pattern"] = node["pattern"]
    elif kind in ("INTEGER", "NUMBER"):
        _copy_bounds(node, result, kind)
    elif kind == "ARRAY":
        result["items"] = _convert_items(node, walk.deeper("items"))
        _copy_ints(node, result, ("minItems", "maxItems"))
    elif kind == "OBJECT":
        _convert_object(node, result, walk)
    return result


def _kind_of(node: Mapping[str, Any]) -> str:
    declared = node.get("type")
    if isinstance(declared, str) and declared.lower() in _TYPES:
        return _TYPES[declared.lower()]
    for hints, kind in (
        (_OBJECT_HINTS, "OBJECT"),
        (_ARRAY_HINTS, "ARRAY"),
        (_NUMBER_HINTS, "NUMBER"),
    ):
        if any(key in node for key in hints):
            return kind
    # Gemini needs a type on every node; a string is what an untyped value most often is.
    return "STRING"


def _convert_enum(node: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """Gemini enums are strings: every value is written as a string, `null` makes it nullable."""
    result = {"type": "STRING", **_annotations(node, "STRING")}
    strings = [_as_string(value) for value in values if value is not None]
    if strings:
        result["enum"] = list(dict.fromkeys(strings))
    if len(strings) < len(values) or node.get("type") == "null":
        result["nullable"] = True
    if "default" in result and result["default"] is not None:
        result["default"] = _as_string(result["default"])
    return result


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _annotations(node: Mapping[str, Any], kind: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in ("title", "description"):
        if isinstance(node.get(key), str):
            result[key] = node[key]
    if node.get("nullable") is True:
        result["nullable"] = True
    if "default" in node:
        result["default"] = node["default"]
    if "example" in node:
        result["example"] = node["example"]
    elif isinstance(node.get("examples"), list) and node["examples"]:
        result["example"] = node["examples"][0]
    if node.get("format") in _FORMATS.get(kind, ()):
        result["format"] = node["format"]
    return result


def _copy_ints(node: Mapping[str, Any], result: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if float(value).is_integer() and value >= 0:
            result[key] = int(value)


def _copy_bounds(node: Mapping[str, Any], result: dict[str, Any], kind: str) -> None:
    """minimum/maximum; an exclusive bound (draft 6+ number) becomes the nearest inclusive one."""
    step = 1 if kind == "INTEGER" else 0
    for key, exclusive, pick, sign in (
        ("minimum", "exclusiveMinimum", max, 1),
        ("maximum", "exclusiveMaximum", min, -1),
    ):
        bounds: list[float] = [node[key]] if _is_number(node.get(key)) else []
        limit = node.get(exclusive)
        if _is_number(limit):
            bounds.append(limit + sign * step if float(limit).is_integer() else limit)
        if bounds:
            result[key] = pick(bounds)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert_items(node: Mapping[str, Any], walk: _Walk) -> dict[str, Any]:
    items = node.get("items")
    if not isinstance(items, list) and isinstance(node.get("prefixItems"), list):
        items = node["prefixItems"]
    if isinstance(items, list):  # tuple validation: any of the positional schemas
        variants = [_convert(item, walk.deeper(str(index))) for index, item in enumerate(items)]
        if len(variants) == 1:
            return variants[0]
        return {"anyOf": variants} if variants else {"type": "STRING"}
    if items is None:
        return {"type": "STRING"}  # Gemini rejects an ARRAY without items ("items: missing field")
    return _convert(items, walk)


def _convert_object(node: Mapping[str, Any], result: dict[str, Any], walk: _Walk) -> None:
    properties = node.get("properties")
    converted = (
        {
            str(name): _convert(value, walk.deeper(f"properties.{name}"))
            for name, value in properties.items()
        }
        if isinstance(properties, Mapping)
        else {}
    )
    _copy_ints(node, result, ("minProperties", "maxProperties"))
    # Gemini rejects OBJECT with an empty `properties` map, so a free-form object has none.
    if not converted:
        return
    result["properties"] = converted
    required = [name for name in dict.fromkeys(_names(node.get("required"))) if name in converted]
    if required:
        result["required"] = required
    ordering = node.get("propertyOrdering")
    if isinstance(ordering, list):
        result["propertyOrdering"] = [name for name in _names(ordering) if name in converted]
    elif walk.order_properties and len(converted) > 1:
        result["propertyOrdering"] = list(converted)


def _shallow(node: Mapping[str, Any]) -> dict[str, Any]:
    """A cut node: its type and description only (a cycle or nesting too deep to follow)."""
    kind = _kind_of(node)
    result: dict[str, Any] = {"type": kind}
    if isinstance(node.get("description"), str):
        result["description"] = node["description"]
    if kind == "ARRAY":
        result["items"] = {"type": "STRING"}
    return result
