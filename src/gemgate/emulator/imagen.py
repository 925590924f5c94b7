"""Imagen `:predict` (Vertex AI and the Developer API): PNG images for text prompts."""

from __future__ import annotations

from typing import Any

from gemgate.emulator.google_errors import invalid_argument
from gemgate.emulator.media_outputs import png_image
from gemgate.emulator.models import ModelInfo

# https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api
DEFAULT_SAMPLE_COUNT = 4
MAX_SAMPLE_COUNT = 4
_ASPECT_RATIOS = frozenset({"1:1", "9:16", "16:9", "3:4", "4:3"})


def predict_images(body: dict[str, Any], model: ModelInfo) -> dict[str, Any]:
    """Serve `:predict` on an Imagen model: `sampleCount` PNGs per prompt."""
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise invalid_argument("instances must be a non-empty list.")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid_argument("parameters must be an object.")
    count = _sample_count(parameters.get("sampleCount", DEFAULT_SAMPLE_COUNT))
    aspect_ratio = parameters.get("aspectRatio", "1:1")
    if aspect_ratio not in _ASPECT_RATIOS:
        raise invalid_argument(f"Unsupported aspect ratio: {aspect_ratio}.")
    predictions = []
    for index, instance in enumerate(instances):
        prompt = instance.get("prompt") if isinstance(instance, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise invalid_argument(f"instances[{index}].prompt must be a non-empty string.")
        predictions += [
            {
                "bytesBase64Encoded": png_image(f"{model.id}:{prompt}:{sample}"),
                "mimeType": "image/png",
            }
            for sample in range(count)
        ]
    return {"predictions": predictions}


def _sample_count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SAMPLE_COUNT:
        raise invalid_argument(
            f"Image generation failed with the following error: sampleCount must be between 1 "
            f"and {MAX_SAMPLE_COUNT}, got {value!r}."
        )
    return value
