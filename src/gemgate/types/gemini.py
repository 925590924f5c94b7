"""TypedDicts for the Gemini REST JSON that gemgate reads and writes (camelCase, as Google sends it)."""

from __future__ import annotations

from typing import Any, TypedDict


class Blob(TypedDict, total=False):
    mimeType: str
    data: str


class FileData(TypedDict, total=False):
    mimeType: str
    fileUri: str


class FunctionCall(TypedDict, total=False):
    id: str
    name: str
    args: dict[str, Any]


class FunctionResponse(TypedDict, total=False):
    id: str
    name: str
    response: dict[str, Any]


class Part(TypedDict, total=False):
    text: str
    inlineData: Blob
    fileData: FileData
    functionCall: FunctionCall
    functionResponse: FunctionResponse
    thought: bool
    thoughtSignature: str


class Content(TypedDict, total=False):
    role: str
    parts: list[Part]


class ModalityTokenCount(TypedDict, total=False):
    modality: str
    tokenCount: int


class UsageMetadata(TypedDict, total=False):
    promptTokenCount: int
    cachedContentTokenCount: int
    candidatesTokenCount: int
    thoughtsTokenCount: int
    toolUsePromptTokenCount: int
    totalTokenCount: int
    promptTokensDetails: list[ModalityTokenCount]
    cacheTokensDetails: list[ModalityTokenCount]
    candidatesTokensDetails: list[ModalityTokenCount]
    toolUsePromptTokensDetails: list[ModalityTokenCount]
    # The Live API (Developer API) names the output counts "response…" instead of "candidates…".
    responseTokenCount: int
    responseTokensDetails: list[ModalityTokenCount]


class Candidate(TypedDict, total=False):
    content: Content
    finishReason: str
    index: int
    safetyRatings: list[dict[str, Any]]
    groundingMetadata: dict[str, Any]
    citationMetadata: dict[str, Any]
    urlContextMetadata: dict[str, Any]
    finishMessage: str
    logprobsResult: dict[str, Any]
    avgLogprobs: float


class PromptFeedback(TypedDict, total=False):
    blockReason: str
    blockReasonMessage: str
    safetyRatings: list[dict[str, Any]]


class GenerateContentResponse(TypedDict, total=False):
    candidates: list[Candidate]
    promptFeedback: PromptFeedback
    usageMetadata: UsageMetadata
    modelVersion: str
    responseId: str
    createTime: str


class GenerateContentRequest(TypedDict, total=False):
    contents: list[Content]
    systemInstruction: Content
    tools: list[dict[str, Any]]
    toolConfig: dict[str, Any]
    safetySettings: list[dict[str, Any]]
    generationConfig: dict[str, Any]
    cachedContent: str
    labels: dict[str, str]


class CachedContent(TypedDict, total=False):
    """A context cache (`cachedContents`): what it holds, for which model, and for how long."""

    name: str
    model: str
    displayName: str
    contents: list[Content]
    systemInstruction: Content
    tools: list[dict[str, Any]]
    toolConfig: dict[str, Any]
    ttl: str
    expireTime: str


class ErrorDetail(TypedDict, total=False):
    code: int
    message: str
    status: str
    details: list[dict[str, Any]]


class ErrorBody(TypedDict):
    error: ErrorDetail
