"""enforce_validation: check the model's JSON answer against the response schema the caller gave."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gemgate.errors import JSONSchemaValidationError


def requested_schema(response_format: Any) -> dict[str, Any] | None:
    """The JSON Schema to enforce, when ``response_format`` asks for validation."""
    if response_format is None:
        return None  # the usual call: answered before the costlier Mapping check
    if not isinstance(response_format, Mapping) or not response_format.get("enforce_validation"):
        return None
    schema = response_format.get("response_schema")
    if schema is None and isinstance(response_format.get("json_schema"), Mapping):
        schema = response_format["json_schema"].get("schema")
    return dict(schema) if isinstance(schema, Mapping) else None


def enforce_response_schema(
    chat: Mapping[str, Any], schema: Mapping[str, Any], *, model: str
) -> None:
    """Raise JSONSchemaValidationError (with the raw text) unless every choice's content validates."""
    validator = _validator_for(schema)
    for choice in chat.get("choices") or []:
        raw = (choice.get("message") or {}).get("content") or ""
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise JSONSchemaValidationError(
                f"response is not JSON: {error}", raw_response=raw, schema=schema, model=model
            ) from error
        problems = sorted(validator.iter_errors(value), key=lambda problem: list(problem.path))
        if problems:
            raise JSONSchemaValidationError(
                f"response does not match the schema: {problems[0].message}",
                raw_response=raw,
                schema=schema,
                model=model,
            )


def _validator_for(schema: Mapping[str, Any]) -> Any:
    try:  # imported on first use: validation is opt-in and jsonschema costs ~70 ms to import
        import jsonschema
    except ImportError as error:  # pragma: no cover - jsonschema is a declared dependency
        raise RuntimeError("enforce_validation needs the jsonschema package") from error
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema)
