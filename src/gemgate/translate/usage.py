"""Gemini ``usageMetadata`` → `Usage` → OpenAI ``usage``: the one reader of Google's token counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from gemgate.types import openai as openai_types
from gemgate.types.gemini import ModalityTokenCount, UsageMetadata


# Not frozen: one is made per request and per stream's end, and a frozen dataclass's __init__
# costs about three times as much (object.__setattr__ per field). Nothing mutates one.
@dataclass(slots=True)
class Usage:
    """Token counts of one request, as Google bills them.

    ``prompt_tokens`` includes cached and tool-use prompt tokens; ``completion_tokens`` includes
    thinking. The other fields are subsets of those two, kept for pricing and reporting.
    """

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    prompt_audio_tokens: int = 0
    completion_audio_tokens: int = 0
    prompt_image_tokens: int = 0
    completion_image_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def read_usage(usage_metadata: Mapping[str, Any] | None) -> Usage:
    """Read Gemini's ``usageMetadata`` (generateContent, stream chunks or Live) into a `Usage`."""
    if not usage_metadata:
        return Usage(prompt_tokens=0, completion_tokens=0)
    metadata = cast(UsageMetadata, usage_metadata)
    tool_use = _count(metadata.get("toolUsePromptTokenCount"))
    thoughts = _count(metadata.get("thoughtsTokenCount"))
    # The Developer API's Live socket says "response…" where everything else says "candidates…".
    answer = _count(metadata.get("candidatesTokenCount", metadata.get("responseTokenCount")))
    answer_details = metadata.get("candidatesTokensDetails", metadata.get("responseTokensDetails"))
    prompt_audio, prompt_image = _media_counts(metadata.get("promptTokensDetails"))
    tool_audio, tool_image = _media_counts(metadata.get("toolUsePromptTokensDetails"))
    answer_audio, answer_image = _media_counts(answer_details)
    return Usage(
        # promptTokenCount already counts cached tokens; tool results fed back are billed as input.
        prompt_tokens=_count(metadata.get("promptTokenCount")) + tool_use,
        completion_tokens=answer + thoughts,
        cached_tokens=_count(metadata.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        tool_use_prompt_tokens=tool_use,
        prompt_audio_tokens=prompt_audio + tool_audio,
        completion_audio_tokens=answer_audio,
        prompt_image_tokens=prompt_image + tool_image,
        completion_image_tokens=answer_image,
    )


def openai_usage(usage: Usage) -> dict[str, Any]:
    """The OpenAI ``usage`` object for ``usage`` (cached tokens are part of prompt_tokens)."""
    body: openai_types.Usage = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "audio_tokens": usage.prompt_audio_tokens,
            "image_tokens": usage.prompt_image_tokens,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": usage.completion_audio_tokens,
            "image_tokens": usage.completion_image_tokens,
        },
    }
    return cast("dict[str, Any]", body)


def _count(value: object) -> int:
    # Google omits zero counts; anything that is not a count is treated the same way.
    if type(value) is int:  # what JSON gives: answered without the bool subclass check
        return value if value > 0 else 0
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


def _media_counts(details: object) -> tuple[int, int]:
    """(audio, image) token counts of a per-modality list; anything malformed counts as none."""
    audio = image = 0
    if type(details) is not list:  # JSON lists only: called for every answer, kept cheap
        return audio, image
    for detail in cast("list[ModalityTokenCount]", details):
        if not isinstance(detail, dict):
            continue
        modality = detail.get("modality")
        if modality == "AUDIO":
            audio += _count(detail.get("tokenCount"))
        elif modality == "IMAGE":
            image += _count(detail.get("tokenCount"))
    return audio, image
