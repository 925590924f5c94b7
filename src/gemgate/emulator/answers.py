"""Deterministic replies to a GenerateContentRequest: parts, finish reasons and usage."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemgate.emulator import media_outputs
from gemgate.emulator.faults import NO_FAULT, Fault, strip_directives
from gemgate.emulator.function_calls import choose_calls
from gemgate.emulator.instances import instance_of
from gemgate.emulator.models import ModelInfo
from gemgate.emulator.signatures import sign
from gemgate.emulator.tokens import (
    OUTPUT_IMAGE_TOKENS,
    modality_details,
    part_tokens,
    request_tokens,
    text_tokens,
)

_THINKING_LEVEL_TOKENS = {"MINIMAL": 16, "LOW": 64, "MEDIUM": 128, "HIGH": 256}
_DYNAMIC_THINKING_TOKENS = 96
_TOOL_USE_PROMPT_TOKENS = 24
_SAFETY_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)


@dataclass(frozen=True, slots=True)
class CandidateReply:
    """One candidate: its parts (camelCase Gemini parts) and why it stopped."""

    parts: list[dict[str, Any]]
    finish_reason: str
    finish_message: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # groundingMetadata, urlContextMetadata


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole reply; rendered as one response or as a stream of chunks."""

    candidates: list[CandidateReply]
    usage: dict[str, Any]
    prompt_feedback: dict[str, Any] | None = None


def compose_reply(
    request: dict[str, Any],
    model: ModelInfo,
    *,
    secret: bytes,
    cached: dict[str, Any] | None = None,
    fault: Fault = NO_FAULT,
) -> Reply:
    """The emulated model's reply to a camelCase GenerateContentRequest (already validated)."""
    prompt = request_tokens(request)
    cached_tokens = int(((cached or {}).get("usageMetadata") or {}).get("totalTokenCount", 0))
    if cached_tokens:
        prompt["TEXT"] += cached_tokens
    merged = _with_cache(request, cached)
    if fault.block_reason:
        return _blocked(fault.block_reason, prompt, cached_tokens)
    config = merged.get("generationConfig") or {}
    thoughts = thinking_tokens(model, config)
    count = int(config.get("candidateCount") or 1)
    candidates = [
        _candidate(merged, model, secret, index, thoughts, fault) for index in range(count)
    ]
    tool_use = _TOOL_USE_PROMPT_TOKENS if _has_search_tool(merged) else 0
    usage = _usage(prompt, cached_tokens, candidates, thoughts, tool_use)
    return Reply(candidates=candidates, usage=usage)


def thinking_tokens(model: ModelInfo, config: dict[str, Any]) -> int:
    """Thinking tokens spent: by level (Gemini 3), budget (2.5) or a dynamic default."""
    if not model.thinks:
        return 0
    thinking = config.get("thinkingConfig") or {}
    level = thinking.get("thinkingLevel")
    if level:
        return _THINKING_LEVEL_TOKENS.get(str(level), _DYNAMIC_THINKING_TOKENS)
    budget = thinking.get("thinkingBudget")
    if budget is None or int(budget) < 0:
        return _DYNAMIC_THINKING_TOKENS
    return min(int(budget), _DYNAMIC_THINKING_TOKENS * 2)


def answer_text(request: dict[str, Any]) -> str:
    """The text reply: an echo of the last prompt, or a summary of function results."""
    contents = request.get("contents") or []
    last = contents[-1] if contents else {}
    results = [p["functionResponse"] for p in last.get("parts") or [] if "functionResponse" in p]
    if results:
        summary = "; ".join(
            f"{r.get('name', '')} returned {orjson.dumps(r.get('response', {})).decode()}"
            for r in results
        )
        return f"Function results: {summary}"
    text = prompt_text(request)
    if text:
        return f"Echo: {text}"
    media = [str(m.get("mimeType", "")) for m in _media_parts(last)]
    return f"Received {len(media)} media part(s): {', '.join(media) or 'none'}."


def prompt_text(request: dict[str, Any]) -> str:
    """Text of the last user turn, without fault directives."""
    for content in reversed(request.get("contents") or []):
        if content.get("role", "user") != "user":
            continue
        texts = [str(p["text"]) for p in content.get("parts") or [] if "text" in p]
        if texts or not any("functionResponse" in p for p in content.get("parts") or []):
            return strip_directives(" ".join(texts))
    return ""


def _candidate(
    request: dict[str, Any],
    model: ModelInfo,
    secret: bytes,
    index: int,
    thoughts: int,
    fault: Fault,
) -> CandidateReply:
    if fault.finish_reason and fault.finish_reason != "STOP":
        message = None
        if fault.finish_reason == "MALFORMED_FUNCTION_CALL":
            message = "Malformed function call: print(default_api.unknown(x=))"
        return CandidateReply(parts=[], finish_reason=fault.finish_reason, finish_message=message)
    config = request.get("generationConfig") or {}
    parts: list[dict[str, Any]] = []
    if thoughts and (config.get("thinkingConfig") or {}).get("includeThoughts"):
        parts.append(
            {
                "text": f"**Reading the request**\n\nThe prompt asks: {prompt_text(request)[:80]}",
                "thought": True,
            }
        )
    contents = request.get("contents") or []
    after_results = bool(contents) and any(
        "functionResponse" in p for p in contents[-1].get("parts") or []
    )
    calls = choose_calls(request, prompt_text(request), after_results=after_results)
    if calls:
        parts.extend(_call_parts(calls, model, secret, index))
        return CandidateReply(parts=parts, finish_reason="STOP")
    text, finish = _limited_text(_reply_text(request, index), config, thoughts)
    if text:
        parts.append({"text": text})
    parts.extend(_media_for(model, config, text))
    return CandidateReply(parts=parts, finish_reason=finish, extras=_tool_metadata(request, text))


def _reply_text(request: dict[str, Any], index: int) -> str:
    config = request.get("generationConfig") or {}
    mime = str(config.get("responseMimeType", "text/plain"))
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if mime == "text/x.enum" and isinstance(schema, dict):
        return str((schema.get("enum") or [""])[0])
    if mime == "application/json":
        value = instance_of(schema) if isinstance(schema, dict) else {"echo": answer_text(request)}
        return orjson.dumps(value).decode()
    text = answer_text(request)
    return text if index == 0 else f"{text} (candidate {index + 1})"


def _limited_text(text: str, config: dict[str, Any], thoughts: int) -> tuple[str, str]:
    """Apply stopSequences, then maxOutputTokens (thinking spends from the same budget)."""
    for stop in config.get("stopSequences") or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    limit = config.get("maxOutputTokens")
    if limit is not None and text_tokens(text) + thoughts > int(limit):
        room = max(0, int(limit) - thoughts)
        return text[: room * 4], "MAX_TOKENS"
    return text, "STOP"


def _call_parts(
    calls: list[dict[str, Any]], model: ModelInfo, secret: bytes, index: int
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for position, call in enumerate(calls):
        if model.requires_thought_signatures:
            call = {
                "name": call["name"],
                "args": call["args"],
                "id": _call_id(index, position, call),
            }
        part: dict[str, Any] = {"functionCall": call}
        # Parallel calls: only the first part carries the signature (Google's behaviour).
        if model.requires_thought_signatures and position == 0:
            part["thoughtSignature"] = sign(secret, model, call)
        parts.append(part)
    return parts


def _call_id(index: int, position: int, call: dict[str, Any]) -> str:
    payload = orjson.dumps(
        [index, position, call["name"], call["args"]], option=orjson.OPT_SORT_KEYS
    )
    return f"call-{hashlib.sha256(payload).hexdigest()[:12]}"


def _media_for(model: ModelInfo, config: dict[str, Any], text: str) -> list[dict[str, Any]]:
    modalities = {str(m).upper() for m in config.get("responseModalities") or []}
    if model.kind == "tts" or "AUDIO" in modalities:
        return [
            {
                "inlineData": {
                    "mimeType": media_outputs.PCM_MIME,
                    "data": media_outputs.pcm_speech(text),
                }
            }
        ]
    if model.kind == "image" and (not modalities or "IMAGE" in modalities):
        return [{"inlineData": {"mimeType": "image/png", "data": media_outputs.png_image(text)}}]
    return []


def _tool_metadata(request: dict[str, Any], text: str) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    query = prompt_text(request)[:100]
    if _has_search_tool(request):
        extras["groundingMetadata"] = {
            "webSearchQueries": [query],
            "searchEntryPoint": {"renderedContent": f"<div>Search: {query}</div>"},
            "groundingChunks": [
                {"web": {"uri": "https://example.com/search-result", "title": "example.com"}}
            ],
            "groundingSupports": [
                {
                    "segment": {"startIndex": 0, "endIndex": len(text.encode()), "text": text},
                    "groundingChunkIndices": [0],
                    "confidenceScores": [0.9],
                }
            ],
        }
    if any("urlContext" in tool for tool in request.get("tools") or []):
        extras["urlContextMetadata"] = {
            "urlMetadata": [
                {
                    "retrievedUrl": "https://example.com/",
                    "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS",
                }
            ]
        }
    return extras


def _has_search_tool(request: dict[str, Any]) -> bool:
    return any(
        "googleSearch" in tool or "googleSearchRetrieval" in tool
        for tool in request.get("tools") or []
    )


def _usage(
    prompt: Counter[str],
    cached: int,
    candidates: list[CandidateReply],
    thoughts: int,
    tool_use: int,
) -> dict[str, Any]:
    output: Counter[str] = Counter()
    for candidate in candidates:
        for part in candidate.parts:
            if part.get("thought"):
                continue
            modality, count = part_tokens(part)
            if "inlineData" in part and modality == "IMAGE":
                count = OUTPUT_IMAGE_TOKENS
            output[modality] += count
    prompt_total = sum(prompt.values())
    usage: dict[str, Any] = {"promptTokenCount": prompt_total}
    if output:
        usage["candidatesTokenCount"] = sum(output.values())
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if tool_use:
        usage["toolUsePromptTokenCount"] = tool_use
    usage["totalTokenCount"] = prompt_total + sum(output.values()) + thoughts + tool_use
    usage["promptTokensDetails"] = modality_details(prompt)
    if cached:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if output:
        usage["candidatesTokensDetails"] = modality_details(output)
    return usage


def _blocked(reason: str, prompt: Counter[str], cached: int) -> Reply:
    ratings: list[dict[str, Any]] = [
        {"category": c, "probability": "NEGLIGIBLE"} for c in _SAFETY_CATEGORIES
    ]
    ratings[0] = {"category": _SAFETY_CATEGORIES[0], "probability": "HIGH", "blocked": True}
    usage = _usage(prompt, cached, [], 0, 0)
    return Reply(
        candidates=[],
        usage=usage,
        prompt_feedback={"blockReason": reason, "safetyRatings": ratings},
    )


def _with_cache(request: dict[str, Any], cached: dict[str, Any] | None) -> dict[str, Any]:
    if not cached:
        return request
    merged = dict(request)
    merged["contents"] = [*(cached.get("contents") or []), *(request.get("contents") or [])]
    for key in ("systemInstruction", "tools", "toolConfig"):
        if key in cached:
            merged[key] = cached[key]
    return merged


def _media_parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p.get("inlineData") or p.get("fileData") or {}
        for p in content.get("parts") or []
        if "inlineData" in p or "fileData" in p
    ]
