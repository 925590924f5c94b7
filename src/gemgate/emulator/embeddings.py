"""Embeddings: Developer API embedContent / batchEmbedContents and Vertex embedContent / :predict."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

from gemgate.emulator import schema
from gemgate.emulator.bodies import camel_case
from gemgate.emulator.google_errors import invalid_argument
from gemgate.emulator.models import ModelInfo
from gemgate.emulator.tokens import contents_tokens, text_tokens


def embedding_values(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text`` (same text, same vector)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    generator = random.Random(seed)
    values = [generator.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embed_content(
    body: dict[str, Any], model: ModelInfo, *, strict: bool, is_vertex: bool
) -> dict[str, Any]:
    """Serve `:embedContent`."""
    if strict and not is_vertex:
        schema.check_request("EmbedContentRequest", body)
    request = camel_case(body)
    if is_vertex:
        # SDK 3.x nests Vertex options under embedContentConfig; older clients put them on top.
        request = {**request, **(request.get("embedContentConfig") or {})}
    values, tokens = _embed_one(request, model, "EmbedContentRequest")
    response: dict[str, Any] = {"embedding": {"values": values}}
    if is_vertex:
        response["usageMetadata"] = {"promptTokenCount": tokens, "totalTokenCount": tokens}
        response["truncated"] = False
    return response


def batch_embed_contents(body: dict[str, Any], model: ModelInfo, *, strict: bool) -> dict[str, Any]:
    """Serve `:batchEmbedContents` (Developer API)."""
    if strict:
        schema.check_request("BatchEmbedContentsRequest", body)
    request = camel_case(body)
    entries = request.get("requests") or []
    if not entries:
        raise invalid_argument("* BatchEmbedContentsRequest.requests: requests is not specified\n")
    embeddings = []
    for index, entry in enumerate(entries):
        named = str(entry.get("model", f"models/{model.id}")).removeprefix("models/")
        if named != model.id:
            raise invalid_argument(
                f"* BatchEmbedContentsRequest.requests[{index}].model: model must be the same "
                "as the batch model.\n"
            )
        values, _ = _embed_one(entry, model, f"BatchEmbedContentsRequest.requests[{index}]")
        embeddings.append({"values": values})
    return {"embeddings": embeddings}


def predict(body: dict[str, Any], model: ModelInfo) -> dict[str, Any]:
    """Serve Vertex `:predict` for text embedding models (snake_case inside instances)."""
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise invalid_argument("instances must be a non-empty list.")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid_argument("parameters must be an object.")
    dimensions = _dimensions(parameters.get("outputDimensionality"), model)
    predictions, characters = [], 0
    for index, instance in enumerate(instances):
        text = instance.get("content") if isinstance(instance, dict) else None
        if not isinstance(text, str):
            raise invalid_argument(f"instances[{index}].content must be a string.")
        characters += len(text)
        statistics = {"token_count": text_tokens(text), "truncated": False}
        predictions.append(
            {"embeddings": {"values": embedding_values(text, dimensions), "statistics": statistics}}
        )
    return {"predictions": predictions, "metadata": {"billableCharacterCount": characters}}


def _embed_one(request: dict[str, Any], model: ModelInfo, where: str) -> tuple[list[float], int]:
    content = request.get("content")
    if not isinstance(content, dict) or not content.get("parts"):
        raise invalid_argument(f"* {where}.content: content is not specified\n")
    text = " ".join(str(p.get("text", "")) for p in content["parts"])
    dimensions = _dimensions(request.get("outputDimensionality"), model)
    return embedding_values(text, dimensions), sum(contents_tokens([content]).values())


def _dimensions(requested: Any, model: ModelInfo) -> int:
    if requested is None:
        return model.embedding_dimensions
    dimensions = int(requested)
    if not 1 <= dimensions <= model.embedding_dimensions:
        raise invalid_argument(
            f"output_dimensionality must be between 1 and {model.embedding_dimensions}, got {dimensions}."
        )
    return dimensions
