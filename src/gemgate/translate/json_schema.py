"""JSON Schema kept as JSON Schema: `$ref` lookup, self-contained `*JsonSchema` fields, parameters.

Gemini's `parametersJsonSchema` / `responseJsonSchema` take real JSON Schema; gemgate sends them
with every `$ref` inlined and `$schema`/`$id` dropped, which every Gemini model reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from gemgate.errors import BadRequestError

# Past this many nested `$ref` expansions on one path (or this deep a nesting) the schema is cut.
MAX_REF_DEPTH = 12
MAX_NESTING = 64

_DROPPED = ("$schema", "$id", "$defs", "definitions", "$comment")
# Keywords whose values are subschemas: maps of them, lists of them, or one (or a list, for items).
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)
_SUBSCHEMA_KEYS = frozenset((*_SCHEMA_MAPS, *_SCHEMA_LISTS, *_SCHEMA_VALUES))
_OBJECT_HINTS = ("properties", "additionalProperties", "patternProperties", "required")


@dataclass(frozen=True, slots=True)
class _Walk:
    root: Mapping[str, Any]
    refs: tuple[str, ...] = ()
    depth: int = 0


def to_gemini_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Keep JSON Schema for `*JsonSchema` fields, with `$ref`s inlined and `$schema`/`$id` dropped."""
    if not isinstance(schema, Mapping):
        raise BadRequestError(f"a JSON Schema must be an object, got {type_name(schema)}")
    result = _inline(schema, _Walk(root=schema))
    return result if isinstance(result, dict) else {}


def wrap_parameters(schema: Any) -> dict[str, Any]:
    """Function parameters as an object schema: Gemini declares arguments as one OBJECT."""
    if schema is None or (isinstance(schema, Mapping) and not schema):
        return {"type": "object", "properties": {}}
    if not isinstance(schema, Mapping):
        raise BadRequestError(
            f"function parameters must be a JSON Schema object, got {type_name(schema)}"
        )
    if _is_object_schema(schema, schema, ()):
        return dict(schema)
    # Definitions stay at the root so that `#/$defs/...` references still resolve.
    definitions = {key: schema[key] for key in ("$defs", "definitions") if key in schema}
    inner = {key: value for key, value in schema.items() if key not in definitions}
    return {"type": "object", "properties": {"value": inner}, "required": ["value"], **definitions}


def lookup_ref(root: Mapping[str, Any], ref: str) -> Any:
    """The node a local `$ref` (a JSON Pointer such as `#/$defs/Address`) points at in ``root``."""
    if not ref.startswith("#"):
        raise BadRequestError(
            f"JSON Schema $ref {ref!r} points outside the schema; only local references "
            "('#/$defs/...') can be inlined"
        )
    node: Any = root
    for token in unquote(ref[1:]).split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise BadRequestError(f"JSON Schema $ref {ref!r} does not resolve within the schema")
    return node


def type_name(value: Any) -> str:
    """How a non-schema value is named in error messages."""
    return "null" if value is None else type(value).__name__


def _is_object_schema(
    schema: Mapping[str, Any], root: Mapping[str, Any], seen: tuple[str, ...]
) -> bool:
    declared = schema.get("type")
    if declared is not None:
        return declared == "object" or (isinstance(declared, list) and "object" in declared)
    if any(key in schema for key in _OBJECT_HINTS):
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        target = lookup_ref(root, ref)
        return isinstance(target, Mapping) and _is_object_schema(target, root, (*seen, ref))
    parts = schema.get("allOf")
    return isinstance(parts, list) and any(
        isinstance(part, Mapping) and _is_object_schema(part, root, seen) for part in parts
    )


def _inline(node: Any, walk: _Walk) -> Any:
    if not isinstance(node, Mapping):
        return node  # boolean schemas are valid as they are
    result = {key: value for key, value in node.items() if key not in _DROPPED}
    ref = result.pop("$ref", None)
    if not isinstance(ref, str):
        return _inline_children(result, walk)
    target = lookup_ref(walk.root, ref)
    if ref in walk.refs or len(walk.refs) >= MAX_REF_DEPTH:
        # A cycle: what the referenced schema is (its type), without following it again.
        kind = target.get("type") if isinstance(target, Mapping) else None
        return {**({"type": kind} if kind else {}), **_inline_children(result, walk)}
    resolved = _inline(target, replace(walk, refs=(*walk.refs, ref)))
    base = resolved if isinstance(resolved, dict) else {}
    return {**base, **_inline_children(result, walk)}  # sibling keywords refine the target


def _inline_children(node: dict[str, Any], walk: _Walk) -> dict[str, Any]:
    if walk.depth > MAX_NESTING:  # too deep to follow: the node without its subschemas
        return {key: value for key, value in node.items() if key not in _SUBSCHEMA_KEYS}
    walk = replace(walk, depth=walk.depth + 1)
    result = dict(node)
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), Mapping):
            result[key] = {name: _inline(value, walk) for name, value in node[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            result[key] = [_inline(value, walk) for value in node[key]]
    for key in _SCHEMA_VALUES:
        value = node.get(key)
        if isinstance(value, list):
            result[key] = [_inline(item, walk) for item in value]
        elif isinstance(value, Mapping):
            result[key] = _inline(value, walk)
    return result
