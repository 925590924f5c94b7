"""Deterministic token counts for contents, by modality, close to Gemini's own proportions."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson

IMAGE_TOKENS = 258  # an image up to 384x384 px, per Google's token guide
AUDIO_TOKENS_PER_SECOND = 32
VIDEO_TOKENS_PER_SECOND = 263
OUTPUT_IMAGE_TOKENS = 1290
PCM_BYTES_PER_SECOND = 48_000  # 24 kHz, 16-bit mono


def text_tokens(text: str) -> int:
    """About four characters a token, at least one for non-empty text."""
    return (len(text) + 3) // 4 if text else 0


def part_tokens(part: dict[str, Any]) -> tuple[str, int]:
    """(modality, tokens) of one camelCase Part."""
    if "text" in part:
        return "TEXT", text_tokens(str(part["text"]))
    media = part.get("inlineData") or part.get("fileData")
    if isinstance(media, dict):
        return _media_tokens(media)
    for key in ("functionCall", "functionResponse", "executableCode", "codeExecutionResult"):
        if key in part:
            return "TEXT", text_tokens(orjson.dumps(part[key]).decode())
    return "TEXT", 0


def contents_tokens(contents: Iterable[dict[str, Any]]) -> Counter[str]:
    """Tokens per modality over a list of camelCase Content objects."""
    totals: Counter[str] = Counter()
    for content in contents:
        for part in content.get("parts") or []:
            modality, count = part_tokens(part)
            totals[modality] += count
    return totals


def request_tokens(request: dict[str, Any]) -> Counter[str]:
    """Prompt tokens per modality of a camelCase GenerateContentRequest (without any cache)."""
    totals = contents_tokens(request.get("contents") or [])
    system = request.get("systemInstruction")
    if isinstance(system, dict):
        totals.update(contents_tokens([system]))
    tools = request.get("tools")
    if tools:
        totals["TEXT"] += text_tokens(orjson.dumps(tools).decode())
    return totals


def modality_details(totals: Counter[str]) -> list[dict[str, Any]]:
    """Google's `*TokensDetails` list: one entry per modality with tokens, in a stable order."""
    return [
        {"modality": modality, "tokenCount": count}
        for modality, count in sorted(totals.items())
        if count
    ]


def _media_tokens(media: dict[str, Any]) -> tuple[str, int]:
    mime = str(media.get("mimeType", ""))
    if mime.startswith("image/"):
        return "IMAGE", IMAGE_TOKENS
    if mime == "application/pdf":
        return "DOCUMENT", IMAGE_TOKENS
    seconds = max(1, _decoded_size(media) // PCM_BYTES_PER_SECOND)
    if mime.startswith("audio/"):
        return "AUDIO", AUDIO_TOKENS_PER_SECOND * seconds
    if mime.startswith("video/"):
        return "VIDEO", VIDEO_TOKENS_PER_SECOND * seconds
    if mime.startswith("text/"):
        return "TEXT", max(1, _decoded_size(media) // 4)
    return "DOCUMENT", IMAGE_TOKENS


def _decoded_size(media: dict[str, Any]) -> int:
    data = media.get("data")
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return len(data) * 3 // 4
