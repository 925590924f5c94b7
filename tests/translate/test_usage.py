"""usageMetadata → Usage → OpenAI usage."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gemgate.translate.usage import Usage, openai_usage, read_usage
from tests.conftest import TEST_API_KEY


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param(None, Usage(prompt_tokens=0, completion_tokens=0), id="absent"),
        pytest.param({}, Usage(prompt_tokens=0, completion_tokens=0), id="empty"),
        pytest.param(
            {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12},
            Usage(prompt_tokens=5, completion_tokens=7),
            id="plain",
        ),
        pytest.param(
            {"promptTokenCount": 5, "candidatesTokenCount": 7, "thoughtsTokenCount": 90},
            Usage(prompt_tokens=5, completion_tokens=97, reasoning_tokens=90),
            id="thoughts-count-as-completion",
        ),
        pytest.param(
            {"promptTokenCount": 1000, "cachedContentTokenCount": 800, "candidatesTokenCount": 3},
            Usage(prompt_tokens=1000, completion_tokens=3, cached_tokens=800),
            id="cached-tokens-are-already-in-the-prompt",
        ),
        pytest.param(
            {"promptTokenCount": 5, "toolUsePromptTokenCount": 39, "candidatesTokenCount": 186},
            Usage(prompt_tokens=44, completion_tokens=186, tool_use_prompt_tokens=39),
            id="tool-use-prompt-billed-as-input",
        ),
        pytest.param(
            {"promptTokenCount": 3, "responseTokenCount": 2, "totalTokenCount": 5},
            Usage(prompt_tokens=3, completion_tokens=2),
            id="live-response-token-count",
        ),
        pytest.param(
            {"promptTokenCount": 3, "thoughtsTokenCount": 96},
            Usage(prompt_tokens=3, completion_tokens=96, reasoning_tokens=96),
            id="no-candidates-count-when-blocked",
        ),
        pytest.param(
            {"promptTokenCount": True, "candidatesTokenCount": "7", "thoughtsTokenCount": None},
            Usage(prompt_tokens=0, completion_tokens=0),
            id="non-numbers-read-as-zero",
        ),
    ],
)
def test_read_usage_counts(metadata: dict[str, Any] | None, expected: Usage) -> None:
    assert read_usage(metadata) == expected


@pytest.mark.parametrize("details", [7, "AUDIO", {"modality": "AUDIO", "tokenCount": 3}])
def test_read_usage_counts_malformed_modality_details_as_none(details: object) -> None:
    metadata = {"promptTokenCount": 5, "promptTokensDetails": details,
                "candidatesTokenCount": 2, "candidatesTokensDetails": details}  # fmt: skip
    assert read_usage(metadata) == Usage(prompt_tokens=5, completion_tokens=2)


def test_read_usage_takes_audio_and_image_tokens_from_modality_details() -> None:
    metadata = {
        "promptTokenCount": 600,
        "candidatesTokenCount": 1300,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 42},
            {"modality": "AUDIO", "tokenCount": 300},
            {"modality": "IMAGE", "tokenCount": 258},
        ],
        "candidatesTokensDetails": [
            {"modality": "IMAGE", "tokenCount": 1290},
            {"modality": "TEXT", "tokenCount": 10},
        ],
    }
    usage = read_usage(metadata)
    assert (usage.prompt_audio_tokens, usage.prompt_image_tokens) == (300, 258)
    assert (usage.completion_audio_tokens, usage.completion_image_tokens) == (0, 1290)


def test_read_usage_takes_live_audio_output_from_response_details() -> None:
    metadata = {
        "promptTokenCount": 20,
        "responseTokenCount": 400,
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 400}],
    }
    assert read_usage(metadata).completion_audio_tokens == 400


def test_read_usage_counts_audio_in_tool_use_prompt() -> None:
    metadata = {
        "promptTokenCount": 10,
        "toolUsePromptTokenCount": 50,
        "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 10}],
        "toolUsePromptTokensDetails": [{"modality": "AUDIO", "tokenCount": 50}],
    }
    assert read_usage(metadata).prompt_audio_tokens == 60


def test_openai_usage_reports_cached_tokens_once_inside_prompt_tokens() -> None:
    usage = Usage(
        prompt_tokens=1000,
        completion_tokens=97,
        cached_tokens=800,
        reasoning_tokens=90,
        prompt_audio_tokens=100,
        completion_audio_tokens=4,
        prompt_image_tokens=258,
        completion_image_tokens=3,
    )
    assert openai_usage(usage) == {
        "prompt_tokens": 1000,
        "completion_tokens": 97,
        "total_tokens": 1097,
        "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 100, "image_tokens": 258},
        "completion_tokens_details": {"reasoning_tokens": 90, "audio_tokens": 4, "image_tokens": 3},
    }


def test_openai_total_matches_gemini_total_for_a_grounded_answer(http: httpx.Client) -> None:
    # Google search grounding adds toolUsePromptTokenCount, which totalTokenCount includes.
    body = {
        "contents": [{"role": "user", "parts": [{"text": "News today"}]}],
        "tools": [{"googleSearch": {}}],
    }
    response = http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json=body,
        headers={"x-goog-api-key": TEST_API_KEY},
    )
    metadata = response.json()["usageMetadata"]
    assert metadata["toolUsePromptTokenCount"] > 0
    assert openai_usage(read_usage(metadata))["total_tokens"] == metadata["totalTokenCount"]
