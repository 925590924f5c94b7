"""Which declared functions the emulated model calls for a prompt, and with which arguments."""

from __future__ import annotations

import re
from typing import Any

from gemgate.emulator.instances import instance_of

_GENERIC_WORDS = frozenset(
    {
        "get",
        "set",
        "current",
        "list",
        "data",
        "info",
        "tool",
        "function",
        "call",
        "make",
        "find",
        "fetch",
        "with",
        "from",
        "default",
        "api",
    }
)
_ASSIGNMENT = r"\b{name}\s*[=:]\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s,;]+))"
_PLACE = re.compile(r"\b(?:in|for|at|of)\s+([A-Z][\w.'-]*(?:[ ,]+[A-Z][\w.'-]*)*)")
_PLACE_NAMES = frozenset({"location", "city", "place", "country", "region", "where", "address"})


def declarations_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    """All function declarations of the request's tools."""
    return [
        declaration
        for tool in request.get("tools") or []
        for declaration in tool.get("functionDeclarations") or []
    ]


def choose_calls(
    request: dict[str, Any], prompt: str, *, after_results: bool
) -> list[dict[str, Any]]:
    """The function calls the model makes (empty: it answers in text).

    Mode ANY always calls; AUTO/VALIDATED call when the prompt names a function (or a distinctive
    word of its name) and the last turn is not already a function result; NONE never calls.
    """
    config = (request.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = str(config.get("mode", "AUTO")).upper()
    allowed = set(config.get("allowedFunctionNames") or [])
    declarations = [d for d in declarations_of(request) if not allowed or d.get("name") in allowed]
    if mode == "NONE" or not declarations:
        return []
    chosen = [d for d in declarations if _is_asked_for(d, prompt)]
    if mode == "ANY" and not chosen:
        chosen = declarations[:1]
    elif mode != "ANY" and after_results:
        return []
    return [{"name": d["name"], "args": arguments_for(d, prompt)} for d in chosen]


def arguments_for(declaration: dict[str, Any], prompt: str) -> dict[str, Any]:
    """Arguments valid for the declaration's schema, taking `name=value` and places from the prompt."""
    schema = declaration.get("parametersJsonSchema") or declaration.get("parameters")
    if not isinstance(schema, dict):
        return {}
    hints = _hints(schema, prompt)
    value = instance_of(schema, hints=hints)
    return value if isinstance(value, dict) else {}


def _is_asked_for(declaration: dict[str, Any], prompt: str) -> bool:
    name = str(declaration.get("name", ""))
    lowered = prompt.lower()
    if name and name.lower() in lowered:
        return True
    words = {w for w in re.split(r"[_\-.:\s]|(?<=[a-z])(?=[A-Z])", name) if w}
    distinctive = {w.lower() for w in words if len(w) >= 4 and w.lower() not in _GENERIC_WORDS}
    prompt_words = set(re.findall(r"[a-z0-9]+", lowered))
    return bool(distinctive & prompt_words)


def _hints(schema: dict[str, Any], prompt: str) -> dict[str, str]:
    hints: dict[str, str] = {}
    place = _PLACE.search(prompt)
    for name in schema.get("properties") or {}:
        assigned = re.search(_ASSIGNMENT.format(name=re.escape(name)), prompt)
        if assigned is not None:
            hints[name] = next(group for group in assigned.groups() if group is not None)
        elif place is not None and name.lower() in _PLACE_NAMES:
            hints[name] = place.group(1).rstrip(" ,.?")
    return hints
