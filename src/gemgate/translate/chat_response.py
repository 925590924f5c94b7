"""Gemini GenerateContentResponse → OpenAI ``chat.completion``: choices, messages, tool calls, finish reasons.

The part reading here (`read_parts`, `candidate_fields`, `logprobs_of`) is shared with the stream
translator, so a streamed answer and a whole one carry the same ids, signatures and fields.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from gemgate import errors
from gemgate.translate.tool_call_ids import encode_tool_call_id, stable_call_id
from gemgate.translate.usage import Usage, openai_usage, read_usage
from gemgate.types import openai as openai_types
from gemgate.types.gemini import Blob, Candidate, GenerateContentResponse, Part

# OpenAI has one word for every block; Gemini's reasons for withholding content are these.
CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)
# OpenAI keeps generated audio for reuse in later turns for a day and says when via expires_at;
# Gemini keeps nothing, but clients expect a time in the future.
AUDIO_LIFETIME_SECONDS = 24 * 60 * 60
# Candidate fields passed on under message.provider_specific_fields, by the name used there.
CANDIDATE_FIELDS = {
    "groundingMetadata": "grounding_metadata",
    "urlContextMetadata": "url_context_metadata",
    "citationMetadata": "citation_metadata",
    "safetyRatings": "safety_ratings",
    "finishMessage": "finish_message",
    "avgLogprobs": "avg_logprobs",
}


@dataclass(slots=True)
class PartsContent:
    """What one candidate's parts (or one stream chunk of them) say, in OpenAI terms."""

    text: str | None = None
    reasoning: str | None = None
    tool_calls: list[openai_types.ToolCall] = field(default_factory=list)
    audio: list[Blob] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    # Signatures Gemini put on parts other than function calls (text or thought parts).
    thought_signatures: list[str] = field(default_factory=list)


def finish_reason_of(gemini_reason: str | None, *, has_tool_calls: bool) -> str | None:
    """OpenAI's finish_reason for Gemini's; None while a streamed candidate is not finished."""
    if gemini_reason is None:
        return None
    if gemini_reason == "STOP":
        return "tool_calls" if has_tool_calls else "stop"
    if gemini_reason == "MAX_TOKENS":
        return "length"
    if gemini_reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    # MALFORMED_FUNCTION_CALL, OTHER and reasons newer than this code must not read as a clean stop.
    return gemini_reason.lower()


def translate_response(
    response: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created: int,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` for Gemini's ``response``.

    Raises:
        ContentPolicyViolationError: Gemini blocked the prompt and answered nothing.
    """
    body = cast(GenerateContentResponse, response)
    raise_for_blocked_prompt(body, model=model)
    choices = [
        _choice(candidate, position, response_id=response_id, created=created)
        for position, candidate in enumerate(body.get("candidates") or [])
    ]
    completion: openai_types.ChatCompletion = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
        "usage": cast(
            openai_types.Usage, openai_usage(usage or read_usage(body.get("usageMetadata")))
        ),
    }
    return cast("dict[str, Any]", completion)


def raise_for_blocked_prompt(response: GenerateContentResponse, *, model: str) -> None:
    """Raise ContentPolicyViolationError when Gemini refused the prompt (no candidates at all)."""
    feedback = response.get("promptFeedback") or {}
    reason = feedback.get("blockReason")
    if reason and not response.get("candidates"):
        explanation = feedback.get("blockReasonMessage")
        message = f"Gemini blocked the prompt: {reason}" + (
            f" ({explanation})" if explanation else ""
        )
        raise errors.ContentPolicyViolationError(message, block_reason=reason, model=model)


def read_parts(
    parts: Iterable[Part], *, response_id: str, candidate: int, first_position: int = 0
) -> PartsContent:
    """Sort a candidate's parts into text, thoughts, tool calls, audio and images.

    ``first_position`` is the number of calls this candidate made before these parts (streams).
    """
    texts: list[str] = []
    thoughts: list[str] = []
    content = PartsContent()
    for part in parts:
        if "functionCall" in part:
            position = first_position + len(content.tool_calls)
            content.tool_calls.append(_tool_call(part, response_id, candidate, position))
            continue
        if part.get("thoughtSignature"):
            content.thought_signatures.append(part["thoughtSignature"])
        if "text" in part:
            (thoughts if part.get("thought") else texts).append(part["text"])
        elif "inlineData" in part:
            _add_inline_data(content, part["inlineData"])
    content.text = "".join(texts) or None
    content.reasoning = "".join(thoughts) or None
    return content


def candidate_fields(candidate: Candidate, content: PartsContent) -> dict[str, Any]:
    """Gemini-only facts about a candidate, for ``provider_specific_fields`` (empty when none)."""
    raw = cast("Mapping[str, Any]", candidate)
    fields = {name: raw[key] for key, name in CANDIDATE_FIELDS.items() if raw.get(key) is not None}
    if content.thought_signatures:
        fields["thought_signatures"] = content.thought_signatures
    return fields


def audio_of(content: PartsContent, *, audio_id: str, created: int) -> dict[str, Any] | None:
    """OpenAI's ``message.audio`` for the candidate's audio parts (raw PCM chunks joined)."""
    if not content.audio:
        return None
    if len(content.audio) == 1:
        data = content.audio[0].get("data", "")
    else:
        pcm = b"".join(base64.b64decode(blob.get("data", "")) for blob in content.audio)
        data = base64.b64encode(pcm).decode("ascii")
    return {
        "id": audio_id,
        "data": data,
        "expires_at": created + AUDIO_LIFETIME_SECONDS,
        "transcript": content.text or "",
    }


def logprobs_of(candidate: Candidate) -> dict[str, Any] | None:
    """OpenAI's ``logprobs`` for Gemini's ``logprobsResult`` (chosen tokens and their top rivals)."""
    result = candidate.get("logprobsResult")
    if not result:
        return None
    chosen = result.get("chosenCandidates") or []
    top = result.get("topCandidates") or []
    content = []
    for position, token in enumerate(chosen):
        rivals = (top[position].get("candidates") or []) if position < len(top) else []
        content.append(
            {**_token_logprob(token), "top_logprobs": [_token_logprob(rival) for rival in rivals]}
        )
    return {"content": content, "refusal": None}


def _choice(
    candidate: Candidate, position: int, *, response_id: str, created: int
) -> openai_types.ChatChoice:
    index = candidate.get("index", position)
    parts = (candidate.get("content") or {}).get("parts") or []
    content = read_parts(parts, response_id=response_id, candidate=index)
    message: openai_types.ChatCompletionMessage = {
        "role": "assistant",
        "content": content.text,
        "reasoning_content": content.reasoning,
        "tool_calls": content.tool_calls or None,
    }
    if content.audio:  # checked first: the id is only worth formatting for an audio answer
        audio = audio_of(content, audio_id=f"audio_{response_id}_{index}", created=created)
        if audio is not None:
            message["audio"] = audio
    if content.images:
        message["images"] = content.images
    if fields := candidate_fields(candidate, content):
        message["provider_specific_fields"] = fields
    finish_reason = finish_reason_of(
        candidate.get("finishReason"), has_tool_calls=bool(content.tool_calls)
    )
    return {
        "index": index,
        "message": message,
        "finish_reason": finish_reason,
        "logprobs": logprobs_of(candidate),
    }


def _tool_call(
    part: Part, response_id: str, candidate: int, position: int
) -> openai_types.ToolCall:
    call = part["functionCall"]
    call_id = call.get("id") or stable_call_id(response_id, candidate, position)
    signature = part.get("thoughtSignature")
    tool_call: openai_types.ToolCall = {
        "id": encode_tool_call_id(call_id, signature),
        "type": "function",
        "function": {
            "name": call.get("name", ""),
            "arguments": json.dumps(
                call.get("args") or {}, separators=(",", ":"), ensure_ascii=False
            ),
        },
    }
    if signature:
        # Read back by translate/messages.py; the copy in the id survives clients that drop this.
        tool_call["provider_specific_fields"] = {"thought_signature": signature}
    return tool_call


def _add_inline_data(content: PartsContent, blob: Blob) -> None:
    mime_type = blob.get("mimeType", "")
    if mime_type.startswith("audio/"):
        content.audio.append(blob)
    elif mime_type.startswith("image/"):
        url = f"data:{mime_type};base64,{blob.get('data', '')}"
        content.images.append({"type": "image_url", "image_url": {"url": url}})


def _token_logprob(token: Mapping[str, Any]) -> dict[str, Any]:
    text = str(token.get("token", ""))
    return {
        "token": text,
        "logprob": token.get("logProbability", 0.0),
        "bytes": list(text.encode("utf-8")),
    }
