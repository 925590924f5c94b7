"""TypedDicts for the OpenAI JSON gemgate reads and writes: chat, text completions and embeddings."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# Requests -----------------------------------------------------------------------------------------


class FunctionCallRequest(TypedDict, total=False):
    name: str
    arguments: str


class ToolCall(TypedDict, total=False):
    index: int
    id: str
    type: Literal["function"]
    function: FunctionCallRequest
    provider_specific_fields: dict[str, Any]


class ChatMessage(TypedDict, total=False):
    role: str
    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[ToolCall]
    tool_call_id: str
    function_call: FunctionCallRequest
    reasoning_content: str | None


class ChatCompletionRequest(TypedDict, total=False):
    model: str
    messages: list[ChatMessage]
    temperature: float
    top_p: float
    max_tokens: int
    max_completion_tokens: int
    n: int
    stop: str | list[str]
    logprobs: bool
    top_logprobs: int
    frequency_penalty: float
    presence_penalty: float
    seed: int
    modalities: list[str]
    audio: dict[str, str]
    reasoning_effort: str
    thinking: dict[str, Any]
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    functions: list[dict[str, Any]]
    function_call: str | dict[str, Any]
    response_format: dict[str, Any]
    safety_settings: list[dict[str, str]]
    cached_content: str
    labels: dict[str, str]
    stream: bool
    stream_options: dict[str, Any]


class TextCompletionRequest(TypedDict, total=False):
    model: str
    prompt: str | list[str]
    suffix: str | None
    echo: bool
    best_of: int
    logprobs: int | None
    max_tokens: int
    n: int
    stop: str | list[str]
    temperature: float
    top_p: float
    stream: bool


# Usage --------------------------------------------------------------------------------------------


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int
    audio_tokens: int
    image_tokens: int
    text_tokens: int


class CompletionTokensDetails(TypedDict, total=False):
    reasoning_tokens: int
    audio_tokens: int
    image_tokens: int


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


# Chat responses -----------------------------------------------------------------------------------


class ChatCompletionMessage(TypedDict, total=False):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None
    tool_calls: list[ToolCall] | None
    function_call: FunctionCallRequest | None
    audio: dict[str, Any] | None
    images: list[dict[str, Any]]
    provider_specific_fields: dict[str, Any]


class ChatChoice(TypedDict, total=False):
    index: int
    message: ChatCompletionMessage
    finish_reason: str | None
    logprobs: dict[str, Any] | None


class ChatCompletion(TypedDict, total=False):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None


class ChunkDelta(TypedDict, total=False):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None
    tool_calls: list[ToolCall]
    audio: dict[str, Any]
    images: list[dict[str, Any]]
    provider_specific_fields: dict[str, Any]


class ChunkChoice(TypedDict, total=False):
    index: int
    delta: ChunkDelta
    finish_reason: str | None
    logprobs: dict[str, Any] | None


class ChatCompletionChunk(TypedDict, total=False):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None
    system_fingerprint: str | None


# Text completions ---------------------------------------------------------------------------------


class CompletionLogprobs(TypedDict):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class TextCompletionChoice(TypedDict):
    text: str
    index: int
    logprobs: CompletionLogprobs | None
    finish_reason: str | None


class TextCompletion(TypedDict, total=False):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[TextCompletionChoice]
    usage: Usage
    system_fingerprint: str | None


# Embeddings ---------------------------------------------------------------------------------------


class Embedding(TypedDict):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingUsage(TypedDict):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(TypedDict):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
