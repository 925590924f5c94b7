"""What a Gemini model id can do (thinking style, JSON Schema, signatures, TTS, images), read from the id."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

ThinkingStyle = Literal["none", "budget", "level"]

# gemini-2.5-flash-preview-04-17, gemini-3.1-pro-preview, gemini-live-2.5-flash, gemini-1.5-pro-latest
_VERSION = re.compile(r"^gemini-(?:live-)?(\d+)(?:\.(\d+))?(?=-|$)")
# Google's moving aliases serve the current generation (Gemini 3); see the v1beta models list.
_LATEST_ALIAS = re.compile(r"^gemini-(?:flash|flash-lite|pro)-latest$")
_ALIAS_VERSION = (3, 0)
_LEGACY_VERSION = (1, 0)  # gemini-pro, gemini-pro-vision and other ids without a number
_EMBEDDING = re.compile(r"(^|-)embedding(-|$)|^textembedding-|^text-multilingual-embedding-")


@dataclass(frozen=True, slots=True)
class ModelFeatures:
    """The capabilities gemgate's translation needs to know about one model."""

    model: str
    version: tuple[int, int]
    thinking: ThinkingStyle
    is_pro: bool
    supports_json_schema: bool
    requires_thought_signatures: bool
    is_tts: bool
    has_image_output: bool
    is_embedding: bool

    @property
    def can_disable_thinking(self) -> bool:
        """Pro models only work in thinking mode (budget 0 is a 400 there)."""
        return self.thinking != "none" and not self.is_pro


@functools.lru_cache(maxsize=256)
def features_of(model: str) -> ModelFeatures:
    """The features of ``model`` (a bare id; ``models/…`` or a publisher path is tolerated)."""
    bare = model.rsplit("/", 1)[-1].lower()
    version = _version_of(bare)
    is_embedding = bool(_EMBEDDING.search(bare))
    is_tts = bare.endswith("-tts") or "-tts-" in bare
    has_image_output = "-image" in bare
    generates_text = not (is_embedding or is_tts or has_image_output)
    return ModelFeatures(
        model=bare,
        version=version,
        thinking=_thinking_style(version) if generates_text else "none",
        is_pro="pro" in bare.split("-"),
        supports_json_schema=not is_embedding and version >= (2, 5),
        requires_thought_signatures=not (is_embedding or is_tts) and version >= (3, 0),
        is_tts=is_tts,
        has_image_output=has_image_output,
        is_embedding=is_embedding,
    )


def _version_of(bare: str) -> tuple[int, int]:
    if _LATEST_ALIAS.match(bare):
        return _ALIAS_VERSION
    match = _VERSION.match(bare)
    if match is None:
        return _LEGACY_VERSION
    return int(match.group(1)), int(match.group(2) or 0)


def _thinking_style(version: tuple[int, int]) -> ThinkingStyle:
    # 2.5 takes thinkingBudget; Gemini 3 takes thinkingLevel (https://ai.google.dev/gemini-api/docs/thinking)
    if version >= (3, 0):
        return "level"
    if version >= (2, 5):
        return "budget"
    return "none"
