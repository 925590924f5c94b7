"""OpenAI chat messages → Gemini `contents` and `systemInstruction`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemgate.errors import BadRequestError
from gemgate.translate.content_parts import (
    ASSISTANT_PARTS,
    TEXT_ONLY,
    USER_PARTS,
    content_text,
    content_to_parts,
)
from gemgate.translate.tool_call_ids import decode_tool_call_id
from gemgate.types.gemini import Blob, Content, FunctionCall, Part

_SYSTEM_ROLES = ("system", "developer")


@dataclass(slots=True)
class _History:
    """What earlier messages called, so that results can name their function."""

    media: Mapping[str, Blob]
    names_by_call_id: dict[str, str] = field(default_factory=dict)
    called_names: set[str] = field(default_factory=set)


def translate_messages(
    messages: Sequence[Mapping[str, Any]], *, media: Mapping[str, Blob] = {}
) -> tuple[list[Content], Content | None]:
    """Translate OpenAI ``messages`` into (contents, systemInstruction).

    ``media`` holds remote images already downloaded, by URL (translation does no I/O).
    """
    if not isinstance(messages, list | tuple) or not messages:
        raise BadRequestError("`messages` must be a non-empty list of message objects")
    history = _History(media=media)
    system: list[Part] = []
    contents: list[Content] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        # `type` first: messages are nearly always dicts, and the ABC check costs more.
        if type(message) is not dict and not isinstance(message, Mapping):
            raise BadRequestError(f"{where} must be an object with a `role`")
        role = message.get("role")
        if role in _SYSTEM_ROLES:
            system.extend(_system_parts(message, where))
            continue
        translate = _TRANSLATORS.get(role) if isinstance(role, str) else None
        if translate is None:
            raise BadRequestError(
                f"{where} has unknown role {role!r}; expected system, developer, user, "
                "assistant, tool or function"
            )
        gemini_role, parts_of = translate
        _append(contents, gemini_role, parts_of(message, where, history))
    if not contents and system:
        # A conversation of only instructions: Gemini needs at least one turn to answer.
        return [{"role": "user", "parts": system}], None
    if not contents:
        raise BadRequestError("`messages` has no content to send")
    return contents, ({"parts": system} if system else None)


def _append(contents: list[Content], role: str, parts: list[Part]) -> None:
    """Add a turn; consecutive turns of one role become one (Gemini alternates user/model)."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _system_parts(message: Mapping[str, Any], where: str) -> list[Part]:
    content = _required_content(message, where)
    return content_to_parts(content, where=where, allowed=TEXT_ONLY, media={})


def _user_parts(message: Mapping[str, Any], where: str, history: _History) -> list[Part]:
    content = _required_content(message, where)
    return content_to_parts(content, where=where, allowed=USER_PARTS, media=history.media)


def _required_content(message: Mapping[str, Any], where: str) -> Any:
    content = message.get("content")
    if content is None:
        raise BadRequestError(f"{where} ({message.get('role')}) has no `content`")
    return content


def _assistant_parts(message: Mapping[str, Any], where: str, history: _History) -> list[Part]:
    content, tool_calls = message.get("content"), message.get("tool_calls")
    function_call = message.get("function_call")
    if content is None and not tool_calls and not function_call:
        raise BadRequestError(f"{where} (assistant) has neither `content` nor `tool_calls`")
    parts: list[Part] = []
    if content is not None:
        parts = content_to_parts(content, where=where, allowed=ASSISTANT_PARTS, media={})
    if tool_calls:
        if not isinstance(tool_calls, list):
            raise BadRequestError(f"{where}.tool_calls must be a list")
        for index, call in enumerate(tool_calls):
            parts.append(_tool_call_part(call, f"{where}.tool_calls[{index}]", history))
    elif function_call:
        parts.append(_legacy_call_part(function_call, f"{where}.function_call", history))
    return parts


def _tool_call_part(call: Any, where: str, history: _History) -> Part:
    if not isinstance(call, Mapping) or call.get("type", "function") != "function":
        raise BadRequestError(f"{where} must be a function tool call object")
    part = _legacy_call_part(call.get("function"), f"{where}.function", history)
    signature: str | None = None
    encoded_id = call.get("id")
    if isinstance(encoded_id, str) and encoded_id:
        call_id, signature = decode_tool_call_id(encoded_id)
        part["functionCall"]["id"] = call_id
        history.names_by_call_id[call_id] = part["functionCall"]["name"]
    extra = call.get("provider_specific_fields")
    if isinstance(extra, Mapping) and isinstance(extra.get("thought_signature"), str):
        signature = extra["thought_signature"]
    if signature:
        # Gemini 3 refuses a replayed function call without the signature it was issued with.
        part["thoughtSignature"] = signature
    return part


def _legacy_call_part(function: Any, where: str, history: _History) -> Part:
    if not isinstance(function, Mapping):
        raise BadRequestError(f"{where} must be an object with `name` and `arguments`")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequestError(f"{where}.name must be a non-empty string")
    history.called_names.add(name)
    call: FunctionCall = {"name": name, "args": _arguments(function.get("arguments"), where)}
    return {"functionCall": call}


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str):
        raise BadRequestError(f"{where}.arguments must be a JSON string")
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as error:
        raise BadRequestError(f"{where}.arguments is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise BadRequestError(f"{where}.arguments must encode a JSON object")
    return value


def _tool_result_parts(message: Mapping[str, Any], where: str, history: _History) -> list[Part]:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise BadRequestError(f"{where} (tool) needs a `tool_call_id`")
    call_id, _ = decode_tool_call_id(tool_call_id)
    name = history.names_by_call_id.get(call_id)
    if name is None:
        raise BadRequestError(
            f"{where}: tool message with tool_call_id {call_id!r} has no matching tool call "
            "in an earlier assistant message"
        )
    response = _tool_output(_required_content(message, where), where)
    # The id Gemini issued goes back as it was, without the signature riding on it.
    return [{"functionResponse": {"id": call_id, "name": name, "response": response}}]


def _function_result_parts(message: Mapping[str, Any], where: str, history: _History) -> list[Part]:
    name = message.get("name")
    if not isinstance(name, str) or name not in history.called_names:
        raise BadRequestError(
            f"{where}: function message named {name!r} has no matching function call in an "
            "earlier assistant message"
        )
    response = _tool_output(_required_content(message, where), where)
    return [{"functionResponse": {"name": name, "response": response}}]


def _tool_output(content: Any, where: str) -> dict[str, Any]:
    """Gemini takes a JSON object as a function's response; anything else is wrapped."""
    if isinstance(content, Mapping):
        return dict(content)
    text = content_text(content, where=where)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


_PartsOf = Callable[[Mapping[str, Any], str, _History], list[Part]]
_TRANSLATORS: dict[str, tuple[str, _PartsOf]] = {
    "user": ("user", _user_parts),
    "assistant": ("model", _assistant_parts),
    # Function results travel in a user turn; parallel results end up in the same one.
    "tool": ("user", _tool_result_parts),
    "function": ("user", _function_result_parts),
}
