"""metered_call: which pass-through paths are billed generations, and of which model."""

from __future__ import annotations

import pytest

from gemgate.proxy.metered_calls import MeteredCall, PassThroughProvider, metered_call

VERTEX_PROJECT = "/v1/projects/my-project/locations/us-central1"


@pytest.mark.parametrize(
    ("provider", "path", "expected"),
    [
        ("gemini", "/v1beta/models/gemini-2.5-flash:generateContent",
         MeteredCall("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash", is_stream=False)),
        ("gemini", "/v1/models/gemini-2.0-flash:streamGenerateContent",
         MeteredCall("gemini", "models/gemini-2.0-flash", "gemini-2.0-flash", is_stream=True)),
        ("gemini", "/v1alpha/models/gemini-3-flash-preview:generateContent",
         MeteredCall("gemini", "models/gemini-3-flash-preview", "gemini-3-flash-preview", is_stream=False)),
        ("gemini", "v1beta/models/gemini-2.5-flash%3AstreamGenerateContent",
         MeteredCall("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash", is_stream=True)),
        ("gemini", "/v1beta/tunedModels/my-tuned-7:generateContent",
         MeteredCall("gemini", "tunedModels/my-tuned-7", None, is_stream=False)),
        ("vertex_ai", f"{VERTEX_PROJECT}/publishers/google/models/gemini-2.5-pro:generateContent",
         MeteredCall("vertex_ai", "projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-pro",
                     "gemini-2.5-pro", is_stream=False)),
        ("vertex_ai", "/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
         MeteredCall("vertex_ai", "projects/p/locations/global/publishers/google/models/gemini-2.5-flash",
                     "gemini-2.5-flash", is_stream=True)),
        ("vertex_ai", "/v1/publishers/google/models/gemini-2.5-flash:generateContent",
         MeteredCall("vertex_ai", "publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash", is_stream=False)),
        ("vertex_ai", f"{VERTEX_PROJECT}/endpoints/1234567890:generateContent",
         MeteredCall("vertex_ai", "projects/my-project/locations/us-central1/endpoints/1234567890", None,
                     is_stream=False)),
    ],
    ids=["gemini-v1beta", "gemini-v1-stream", "gemini-v1alpha", "gemini-escaped-colon", "gemini-tuned",
         "vertex-v1", "vertex-v1beta1-stream", "vertex-express", "vertex-endpoint"],
)  # fmt: skip
def test_generations_are_metered_with_the_model_the_path_names(
    provider: PassThroughProvider, path: str, expected: MeteredCall
) -> None:
    assert metered_call(provider, path) == expected


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        ("gemini", "/v1beta/models/gemini-2.5-flash:countTokens"),
        ("gemini", "/v1beta/models/gemini-embedding-001:embedContent"),
        ("gemini", "/v1beta/models/gemini-2.5-flash"),
        ("gemini", "/v1beta/models"),
        ("gemini", "/v1beta/cachedContents/abc"),
        ("gemini", "/upload/v1beta/files"),
        ("gemini", "/v2/models/gemini-2.5-flash:generateContent"),
        ("gemini", "/v1beta/models/gemini-2.5-flash:generateContentNow"),
        ("gemini", "/v1beta/models/a/b:generateContent"),
        ("gemini", f"{VERTEX_PROJECT}/publishers/google/models/gemini-2.5-pro:generateContent"),
        ("vertex_ai", "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("vertex_ai", f"{VERTEX_PROJECT}/publishers/anthropic/models/claude:rawPredict"),
        ("vertex_ai", f"{VERTEX_PROJECT}/publishers/google/models/text-embedding-005:predict"),
        ("vertex_ai", f"{VERTEX_PROJECT}/cachedContents"),
    ],
)
def test_other_calls_are_not_metered(provider: PassThroughProvider, path: str) -> None:
    assert metered_call(provider, path) is None
