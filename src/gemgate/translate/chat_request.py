"""Assembles a full generateContent body from an OpenAI chat request (messages, tools, formats, params)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemgate.errors import BadRequestError, UnsupportedParamsError
from gemgate.translate.generation_config import translate_generation_config
from gemgate.translate.messages import translate_messages
from gemgate.translate.model_features import ModelFeatures, features_of
from gemgate.translate.tools import (
    translate_response_format,
    translate_tool_choice,
    translate_tools,
)
from gemgate.types.gemini import Blob, GenerateContentRequest

# Keys of the OpenAI body that the caller acts on (routing, streaming) or that mean nothing to Gemini.
_CALLER_KEYS = frozenset({"model", "stream", "stream_options", "user"})
# Keys translated here rather than into generationConfig.
_REQUEST_KEYS = frozenset(
    {
        "messages",
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "parallel_tool_calls",
        "web_search_options",
        "response_format",
        "safety_settings",
        "safetySettings",
        "cached_content",
        "cachedContent",
        "labels",
    }
)
_TOOL_KEYS = frozenset(
    {
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "parallel_tool_calls",
        "web_search_options",
    }
)
_BODY_FIELD_KEYS = frozenset(
    {"safety_settings", "safetySettings", "cached_content", "cachedContent", "labels"}
)
# A request of only these keys has no generationConfig.
_NO_CONFIG_KEYS = (_TOOL_KEYS | _BODY_FIELD_KEYS | _CALLER_KEYS) | {"messages"}
_SAFETY_KEYS = frozenset({"category", "threshold", "method"})
_JSON_MIME_TYPES = frozenset({"application/json", "text/x.enum"})
_RESPONSE_FORMAT_FIELDS = ("responseMimeType", "responseSchema", "responseJsonSchema")
_CACHE_CLASHES = (
    ("systemInstruction", "system messages"),
    ("tools", "tools"),
    ("toolConfig", "tool_choice"),
)
_NO_MEDIA: Mapping[str, Blob] = {}


def build_generate_request(
    request: Mapping[str, Any],
    *,
    model: str,
    media: Mapping[str, Blob] = _NO_MEDIA,
    drop_unsupported: bool = False,
) -> GenerateContentRequest:
    """The GenerateContentRequest for an OpenAI chat ``request`` to bare model id ``model``.

    Raises BadRequestError / UnsupportedParamsError for input Gemini would refuse.
    """
    features = features_of(model)
    contents, system_instruction = translate_messages(_messages(request), media=media)
    body: GenerateContentRequest = {"contents": contents}
    if system_instruction:
        body["systemInstruction"] = system_instruction
    # Each section runs only when the request holds one of its keys: most calls send few.
    keys = request.keys()
    tools: list[dict[str, Any]] = []
    if not keys.isdisjoint(_TOOL_KEYS):
        tools = _add_tools(body, request, features, drop_unsupported)
    if not keys.isdisjoint(_BODY_FIELD_KEYS):
        _add_request_fields(body, request)
    config = {} if keys <= _NO_CONFIG_KEYS else _generation_config(request, features, drop_unsupported)  # fmt: skip
    if tools and _asks_for_json(config) and features.version < (3, 0):
        config = _without_json_format(config, features, drop_unsupported)
    if config:
        body["generationConfig"] = config
    _check_cached_content(body)
    return body


def _messages(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("messages must be a non-empty list of chat messages.")
    return messages


def _add_tools(
    body: GenerateContentRequest,
    request: Mapping[str, Any],
    features: ModelFeatures,
    drop_unsupported: bool,
) -> list[dict[str, Any]]:
    """Add `tools` and `toolConfig` to ``body``; returns the tools."""
    _check_parallel_tool_calls(request, drop_unsupported)
    tools = _tools(request, features)
    if tools:
        body["tools"] = tools
    tool_config = translate_tool_choice(request.get("tool_choice"), request.get("function_call"))
    if tool_config:
        body["toolConfig"] = tool_config
    return tools


def _check_parallel_tool_calls(request: Mapping[str, Any], drop_unsupported: bool) -> None:
    if request.get("parallel_tool_calls") is False and not drop_unsupported:
        raise UnsupportedParamsError(
            "Gemini decides itself whether to call functions in parallel; parallel_tool_calls=False "
            "is not supported. Remove it, or pass drop_params=True to drop it."
        )


def _tools(request: Mapping[str, Any], features: ModelFeatures) -> list[dict[str, Any]]:
    tools = translate_tools(
        request.get("tools"),
        request.get("functions"),
        use_json_schema=features.supports_json_schema,
    )
    # OpenAI's web search option is Gemini's Google Search grounding tool.
    if request.get("web_search_options") is not None:
        if not any("googleSearch" in tool for tool in tools):
            tools.append({"googleSearch": {}})
    return tools


def _generation_config(
    request: Mapping[str, Any], features: ModelFeatures, drop_unsupported: bool
) -> dict[str, Any]:
    params = {
        key: value
        for key, value in request.items()
        if key not in _REQUEST_KEYS and key not in _CALLER_KEYS
    }
    config = translate_generation_config(params, features, drop_unsupported=drop_unsupported)
    response_format = request.get("response_format")
    if response_format is None:
        return config
    fragment = translate_response_format(
        response_format, use_json_schema=features.supports_json_schema
    )
    # Gemini-native keys given alongside (e.g. responseSchema) are the most specific; they win.
    return {**(fragment or {}), **config}


def _asks_for_json(config: Mapping[str, Any]) -> bool:
    return config.get("responseMimeType") in _JSON_MIME_TYPES


def _without_json_format(
    config: dict[str, Any], features: ModelFeatures, drop_unsupported: bool
) -> dict[str, Any]:
    # Before Gemini 3, Google answers 400 "Function calling with a response mime type:
    # 'application/json' is unsupported" (and the same for built-in tools).
    if not drop_unsupported:
        raise UnsupportedParamsError(
            f"{features.model} cannot combine tools with a JSON response_format (Gemini 3 models "
            "can). Remove one of them, or pass drop_params=True to drop the response_format."
        )
    return {key: value for key, value in config.items() if key not in _RESPONSE_FORMAT_FIELDS}


def _add_request_fields(body: GenerateContentRequest, request: Mapping[str, Any]) -> None:
    safety = _first_given(request, "safety_settings", "safetySettings")
    if safety is not None:
        body["safetySettings"] = _safety_settings(safety)
    cached = _first_given(request, "cached_content", "cachedContent")
    if cached is not None:
        if not isinstance(cached, str) or not cached:
            raise BadRequestError('cached_content must be a cache name like "cachedContents/abc".')
        body["cachedContent"] = cached
    labels = request.get("labels")
    if labels is not None:
        body["labels"] = _labels(labels)


def _first_given(request: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = request.get(key)
        if value is not None:
            return value
    return None


def _safety_settings(settings: Any) -> list[dict[str, Any]]:
    if not isinstance(settings, list):
        raise BadRequestError("safety_settings must be a list of {category, threshold} objects.")
    for index, setting in enumerate(settings):
        if (
            not isinstance(setting, Mapping)
            or not isinstance(setting.get("category"), str)
            or not isinstance(setting.get("threshold"), str)
            or not set(setting) <= _SAFETY_KEYS
        ):
            raise BadRequestError(
                f"safety_settings[{index}] must be an object with string category and threshold "
                f"(and optionally method); got {setting!r}."
            )
    return [dict(setting) for setting in settings]


def _labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in labels.items()
    ):
        raise BadRequestError("labels must be an object of string keys and string values.")
    return dict(labels)


def _check_cached_content(body: GenerateContentRequest) -> None:
    if "cachedContent" not in body:
        return
    clashing = [name for key, name in _CACHE_CLASHES if key in body]
    if clashing:
        # Google refuses these next to a cache: they must live in the cache itself.
        raise BadRequestError(
            f"cached_content cannot be combined with {', '.join(clashing)}: a cached request takes "
            "its system instruction, tools and tool config from the cache."
        )
