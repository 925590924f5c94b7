"""OpenAI tools, tool_choice and response_format → Gemini tools, toolConfig and JSON output config."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gemgate.errors import BadRequestError
from gemgate.translate.schemas import to_gemini_json_schema, to_gemini_schema, wrap_parameters

# https://ai.google.dev/api/caching#FunctionDeclaration (name)
FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
# Gemini's own tools, accepted as the user wrote them in either spelling.
_NATIVE_TOOLS = {
    "googleSearch": "googleSearch",
    "google_search": "googleSearch",
    "googleSearchRetrieval": "googleSearchRetrieval",
    "google_search_retrieval": "googleSearchRetrieval",
    "urlContext": "urlContext",
    "url_context": "urlContext",
    "codeExecution": "codeExecution",
    "code_execution": "codeExecution",
    "googleMaps": "googleMaps",
    "google_maps": "googleMaps",
    "fileSearch": "fileSearch",
    "file_search": "fileSearch",
    "computerUse": "computerUse",
    "computer_use": "computerUse",
    # Vertex AI only; the Gemini API answers these with its own 400.
    "retrieval": "retrieval",
    "enterpriseWebSearch": "enterpriseWebSearch",
    "enterprise_web_search": "enterpriseWebSearch",
}
_IGNORED_TOOL_KEYS = ("cache_control",)
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def translate_tools(
    tools: Sequence[Mapping[str, Any]] | None,
    functions: Sequence[Mapping[str, Any]] | None,
    *,
    use_json_schema: bool,
) -> list[dict[str, Any]]:
    """OpenAI ``tools`` (and legacy ``functions``) → Gemini `tools`.

    Functions share one Tool; Gemini's own tools (and OpenAI's web_search) get one each.
    ``use_json_schema`` sends `parametersJsonSchema` instead of the OpenAPI-subset `parameters`.
    """
    if tools is None and functions is None:
        return []  # most calls declare no tools
    declarations: list[dict[str, Any]] = []
    natives: list[dict[str, Any]] = []
    for index, tool in enumerate(_as_list(tools, "tools")):
        where = f"tools[{index}]"
        if not isinstance(tool, Mapping):
            raise BadRequestError(f"{where} must be an object")
        if tool.get("type") == "function":
            function = tool.get("function")
            declarations.append(_declaration(function, f"{where}.function", use_json_schema))
        else:
            natives.append(_native_tool(tool, where))
    for index, function in enumerate(_as_list(functions, "functions")):
        declarations.append(_declaration(function, f"functions[{index}]", use_json_schema))
    _reject_duplicates([declaration["name"] for declaration in declarations], "function")
    _reject_duplicates([next(iter(native)) for native in natives], "tool")
    grouped = [{"functionDeclarations": declarations}] if declarations else []
    return grouped + natives


def translate_tool_choice(tool_choice: Any, function_call: Any = None) -> dict[str, Any] | None:
    """OpenAI ``tool_choice`` (or legacy ``function_call``) → Gemini `toolConfig`."""
    if tool_choice is None:
        return None if function_call is None else _legacy_choice(function_call)
    if isinstance(tool_choice, str):
        if tool_choice not in _MODES:
            raise BadRequestError(
                f"tool_choice {tool_choice!r} is not one of 'auto', 'none', 'required' or a "
                "named function"
            )
        return _calling_config(_MODES[tool_choice])
    if isinstance(tool_choice, Mapping):
        if tool_choice.get("type") == "function":
            return _named_choice(tool_choice.get("function") or tool_choice, "tool_choice")
        if tool_choice.get("type") == "allowed_tools":
            return _allowed_tools_choice(tool_choice.get("allowed_tools"))
    raise BadRequestError(
        "tool_choice must be 'auto', 'none', 'required' or "
        '{"type": "function", "function": {"name": ...}}'
    )


def translate_response_format(
    response_format: Mapping[str, Any] | None, *, use_json_schema: bool
) -> dict[str, Any]:
    """OpenAI ``response_format`` → the `generationConfig` keys that ask for JSON output."""
    if response_format is None:
        return {}
    if not isinstance(response_format, Mapping):
        raise BadRequestError('response_format must be an object such as {"type": "json_object"}')
    kind = response_format.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        schema = response_format.get("response_schema")
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping):
            raise BadRequestError("response_format json_schema needs a `json_schema` object")
        schema = spec.get("schema")
    else:
        raise BadRequestError(
            f"response_format type {kind!r} is not one of 'text', 'json_object', 'json_schema'"
        )
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    if schema is not None:
        if not isinstance(schema, Mapping):
            raise BadRequestError("the response_format schema must be a JSON Schema object")
        if use_json_schema:
            config["responseJsonSchema"] = to_gemini_json_schema(schema)
        else:
            # Gemini orders keys alphabetically unless told otherwise; OpenAI keeps schema order.
            config["responseSchema"] = to_gemini_schema(schema, order_properties=True)
    return config


def _as_list(value: Any, name: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise BadRequestError(f"`{name}` must be a list")
    return value


def _declaration(function: Any, where: str, use_json_schema: bool) -> dict[str, Any]:
    if not isinstance(function, Mapping):
        raise BadRequestError(f"{where} must be an object with a `name`")
    name = function.get("name")
    if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
        raise BadRequestError(
            f"{where}.name {name!r} is not a valid Gemini function name: it must start with a "
            "letter or an underscore, contain only letters, digits, '_', '.', ':' or '-', and "
            "be at most 64 characters long"
        )
    declaration: dict[str, Any] = {"name": name}
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequestError(f"{where}.description must be a string")
    if description:
        declaration["description"] = description
    try:
        parameters = wrap_parameters(function.get("parameters"))
        if use_json_schema:
            declaration["parametersJsonSchema"] = to_gemini_json_schema(parameters)
        else:
            declaration["parameters"] = to_gemini_schema(parameters)
    except BadRequestError as error:
        raise BadRequestError(f"{where}.parameters: {error.message}") from error
    return declaration


def _native_tool(tool: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = tool.get("type")
    if isinstance(kind, str) and kind.startswith("web_search"):
        return {"googleSearch": {}}  # OpenAI's built-in web search; Gemini grounds with Search
    keys = [key for key in tool if key not in _IGNORED_TOOL_KEYS]
    if len(keys) != 1 or keys[0] not in _NATIVE_TOOLS:
        raise BadRequestError(
            f"{where} is neither a function tool nor one of Gemini's tools "
            "(googleSearch, urlContext, codeExecution, googleMaps, fileSearch, computerUse, ...)"
        )
    config = tool[keys[0]]
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise BadRequestError(f"{where}.{keys[0]} must be an object")
    return {_NATIVE_TOOLS[keys[0]]: dict(config)}


def _reject_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadRequestError(f"tools declare the {what} {name!r} more than once")
        seen.add(name)


def _calling_config(mode: str, names: list[str] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": mode}
    if names:
        config["allowedFunctionNames"] = names
    return {"functionCallingConfig": config}


def _named_choice(function: Any, where: str) -> dict[str, Any]:
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or not name:
        raise BadRequestError(f"{where} names no function")
    # Gemini's ANY mode forces a call; allowedFunctionNames restricts it to this one.
    return _calling_config("ANY", [name])


def _legacy_choice(function_call: Any) -> dict[str, Any]:
    if function_call in ("auto", "none"):
        return _calling_config(_MODES[function_call])
    if isinstance(function_call, Mapping):
        return _named_choice(function_call, "function_call")
    raise BadRequestError("function_call must be 'auto', 'none' or {\"name\": ...}")


def _allowed_tools_choice(allowed: Any) -> dict[str, Any]:
    """OpenAI's allowed_tools: "required" → ANY; "auto" → VALIDATED (a call or text)."""
    if not isinstance(allowed, Mapping) or allowed.get("mode") not in ("auto", "required"):
        raise BadRequestError("tool_choice allowed_tools needs mode 'auto' or 'required'")
    names = []
    for tool in allowed.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        source = function if isinstance(function, Mapping) else tool
        name = source.get("name") if isinstance(source, Mapping) else None
        if not isinstance(name, str) or not name:
            raise BadRequestError("tool_choice allowed_tools lists a tool without a name")
        names.append(name)
    mode = "ANY" if allowed["mode"] == "required" else "VALIDATED"
    return _calling_config(mode, names)
