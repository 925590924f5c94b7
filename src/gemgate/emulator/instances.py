"""Deterministic JSON values that validate against a schema (Gemini's OpenAPI subset or JSON Schema)."""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 8


def instance_of(schema: Any, *, hints: dict[str, str] | None = None) -> Any:
    """A value valid against ``schema``; string properties named in ``hints`` take that value."""
    return _instance(schema, _definitions(schema), hints or {}, None, 0)


def _definitions(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    found: dict[str, Any] = {}
    for key in ("$defs", "definitions", "defs"):
        if isinstance(schema.get(key), dict):
            found.update(schema[key])
    return found


def _instance(
    schema: Any, defs: dict[str, Any], hints: dict[str, str], name: str | None, depth: int
) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    resolved = _resolve(schema, defs)
    for key in ("const", "default", "example"):
        if key in resolved:
            return resolved[key]
    if resolved.get("enum"):
        return resolved["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in resolved.get(key) or [] if _type_of(_resolve(o, defs)) != "null"]
        if options:
            return _instance(options[0], defs, hints, name, depth + 1)
    if resolved.get("allOf"):
        merged: dict[str, Any] = {}
        for option in resolved["allOf"]:
            merged.update(_resolve(option, defs))
        return _instance(merged, defs, hints, name, depth + 1)
    return _typed_instance(resolved, defs, hints, name, depth)


def _typed_instance(
    schema: dict[str, Any],
    defs: dict[str, Any],
    hints: dict[str, str],
    name: str | None,
    depth: int,
) -> Any:
    kind = _type_of(schema)
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {
            key: _instance(value, defs, hints, key, depth + 1) for key, value in properties.items()
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        items = schema.get("items") or {}
        return [_instance(items, defs, hints, name, depth + 1) for _ in range(count)]
    if kind in {"integer", "number"}:
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, hints, name)


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    value = 1.5 if low is None else float(low) + (1 if "exclusiveMinimum" in schema else 0)
    high = schema.get("maximum")
    if high is not None:
        value = min(value, float(high))
    return int(value) if integer else value


def _string(schema: dict[str, Any], hints: dict[str, str], name: str | None) -> str:
    if name is not None and name in hints:
        return hints[name]
    text = _FORMATS.get(str(schema.get("format", "")), name or "text")
    minimum = int(schema.get("minLength", 0))
    maximum = schema.get("maxLength")
    text = text.ljust(minimum, "x")
    return text[: int(maximum)] if maximum is not None else text


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    return str(kind).lower() if kind is not None else None


def _resolve(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref") or schema.get("ref"), str):
        reference = str(schema.get("$ref") or schema.get("ref"))
        schema = defs.get(reference.rsplit("/", 1)[-1], {})
        seen += 1
        if seen > _MAX_DEPTH:
            return {}
    return schema if isinstance(schema, dict) else {}
