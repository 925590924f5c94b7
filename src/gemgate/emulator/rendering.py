"""Reply -> GenerateContentResponse JSON: whole, or as the chunks of a stream (cumulative usage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gemgate.emulator.answers import CandidateReply, Reply
from gemgate.emulator.listing import rfc3339


@dataclass(frozen=True, slots=True)
class Envelope:
    """Fields every response or chunk repeats."""

    model_version: str
    response_id: str
    is_vertex: bool
    now: float


def render_response(reply: Reply, envelope: Envelope) -> dict[str, Any]:
    """The whole GenerateContentResponse."""
    candidates = [
        _candidate(c, index, c.parts, final=True) for index, c in enumerate(reply.candidates)
    ]
    return _wrap(candidates, reply.usage, reply.prompt_feedback, envelope)


def render_chunks(reply: Reply, envelope: Envelope, *, chunk_chars: int) -> list[dict[str, Any]]:
    """The stream: thoughts, then text in pieces, then calls and media; usage cumulative."""
    if reply.prompt_feedback is not None:
        return [_wrap([], reply.usage, reply.prompt_feedback, envelope)]
    pieces: list[tuple[int, list[dict[str, Any]], bool]] = []
    for index, candidate in enumerate(reply.candidates):
        split = _split_parts(candidate.parts, chunk_chars)
        pieces.extend(
            (index, piece, position == len(split) - 1) for position, piece in enumerate(split)
        )
    total_output = int(reply.usage.get("candidatesTokenCount", 0))
    chunks: list[dict[str, Any]] = []
    for number, (index, parts, is_last) in enumerate(pieces, start=1):
        candidate = reply.candidates[index]
        rendered = _candidate(candidate, index, parts, final=is_last)
        usage = dict(reply.usage)
        if number < len(pieces) and total_output:
            usage["candidatesTokenCount"] = max(1, total_output * number // len(pieces))
            usage["totalTokenCount"] = (
                reply.usage["totalTokenCount"] - total_output + usage["candidatesTokenCount"]
            )
            usage.pop("candidatesTokensDetails", None)
        chunks.append(_wrap([rendered], usage, None, envelope))
    return chunks


def _split_parts(parts: list[dict[str, Any]], chunk_chars: int) -> list[list[dict[str, Any]]]:
    pieces: list[list[dict[str, Any]]] = []
    for part in parts:
        text = part.get("text")
        if isinstance(text, str) and not part.get("thought") and len(text) > chunk_chars:
            pieces.extend(
                [{**part, "text": text[i : i + chunk_chars]}]
                for i in range(0, len(text), chunk_chars)
            )
        else:
            pieces.append([part])
    return pieces or [[]]


def _candidate(
    candidate: CandidateReply, index: int, parts: list[dict[str, Any]], *, final: bool
) -> dict[str, Any]:
    rendered: dict[str, Any] = {"index": index}
    if parts:
        rendered["content"] = {"parts": parts, "role": "model"}
    elif final and candidate.finish_reason in {"STOP", "MAX_TOKENS"}:
        rendered["content"] = {"role": "model"}  # Google sends an empty turn, no parts
    if final:
        rendered["finishReason"] = candidate.finish_reason
        if candidate.finish_message:
            rendered["finishMessage"] = candidate.finish_message
        rendered.update(candidate.extras)
        if candidate.finish_reason == "SAFETY":
            rendered["safetyRatings"] = [
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH",
                    "blocked": True,
                }
            ]
    return rendered


def _wrap(
    candidates: list[dict[str, Any]],
    usage: dict[str, Any],
    feedback: dict[str, Any] | None,
    envelope: Envelope,
) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if candidates:
        response["candidates"] = candidates
    if feedback is not None:
        response["promptFeedback"] = feedback
    response["usageMetadata"] = usage
    response["modelVersion"] = envelope.model_version
    if envelope.is_vertex:
        response["createTime"] = rfc3339(envelope.now)
        response["usageMetadata"] = {**usage, "trafficType": "ON_DEMAND"}
    response["responseId"] = envelope.response_id
    return response
