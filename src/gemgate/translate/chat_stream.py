"""`ChatStreamTranslator`: Gemini stream chunks → OpenAI ``chat.completion.chunk`` dicts (state, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from gemgate.translate.chat_response import (
    PartsContent,
    audio_of,
    candidate_fields,
    finish_reason_of,
    logprobs_of,
    raise_for_blocked_prompt,
    read_parts,
)
from gemgate.translate.error_bodies import error_from_google
from gemgate.translate.usage import Usage, openai_usage, read_usage
from gemgate.types import openai as openai_types
from gemgate.types.gemini import Candidate, GenerateContentResponse


@dataclass(slots=True)
class _ChoiceState:
    has_sent_role: bool = False
    tool_calls: int = 0


class ChatStreamTranslator:
    """Turns each Gemini stream chunk into the OpenAI chunks it stands for.

    Gemini sends whole function calls, one or more per chunk, so each tool call goes out complete
    (id, name, arguments, thought signature) in one delta. Usage is cumulative in Gemini's chunks;
    the last one counts.
    """

    def __init__(
        self,
        *,
        model: str,
        response_id: str,
        created: int,
        include_usage: bool,
        provider: str = "gemini",
    ) -> None:
        self._model = model
        self._response_id = response_id
        self._created = created
        self._include_usage = include_usage
        self._provider = provider
        self._choices: dict[int, _ChoiceState] = {}
        self._usage: Usage | None = None

    @property
    def usage(self) -> Usage | None:
        """The usage Gemini last reported (None until a chunk carried usageMetadata)."""
        return self._usage

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The OpenAI chunks for one Gemini chunk (none when it only carried usage).

        Raises:
            GemgateError: the chunk is Google's error object (the stream failed midway).
            ContentPolicyViolationError: Gemini blocked the prompt.
        """
        if "error" in chunk:
            raise self._error(chunk)
        body = cast(GenerateContentResponse, chunk)
        if body.get("usageMetadata"):
            self._usage = read_usage(body.get("usageMetadata"))
        raise_for_blocked_prompt(body, model=self._model)
        translated = (
            self._translate_candidate(candidate, position)
            for position, candidate in enumerate(body.get("candidates") or [])
        )
        return [out for out in translated if out is not None]

    def finish(self) -> list[dict[str, Any]]:
        """The chunks that end the stream: the usage chunk when ``include_usage`` was asked."""
        if not self._include_usage:
            return []
        usage = self._usage or Usage(prompt_tokens=0, completion_tokens=0)
        last = self._envelope([])
        last["usage"] = cast(openai_types.Usage, openai_usage(usage))
        return [cast(dict[str, Any], last)]

    def _translate_candidate(self, candidate: Candidate, position: int) -> dict[str, Any] | None:
        index = candidate.get("index", position)
        state = self._choices.setdefault(index, _ChoiceState())
        content = read_parts(
            (candidate.get("content") or {}).get("parts") or [],
            response_id=self._response_id,
            candidate=index,
            first_position=state.tool_calls,
        )
        delta = self._delta(candidate, content, state, index)
        finish_reason = finish_reason_of(
            candidate.get("finishReason"), has_tool_calls=state.tool_calls > 0
        )
        logprobs = logprobs_of(candidate)
        if not delta and finish_reason is None and logprobs is None:
            return None
        choice: openai_types.ChunkChoice = {
            "index": index,
            "delta": delta,
            "finish_reason": finish_reason,
            "logprobs": logprobs,
        }
        return cast(dict[str, Any], self._envelope([choice]))

    def _delta(
        self, candidate: Candidate, content: PartsContent, state: _ChoiceState, index: int
    ) -> openai_types.ChunkDelta:
        delta: openai_types.ChunkDelta = {}
        if not state.has_sent_role:
            delta["role"] = "assistant"
            state.has_sent_role = True
        if content.text is not None:
            delta["content"] = content.text
        if content.reasoning is not None:
            delta["reasoning_content"] = content.reasoning
        if content.tool_calls:
            delta["tool_calls"] = [
                {"index": state.tool_calls + offset, **call}
                for offset, call in enumerate(content.tool_calls)
            ]
            state.tool_calls += len(content.tool_calls)
        audio_id = f"audio_{self._response_id}_{index}"
        if (audio := audio_of(content, audio_id=audio_id, created=self._created)) is not None:
            delta["audio"] = audio
        if content.images:
            delta["images"] = content.images
        if fields := candidate_fields(candidate, content):
            delta["provider_specific_fields"] = fields
        return delta

    def _envelope(
        self, choices: list[openai_types.ChunkChoice]
    ) -> openai_types.ChatCompletionChunk:
        return {
            "id": self._response_id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": choices,
        }

    def _error(self, chunk: dict[str, Any]) -> Exception:
        # The HTTP status was 200 when the stream began; the error object carries the real code.
        detail = chunk.get("error")
        code = detail.get("code") if isinstance(detail, dict) else None
        status_code = code if isinstance(code, int) and code >= 400 else 500
        return error_from_google(status_code, chunk, provider=self._provider, model=self._model)
