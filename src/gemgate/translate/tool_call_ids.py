"""Tool call ids that carry Gemini's thought signature through OpenAI clients, and stable ids."""

from __future__ import annotations

import hashlib

# OpenAI clients echo a tool call's id back verbatim but drop fields they do not know, so the
# signature Gemini 3 requires on replay rides inside the id.
# https://ai.google.dev/gemini-api/docs/thought-signatures
SIGNATURE_MARKER = "__thought__"


def encode_tool_call_id(call_id: str, thought_signature: str | None) -> str:
    """The id to show OpenAI clients: ``call_id``, with the signature appended when there is one."""
    if not thought_signature:
        return call_id
    return f"{call_id}{SIGNATURE_MARKER}{thought_signature}"


def decode_tool_call_id(tool_call_id: str) -> tuple[str, str | None]:
    """Split an id made by `encode_tool_call_id` into (original call id, signature or None)."""
    call_id, marker, signature = tool_call_id.partition(SIGNATURE_MARKER)
    if not marker or not signature:
        return call_id, None
    return call_id, signature


def stable_call_id(response_id: str, candidate: int, position: int) -> str:
    """A deterministic id for a call Gemini sent without one (same response → same id)."""
    digest = hashlib.sha256(f"{response_id}:{candidate}:{position}".encode()).hexdigest()
    return f"call_{digest[:24]}"
