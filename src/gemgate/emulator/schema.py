"""Strict request-body checking against Google's own protobuf descriptors (google-ai-generativelanguage).

Proto3 JSON rules as Google's front end applies them: camelCase or snake_case keys, unknown names
rejected, scalar types checked, oneofs exclusive, `Struct`/`Value` payloads opaque. Fields that
Google serves but the published descriptors do not carry yet are listed in EXTENSIONS.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from gemgate.emulator.google_errors import GoogleApiError, invalid_argument

_proto: Any
try:  # optional dependency: the `schema` extra
    from google.ai import generativelanguage_v1beta as _proto
except ImportError:  # pragma: no cover - exercised only without the extra
    _proto = None

Descriptor = Any  # google.protobuf.descriptor.Descriptor (untyped package)
ExtraCheck = Callable[[Any, str], None]

_DOUBLE_TYPES = {1, 2}
_INT_TYPES = {3, 4, 5, 6, 7, 13, 15, 16, 17, 18}
_TYPE_NAMES = {
    1: "TYPE_DOUBLE",
    2: "TYPE_FLOAT",
    3: "TYPE_INT64",
    4: "TYPE_UINT64",
    5: "TYPE_INT32",
    6: "TYPE_FIXED64",
    7: "TYPE_FIXED32",
    8: "TYPE_BOOL",
    9: "TYPE_STRING",
    11: "TYPE_MESSAGE",
    12: "TYPE_BYTES",
    13: "TYPE_UINT32",
    14: "TYPE_ENUM",
    15: "TYPE_SFIXED32",
    16: "TYPE_SFIXED64",
    17: "TYPE_SINT32",
    18: "TYPE_SINT64",
}
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
_OPAQUE = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def is_available() -> bool:
    """Whether Google's schema package is installed."""
    return _proto is not None


def descriptor(name: str) -> Descriptor:
    """The v1beta descriptor of message ``name`` (e.g. "GenerateContentRequest")."""
    if _proto is None:
        raise RuntimeError("strict checking needs the schema extra: pip install 'gemgate[schema]'")
    return getattr(_proto, name).pb().DESCRIPTOR


def check_message(
    message: Descriptor, value: Any, *, path: str = "", extras: Mapping[str, ExtraCheck] = {}
) -> None:
    """Raise INVALID_ARGUMENT, worded as Google words it, when ``value`` is not a valid ``message``."""
    if not isinstance(value, dict):
        raise invalid_argument(
            f"Invalid value at '{path}' (type.googleapis.com/{message.full_name}), {_show(value)}"
            if path
            else "Invalid JSON payload received. Expected an object."
        )
    set_oneofs: dict[str, str] = {}
    for key, item in value.items():
        field = message.fields_by_camelcase_name.get(key) or message.fields_by_name.get(key)
        if field is None:
            extra = extras.get(f"{message.name}.{key}")
            if extra is None:
                where = f" at '{path}'" if path else ""
                raise invalid_argument(
                    f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                    "Cannot find field."
                )
            extra(item, _join(path, _snake(key)))
            continue
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_") and item is not None:
            if oneof.name in set_oneofs:
                raise invalid_argument(
                    f"Invalid JSON payload received. Oneof field '{oneof.name}' is already "
                    f"set. Cannot set '{field.name}'"
                )
            set_oneofs[oneof.name] = field.name
        _check_field(field, item, _join(path, field.name), extras)


def _check_field(field: Any, value: Any, path: str, extras: Mapping[str, ExtraCheck]) -> None:
    if value is None:
        return  # proto3 JSON: null means "default"
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise _invalid_value(field, path, value)
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            _check_single(value_field, item, f"{path}[{key}]", extras)
        return
    # protobuf 7 dropped FieldDescriptor.label; older releases lack is_repeated.
    if getattr(field, "is_repeated", False) or getattr(field, "label", 0) == 3:
        if not isinstance(value, list):
            raise _invalid_value(field, path, value)
        for index, item in enumerate(value):
            _check_single(field, item, f"{path}[{index}]", extras)
        return
    _check_single(field, value, path, extras)


def _check_single(field: Any, value: Any, path: str, extras: Mapping[str, ExtraCheck]) -> None:
    kind = field.type
    if kind == 11:
        _check_embedded(field, value, path, extras)
    elif not _scalar_is_valid(field, value):
        raise _invalid_value(field, path, value)


def _check_embedded(field: Any, value: Any, path: str, extras: Mapping[str, ExtraCheck]) -> None:
    full_name = field.message_type.full_name
    if full_name in _OPAQUE:
        if full_name == "google.protobuf.Struct" and not isinstance(value, dict):
            raise _invalid_value(field, path, value)
        return
    if full_name == "google.protobuf.Duration":
        if not (isinstance(value, str) and _DURATION.match(value)):
            raise invalid_argument(
                f"Invalid value at '{path}' (type.googleapis.com/"
                f"google.protobuf.Duration), Field '{path}', Illegal duration "
                f"format; duration must end with 's'"
            )
        return
    if full_name == "google.protobuf.Timestamp":
        if not (isinstance(value, str) and _TIMESTAMP.match(value)):
            raise invalid_argument(
                f"Invalid value at '{path}' (type.googleapis.com/google.protobuf.Timestamp), "
                f"Field '{path}', Invalid time format: {_show(value)}"
            )
        return
    if full_name == "google.protobuf.FieldMask":
        if not isinstance(value, str):
            raise _invalid_value(field, path, value)
        return
    check_message(field.message_type, value, path=path, extras=extras)


def _scalar_is_valid(field: Any, value: Any) -> bool:
    kind: int = field.type
    if isinstance(value, bool):
        return kind == 8
    if kind in _DOUBLE_TYPES:
        return isinstance(value, int | float) or (isinstance(value, str) and _is_number(value))
    if kind in _INT_TYPES:
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())
    if kind == 9:
        return isinstance(value, str)
    if kind == 12:
        return isinstance(value, str) and _is_base64(value)
    if kind == 14:
        if isinstance(value, int):
            return True
        return isinstance(value, str) and value in field.enum_type.values_by_name
    return False


def _invalid_value(field: Any, path: str, value: Any) -> GoogleApiError:
    if field.type == 14 and isinstance(value, str):
        return invalid_argument(
            f"Invalid value at '{path}' ({field.enum_type.full_name}), {_show(value)}"
        )
    type_name = _TYPE_NAMES.get(field.type, "TYPE_MESSAGE")
    if field.type == 11:
        type_name = f"type.googleapis.com/{field.message_type.full_name}"
    return invalid_argument(f"Invalid value at '{path}' ({type_name}), {_show(value)}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_base64(text: str) -> bool:
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            base64.urlsafe_b64decode(padded)
        else:
            base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)


def enum_check(*names: str) -> ExtraCheck:
    def check(value: Any, path: str) -> None:
        if value is not None and value not in names:
            raise invalid_argument(f"Invalid value at '{path}' (TYPE_ENUM), {_show(value)}")

    return check


def type_check(kind: type | tuple[type, ...], type_name: str) -> ExtraCheck:
    def check(value: Any, path: str) -> None:
        if value is not None and (
            not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool)
        ):
            raise invalid_argument(f"Invalid value at '{path}' ({type_name}), {_show(value)}")

    return check


def string_map(value: Any, path: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid_argument(f"Invalid value at '{path}' (map<string, string>), {_show(value)}")


def string_list(value: Any, path: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_argument(f"Invalid value at '{path}' (TYPE_STRING), {_show(value)}")


def repeated_messages(name: str, extras: Mapping[str, ExtraCheck]) -> ExtraCheck:
    """A check for a repeated field of message ``name``; ``extras`` is read at check time."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise invalid_argument(
                f"Invalid value at '{path}' (type.googleapis.com/google.ai.generativelanguage."
                f"v1beta.{name}), {_show(value)}"
            )
        for index, item in enumerate(value):
            check_message(descriptor(name), item, path=f"{path}[{index}]", extras=extras)

    return check


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def both_spellings(table: Mapping[str, ExtraCheck]) -> dict[str, ExtraCheck]:
    spelled: dict[str, ExtraCheck] = {}
    for key, check in table.items():
        message, field = key.split(".")
        spelled[key] = check
        spelled[f"{message}.{_snake(field)}"] = check
    return spelled


OBJECT = type_check(dict, "TYPE_MESSAGE")
BOOL = type_check(bool, "TYPE_BOOL")

# Served by Google (SDK 3.x types, API reference) but absent from the 0.12.1 descriptors.
DEVELOPER_EXTENSIONS = both_spellings(
    {
        "ThinkingConfig.thinkingLevel": enum_check(
            "THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"
        ),
        "GenerateContentRequest.labels": string_map,
        "GenerateContentRequest.serviceTier": enum_check("standard", "flex", "priority"),
        "GenerateContentRequest.store": BOOL,
        "Part.mediaResolution": OBJECT,
    }
)
VERTEX_EXTENSIONS = DEVELOPER_EXTENSIONS | both_spellings(
    {
        "SafetySetting.method": enum_check(
            "HARM_BLOCK_METHOD_UNSPECIFIED", "SEVERITY", "PROBABILITY"
        ),
        "GenerationConfig.routingConfig": OBJECT,
        "GenerationConfig.modelSelectionConfig": OBJECT,
        "GenerationConfig.audioTimestamp": BOOL,
        "Tool.retrieval": OBJECT,
        "Tool.enterpriseWebSearch": OBJECT,
    }
)


def check_request(message_name: str, body: Any, *, is_vertex: bool = False) -> None:
    """Check a request body against Google's schema for ``message_name``; no-op without the extra."""
    if _proto is None:
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. Expected an object.")
        return
    extras = VERTEX_EXTENSIONS if is_vertex else DEVELOPER_EXTENSIONS
    check_message(descriptor(message_name), body, extras=extras)
