"""OpenAI embeddings ↔ batchEmbedContents / embedContent / :predict, checked against the emulator."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from gemgate.emulator import embeddings as emulated
from gemgate.emulator.models import ModelInfo, find_model
from gemgate.errors import BadRequestError, InternalServerError
from gemgate.translate.embeddings import build_embed_request, embedding_response


def model_info(model: str) -> ModelInfo:
    info = find_model(model)
    assert info is not None
    return info


def serve(method: str, bodies: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Google's answers, from the emulator's strict handlers."""
    info = model_info(model)
    if method == "batchEmbedContents":
        return [emulated.batch_embed_contents(body, info, strict=True) for body in bodies]
    if method == "embedContent":
        return [emulated.embed_content(b, info, strict=True, is_vertex=True) for b in bodies]
    return [emulated.predict(body, info) for body in bodies]


def build(
    given: str | list[str],
    model: str,
    *,
    is_vertex: bool,
    dimensions: int | None = None,
    task_type: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    return build_embed_request(
        given, model=model, dimensions=dimensions, task_type=task_type, is_vertex=is_vertex
    )


def test_developer_api_sends_one_batch_request_per_text() -> None:
    method, bodies = build(["a", "b"], "gemini-embedding-001", is_vertex=False, dimensions=256)
    assert method == "batchEmbedContents"
    assert bodies == [
        {
            "requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256},
            ]
        }
    ]  # fmt: skip


def test_a_single_string_is_one_request() -> None:
    _, bodies = build("hello", "gemini-embedding-001", is_vertex=False, task_type="retrieval_query")
    assert bodies == [
        {
            "requests": [
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": "hello"}]},
                    "taskType": "RETRIEVAL_QUERY",
                }
            ]
        }
    ]


def test_developer_batches_are_split_at_google_limit() -> None:
    _, bodies = build([f"t{i}" for i in range(250)], "gemini-embedding-001", is_vertex=False)
    assert [len(body["requests"]) for body in bodies] == [100, 100, 50]


def test_vertex_classic_models_use_predict_with_snake_case_instances() -> None:
    method, bodies = build(
        ["a", "b"], "text-embedding-005", is_vertex=True, dimensions=64, task_type="CLUSTERING"
    )
    assert method == "predict"
    assert bodies == [
        {
            "instances": [
                {"content": "a", "task_type": "CLUSTERING"},
                {"content": "b", "task_type": "CLUSTERING"},
            ],
            "parameters": {"outputDimensionality": 64},
        }
    ]


def test_vertex_predict_without_options_sends_only_instances() -> None:
    _, bodies = build("a", "text-multilingual-embedding-002", is_vertex=True)
    assert bodies == [{"instances": [{"content": "a"}]}]


def test_vertex_gemini_embedding_models_use_one_embed_content_per_text() -> None:
    method, bodies = build(["a", "b"], "gemini-embedding-001", is_vertex=True, dimensions=8)
    assert method == "embedContent"
    assert bodies == [
        {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
        {"content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8},
    ]


@pytest.mark.parametrize(
    ("model", "is_vertex", "expected_tokens"),
    [
        ("gemini-embedding-001", False, 7),
        ("gemini-embedding-001", True, None),
        ("text-embedding-005", True, None),
    ],
)
def test_answers_become_an_openai_embedding_list(
    model: str, is_vertex: bool, expected_tokens: int | None
) -> None:
    method, bodies = build(["one text", "another"], model, is_vertex=is_vertex, dimensions=16)
    answer = embedding_response(
        serve(method, bodies, model), model=model, method=method, prompt_tokens=7
    )
    assert answer["object"] == "list" and answer["model"] == model
    assert [(item["object"], item["index"]) for item in answer["data"]] == [
        ("embedding", 0),
        ("embedding", 1),
    ]
    assert all(len(item["embedding"]) == 16 for item in answer["data"])
    assert answer["data"][0]["embedding"] == emulated.embedding_values("one text", 16)
    usage = answer["usage"]
    assert usage["prompt_tokens"] == usage["total_tokens"]
    if expected_tokens is not None:
        assert usage["prompt_tokens"] == expected_tokens  # the caller's estimate
    else:
        assert usage["prompt_tokens"] > 0 and usage["prompt_tokens"] != 7  # Google's count


def test_vertex_counts_from_predict_statistics_are_summed() -> None:
    responses = [
        {
            "predictions": [
                {"embeddings": {"values": [0.1], "statistics": {"token_count": 3}}},
                {"embeddings": {"values": [0.2], "statistics": {"token_count": 4.0}}},
            ]
        }
    ]
    answer = embedding_response(responses, model="m", method="predict", prompt_tokens=None)
    assert answer["usage"] == {"prompt_tokens": 7, "total_tokens": 7}


def test_vertex_embed_content_counts_come_from_usage_metadata() -> None:
    responses = [
        {"embedding": {"values": [0.5]}, "usageMetadata": {"promptTokenCount": 2}},
        {"embedding": {"values": [0.25]}, "usageMetadata": {"promptTokenCount": 5}},
    ]
    answer = embedding_response(responses, model="m", method="embedContent", prompt_tokens=99)
    assert answer["usage"]["prompt_tokens"] == 7
    assert [item["embedding"] for item in answer["data"]] == [[0.5], [0.25]]


def test_no_count_and_no_estimate_reports_zero_tokens() -> None:
    responses = [{"embeddings": [{"values": [1.0]}]}]
    answer = embedding_response(
        responses, model="m", method="batchEmbedContents", prompt_tokens=None
    )
    assert answer["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


def test_split_batches_are_joined_in_order() -> None:
    responses = [
        {"embeddings": [{"values": [0.0]}, {"values": [1.0]}]},
        {"embeddings": [{"values": [2.0]}]},
    ]
    answer = embedding_response(responses, model="m", method="batchEmbedContents", prompt_tokens=3)
    assert [(item["index"], item["embedding"]) for item in answer["data"]] == [
        (0, [0.0]),
        (1, [1.0]),
        (2, [2.0]),
    ]


def test_base64_encoding_is_little_endian_float32() -> None:
    responses = [{"embeddings": [{"values": [0.5, -1.0]}]}]
    answer = embedding_response(
        responses, model="m", method="batchEmbedContents", prompt_tokens=1, encoding_format="base64"
    )
    encoded = answer["data"][0]["embedding"]
    assert isinstance(encoded, str)
    assert list(struct.unpack("<2f", base64.b64decode(encoded))) == [0.5, -1.0]


@pytest.mark.parametrize(
    ("method", "response"),
    [
        ("batchEmbedContents", {}),
        ("batchEmbedContents", {"embeddings": [{}]}),
        ("embedContent", {"embedding": None}),
        ("predict", {"predictions": [{"embeddings": {}}]}),
        ("predict", {"predictions": "x"}),
    ],
)
def test_answers_without_values_are_server_errors(method: str, response: dict[str, Any]) -> None:
    with pytest.raises(InternalServerError, match="no embedding values"):
        embedding_response([response], model="m", method=method, prompt_tokens=None)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "empty"),
        ([], "non-empty"),
        (["a", ""], "empty"),
        ([1, 2, 3], "token ids"),
        ([[1, 2], [3]], "token ids"),
        (["a", 1], "list of strings"),
        (None, "non-empty"),
    ],
)
def test_input_must_be_text(given: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        build(given, "gemini-embedding-001", is_vertex=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": True}, "dimensions"),
        ({"dimensions": "8"}, "dimensions"),
        ({"task_type": "SUMMARIZE"}, "task_type"),
        ({"encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_options_are_checked_before_sending(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"dimensions": None, "task_type": None, **options}
    with pytest.raises(BadRequestError, match=message):
        build_embed_request("a", model="gemini-embedding-001", is_vertex=False, **arguments)
