"""OpenAI embeddings ↔ Gemini batchEmbedContents, Vertex embedContent and Vertex :predict."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gemgate.errors import BadRequestError, InternalServerError
from gemgate.types.openai import Embedding, EmbeddingResponse

TASK_TYPES = frozenset(
    {
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)
ENCODING_FORMATS = ("float", "base64")
# Per-call limits: batchEmbedContents takes 100 requests, Vertex :predict 250 instances.
DEVELOPER_BATCH_SIZE = 100
VERTEX_PREDICT_BATCH_SIZE = 250
_VERTEX_CLASSIC_PREFIXES = ("text-embedding-", "text-multilingual-embedding-", "textembedding-")


def build_embed_request(
    input: str | list[str],
    *,
    model: str,
    dimensions: int | None,
    task_type: str | None,
    is_vertex: bool,
    encoding_format: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The method to call and the bodies to send, in order, to embed ``input`` with ``model``.

    Several bodies come back when the input is longer than one call takes (or, for Vertex
    ``gemini-embedding-*`` models, one body per text); the caller sends them all and passes the
    answers, in order, to ``embedding_response``.
    """
    texts = _texts(input)
    options = _EmbedOptions.of(dimensions, task_type)
    if encoding_format is not None and encoding_format not in ENCODING_FORMATS:
        raise BadRequestError(
            f"encoding_format must be 'float' or 'base64'; got {encoding_format!r}."
        )
    bare = model.rsplit("/", 1)[-1]
    if not is_vertex:
        return "batchEmbedContents", [
            {"requests": [options.embed_content(text, model=f"models/{bare}") for text in batch]}
            for batch in _batches(texts, DEVELOPER_BATCH_SIZE)
        ]
    if bare.startswith(_VERTEX_CLASSIC_PREFIXES):
        batches = _batches(texts, VERTEX_PREDICT_BATCH_SIZE)
        return "predict", [options.predict(batch) for batch in batches]
    # Vertex serves gemini-embedding-* through embedContent, one text per call.
    return "embedContent", [options.embed_content(text) for text in texts]


def embedding_response(
    responses: Sequence[Mapping[str, Any]],
    *,
    model: str,
    method: str,
    prompt_tokens: int | None,
    encoding_format: str | None = None,
) -> EmbeddingResponse:
    """The OpenAI embeddings response for Google's ``responses`` to the bodies of ``build_embed_request``.

    Token counts come from Google when it reports them (Vertex), else from ``prompt_tokens``.
    """
    vectors: list[list[float]] = []
    reported: list[int] = []
    for response in responses:
        found, counts = _READERS.get(method, _unknown_method)(response)
        vectors.extend(found)
        reported.extend(counts)
    tokens = sum(reported) if reported else (prompt_tokens or 0)
    data: list[Embedding] = [
        {"object": "embedding", "index": index, "embedding": _encoded(vector, encoding_format)}
        for index, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@dataclass(frozen=True, slots=True)
class _EmbedOptions:
    """dimensions and task_type, checked once and spelled as each method wants them."""

    dimensions: int | None
    task_type: str | None

    @classmethod
    def of(cls, dimensions: Any, task_type: Any) -> _EmbedOptions:
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise BadRequestError(f"dimensions must be a positive integer; got {dimensions!r}.")
        if task_type is not None:
            if not isinstance(task_type, str) or task_type.upper() not in TASK_TYPES:
                allowed = ", ".join(sorted(TASK_TYPES))
                raise BadRequestError(f"task_type must be one of {allowed}; got {task_type!r}.")
            task_type = task_type.upper()
        return cls(dimensions, task_type)

    def embed_content(self, text: str, *, model: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model} if model else {}
        body["content"] = {"parts": [{"text": text}]}
        if self.task_type:
            body["taskType"] = self.task_type
        if self.dimensions:
            body["outputDimensionality"] = self.dimensions
        return body

    def predict(self, texts: Sequence[str]) -> dict[str, Any]:
        # Vertex :predict instances are free-form JSON read in snake_case; parameters in camelCase.
        instances: list[dict[str, Any]] = [{"content": text} for text in texts]
        if self.task_type:
            for instance in instances:
                instance["task_type"] = self.task_type
        body: dict[str, Any] = {"instances": instances}
        if self.dimensions:
            body["parameters"] = {"outputDimensionality": self.dimensions}
        return body


def _texts(given: Any) -> list[str]:
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts:
        raise BadRequestError("input must be a non-empty string or a non-empty list of strings.")
    if not all(isinstance(text, str) for text in texts):
        if all(isinstance(item, int | list) for item in texts):
            raise BadRequestError("input as token ids is not supported by Gemini; send text.")
        raise BadRequestError("input must be a string or a list of strings.")
    if not all(texts):
        raise BadRequestError("input must not contain empty strings.")
    return texts


def _batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[start : start + size] for start in range(0, len(texts), size)]


# Reading Google's answers: (vectors, reported token counts) --------------------------------------

_Read = tuple[list[list[float]], list[int]]


def _read_batch(response: Mapping[str, Any]) -> _Read:
    embeddings = response.get("embeddings")
    if not isinstance(embeddings, list):
        raise _malformed("batchEmbedContents", response)
    return [_values(item, "batchEmbedContents") for item in embeddings], []


def _read_embed_content(response: Mapping[str, Any]) -> _Read:
    vector = _values(response.get("embedding"), "embedContent")
    count = (response.get("usageMetadata") or {}).get("promptTokenCount")
    return [vector], [count] if isinstance(count, int) else []


def _read_predict(response: Mapping[str, Any]) -> _Read:
    predictions = response.get("predictions")
    if not isinstance(predictions, list):
        raise _malformed("predict", response)
    vectors, counts = [], []
    for prediction in predictions:
        embeddings = prediction.get("embeddings") if isinstance(prediction, Mapping) else None
        vectors.append(_values(embeddings, "predict"))
        count = ((embeddings or {}).get("statistics") or {}).get("token_count")
        if isinstance(count, int | float):
            counts.append(int(count))
    return vectors, counts


def _unknown_method(response: Mapping[str, Any]) -> _Read:
    raise ValueError("embedding_response needs the method that build_embed_request returned.")


_READERS = {
    "batchEmbedContents": _read_batch,
    "embedContent": _read_embed_content,
    "predict": _read_predict,
}


def _values(embedding: Any, method: str) -> list[float]:
    values = embedding.get("values") if isinstance(embedding, Mapping) else None
    if not isinstance(values, list):
        raise _malformed(method, embedding)
    return values


def _malformed(method: str, found: Any) -> InternalServerError:
    return InternalServerError(
        f"Google's {method} answer carries no embedding values: {found!r:.200}"
    )


def _encoded(vector: list[float], encoding_format: str | None) -> list[float] | str:
    if encoding_format != "base64":
        return vector
    # OpenAI's base64 form: little-endian float32, as numpy.frombuffer(..., "float32") reads it.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
