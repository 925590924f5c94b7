"""Checks Google makes beyond the schema: required fields, roles, ranges and conflicting options."""

from __future__ import annotations

import re
from typing import Any

from gemgate.emulator.google_errors import invalid_argument
from gemgate.emulator.models import ModelInfo

_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_JSON_MIME_TYPES = {"application/json", "text/x.enum"}
_CACHE_CONFLICT = (
    "CachedContent can not be used with GenerateContent request setting system_instruction, "
    "tools or tool_config.\n\nProposed fix: move those values to CachedContent from "
    "GenerateContent request."
)


def check_generate(
    request: dict[str, Any],
    model: ModelInfo,
    *,
    is_vertex: bool,
    message: str = "GenerateContentRequest",
) -> None:
    """Raise INVALID_ARGUMENT as Google does for a request it cannot serve."""
    check_contents(request.get("contents"), is_vertex=is_vertex, message=message)
    if request.get("cachedContent") and any(
        request.get(key) for key in ("systemInstruction", "tools", "toolConfig")
    ):
        raise invalid_argument(_CACHE_CONFLICT)
    _check_tools(request.get("tools") or [], message)
    _check_generation_config(request.get("generationConfig") or {}, model)


def check_contents(contents: Any, *, is_vertex: bool, message: str) -> None:
    if not contents:
        raise invalid_argument(f"* {message}.contents: contents is not specified\n")
    for index, content in enumerate(contents):
        role = content.get("role")
        if role not in {"user", "model"} and (role or is_vertex):
            raise invalid_argument("Please use a valid role: user, model.")
        parts = content.get("parts") or []
        if not parts:
            raise invalid_argument(
                f"* {message}.contents[{index}].parts: contents.parts must not be empty.\n"
            )
        for position, part in enumerate(parts):
            if sum(key in part for key in _DATA_FIELDS) != 1:
                raise invalid_argument(
                    f"* {message}.contents[{index}].parts[{position}].data: required oneof field "
                    "'data' must have one initialized field\n"
                )


def _check_tools(tools: list[dict[str, Any]], message: str) -> None:
    for index, tool in enumerate(tools):
        for position, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"{message}.tools[{index}].function_declarations[{position}]"
            if not _FUNCTION_NAME.match(str(declaration.get("name", ""))):
                raise invalid_argument(
                    f"* {where}.name: Invalid function name. Must start with a letter or an "
                    "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), "
                    "colons (:), or dashes (-), with a maximum length of 64.\n"
                )
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise invalid_argument(
                    f"* {where}: parameters and parameters_json_schema are mutually exclusive.\n"
                )


def _check_generation_config(config: dict[str, Any], model: ModelInfo) -> None:
    temperature = config.get("temperature")
    if temperature is not None and not 0 <= float(temperature) <= 2:
        raise invalid_argument(
            f"Unable to submit request because it has a temperature value of {temperature:g} but "
            "the supported range is from 0 (inclusive) to 2.0000001 (exclusive). Update the value "
            "and try again."
        )
    count = config.get("candidateCount")
    if count is not None and not 1 <= int(count) <= 8:
        raise invalid_argument("* GenerationConfig.candidate_count: must be between 1 and 8.\n")
    if len(config.get("stopSequences") or []) > 5:
        raise invalid_argument(
            "* GenerationConfig.stop_sequences: at most 5 stop sequences are allowed.\n"
        )
    _check_response_format(config)
    _check_thinking(config.get("thinkingConfig") or {}, model)
    _check_modalities(config, model)


def _check_response_format(config: dict[str, Any]) -> None:
    if "responseSchema" in config and "responseJsonSchema" in config:
        raise invalid_argument(
            "response_schema and response_json_schema cannot both be set. Please set only one."
        )
    mime = config.get("responseMimeType", "text/plain")
    if (
        "responseSchema" in config or "responseJsonSchema" in config
    ) and mime not in _JSON_MIME_TYPES:
        raise invalid_argument(
            "* GenerateContentRequest.generation_config.response_mime_type: When response_schema "
            "is set, response_mime_type must be one of: application/json, text/x.enum.\n"
        )


def _check_thinking(thinking: dict[str, Any], model: ModelInfo) -> None:
    budget, level = thinking.get("thinkingBudget"), thinking.get("thinkingLevel")
    if budget is not None and level is not None:
        raise invalid_argument("You can only set only one of thinking budget and thinking level.")
    if not thinking or (budget is None and level is None and not thinking.get("includeThoughts")):
        return
    if not model.thinks:
        raise invalid_argument("Thinking is not supported by this model.")
    if level is not None and not model.uses_thinking_levels:
        raise invalid_argument("Thinking level is not supported for this model.")
    if budget is not None and int(budget) == 0 and not model.can_disable_thinking:
        raise invalid_argument("Budget 0 is invalid. This model only works in thinking mode.")


def _check_modalities(config: dict[str, Any], model: ModelInfo) -> None:
    modalities = {str(m).upper() for m in config.get("responseModalities") or []}
    if "IMAGE" in modalities and model.kind != "image":
        raise invalid_argument("Model does not support the requested response modalities: image")
    if "AUDIO" in modalities and model.kind not in {"tts", "live"}:
        raise invalid_argument("Model does not support the requested response modalities: audio")
    if model.kind == "tts" and modalities and "AUDIO" not in modalities:
        raise invalid_argument("Model does not support the requested response modalities: text")
