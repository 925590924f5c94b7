"""Native generateContent requests: google-genai style contents and config -> the wire body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gemgate.errors import BadRequestError
from gemgate.translate.generation_config import translate_generation_config
from gemgate.translate.model_features import features_of

# GenerateContentConfig keys that live at the top of the request, not in generationConfig.
_TOP_LEVEL = {"systemInstruction": "systemInstruction", "tools": "tools", "toolConfig": "toolConfig",
              "safetySettings": "safetySettings", "cachedContent": "cachedContent", "labels": "labels"}  # fmt: skip
# Client-side options of the google-genai SDK with no meaning on the wire.
_CLIENT_ONLY = frozenset({"httpOptions", "automaticFunctionCalling", "shouldReturnHttpResponse"})
_SNAKE = re.compile(r"_([a-z0-9])")


def build_native_request(contents: Any, config: Mapping[str, Any] | None, params: Mapping[str, Any],
                         *, model: str, drop_unsupported: bool = False) -> dict[str, Any]:  # fmt: skip
    """The GenerateContentRequest for google-genai style ``contents`` and ``config``.

    ``params`` are OpenAI-style keywords (max_tokens, temperature, …) translated as for chat;
    values in ``config`` win over them.
    """
    body: dict[str, Any] = {"contents": native_contents(contents)}
    generation = translate_generation_config(params, features_of(model), drop_unsupported=drop_unsupported)  # fmt: skip
    for key, value in (config or {}).items():
        name = _camel(key)
        if value is None or name in _CLIENT_ONLY:
            continue
        if name in _TOP_LEVEL:
            body[_TOP_LEVEL[name]] = _system_instruction(value) if name == "systemInstruction" else value  # fmt: skip
        else:
            generation[name] = value
    if generation:
        body["generationConfig"] = generation
    return body


def native_contents(contents: Any) -> list[Any]:
    """Contents as Google takes them: a string, a Content dict, or a list of either."""
    if isinstance(contents, str):
        return [{"role": "user", "parts": [{"text": contents}]}]
    if isinstance(contents, Mapping):
        return [_content(contents)]
    if isinstance(contents, list | tuple) and contents:
        if all(isinstance(item, str) for item in contents):
            return [{"role": "user", "parts": [{"text": item} for item in contents]}]
        return [_content(item) for item in contents]
    raise BadRequestError("contents must be a string, a Content dict or a non-empty list of them")


def _content(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"role": "user", "parts": [{"text": item}]}
    if not isinstance(item, Mapping) or not isinstance(item.get("parts"), list):
        raise BadRequestError("each content needs a 'parts' list (and a 'role': user or model)")
    content = dict(item)
    content.setdefault("role", "user")
    return content


def _system_instruction(value: Any) -> Any:
    if isinstance(value, str):
        return {"parts": [{"text": value}]}
    return value


def _camel(key: str) -> str:
    return _SNAKE.sub(lambda match: match.group(1).upper(), key)
