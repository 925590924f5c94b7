"""The emulator's model catalogue: which model ids exist and what each can do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CATALOGUE = (
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-3-flash-preview",
    "gemini-3-pro-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.8-flash",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-2.5-flash-preview-tts",
    "gemini-2.5-pro-preview-tts",
    "gemini-3.1-flash-tts-preview",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "gemini-live-2.5-flash-preview",
    "gemini-3.1-flash-live-preview",
    "gemini-embedding-001",
    "gemini-embedding-2",
    "text-embedding-004",
    "text-embedding-005",
    "text-multilingual-embedding-002",
)
_KNOWN_FAMILIES = re.compile(
    r"^(gemini-|text-embedding-|text-multilingual-embedding-|textembedding-|imagen-)"
)
_VERSION = re.compile(r"^gemini-(?:live-)?(\d+)(?:\.(\d+))?")
_ALIAS_VERSION = {
    "gemini-flash-latest": (3, 5),
    "gemini-flash-lite-latest": (3, 5),
    "gemini-pro-latest": (3, 1),
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the emulator lets a model do."""

    id: str
    kind: str  # "text" | "embedding" | "tts" | "image" | "live" | "imagen"
    version: tuple[int, int]
    input_token_limit: int = 1_048_576
    output_token_limit: int = 65_536

    @property
    def thinks(self) -> bool:
        return self.kind in {"text", "live"} and self.version >= (2, 5)

    @property
    def uses_thinking_levels(self) -> bool:
        """Gemini 3 and later take thinkingLevel; 2.5 takes thinkingBudget."""
        return self.version >= (3, 0)

    @property
    def can_disable_thinking(self) -> bool:
        return self.thinks and "pro" not in self.id

    @property
    def requires_thought_signatures(self) -> bool:
        return self.kind == "text" and self.version >= (3, 0)

    @property
    def embedding_dimensions(self) -> int:
        return 3072 if self.id.startswith("gemini-embedding") else 768

    def methods(self) -> list[str]:
        if self.kind == "embedding":
            return ["embedContent", "batchEmbedContents", "countTokens", "predict"]
        if self.kind == "live":
            return ["bidiGenerateContent", "countTokens"]
        if self.kind == "imagen":
            return ["predict"]
        return [
            "generateContent",
            "streamGenerateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ]

    def resource(self) -> dict[str, Any]:
        """The Model resource, as GET models/{id} returns it."""
        major, minor = self.version
        resource: dict[str, Any] = {
            "name": f"models/{self.id}",
            "baseModelId": self.id,
            "version": f"{major}.{minor}",
            "displayName": self.id.replace("-", " ").title(),
            "description": f"Emulated {self.id}.",
            "inputTokenLimit": self.input_token_limit,
            "outputTokenLimit": 1 if self.kind == "embedding" else self.output_token_limit,
            "supportedGenerationMethods": self.methods(),
        }
        if self.kind in {"text", "live"}:
            resource.update(temperature=1, maxTemperature=2, topP=0.95, topK=64)
            resource["thinking"] = self.thinks
        return resource


def find_model(model_id: str, *, extra: tuple[str, ...] = ()) -> ModelInfo | None:
    """The model called ``model_id`` (bare id, ``models/…`` or a publisher path), or None."""
    bare = model_id.rsplit("/", 1)[-1]
    if bare not in CATALOGUE and bare not in extra and not _KNOWN_FAMILIES.match(bare):
        return None
    return ModelInfo(id=bare, kind=_kind_of(bare), version=_version_of(bare))


def list_models(extra: tuple[str, ...] = ()) -> list[ModelInfo]:
    found = (find_model(model_id) for model_id in (*CATALOGUE, *extra))
    return [model for model in found if model is not None]


def _kind_of(model_id: str) -> str:
    if model_id.startswith("imagen-"):
        return "imagen"
    if "embedding" in model_id:
        return "embedding"
    if model_id.endswith("-tts") or "-tts-" in model_id:
        return "tts"
    if "-image" in model_id:
        return "image"
    if "live" in model_id or "native-audio" in model_id:
        return "live"
    return "text"


def _version_of(model_id: str) -> tuple[int, int]:
    if model_id in _ALIAS_VERSION:
        return _ALIAS_VERSION[model_id]
    match = _VERSION.match(model_id)
    if match is None:
        return (1, 0)
    return int(match.group(1)), int(match.group(2) or 0)
