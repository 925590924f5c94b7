"""Legacy /v1/completions: a prompt becomes a one-message chat request; chat answers become text completions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemgate.errors import BadRequestError, UnsupportedParamsError
from gemgate.types.openai import CompletionLogprobs, TextCompletion, TextCompletionChoice

# Parameters of the completions API that Gemini cannot honour, and why.
_UNSUPPORTED = {
    "suffix": "Gemini has no insertion (fill-in-the-middle) mode, so suffix is not supported.",
    "echo": "Gemini does not echo the prompt, so echo=True is not supported.",
    "best_of": "Gemini does not rank extra server-side samples, so best_of is not supported; use n.",
}


def chat_request_from_completion(
    request: Mapping[str, Any], *, drop_unsupported: bool = False
) -> dict[str, Any]:
    """The OpenAI chat request equivalent to completions ``request`` (prompt → one user message)."""
    prompt = _prompt(request.get("prompt"))
    unsupported = [name for name in _UNSUPPORTED if _is_unsupported(name, request)]
    if unsupported and not drop_unsupported:
        reasons = " ".join(_UNSUPPORTED[name] for name in unsupported)
        raise UnsupportedParamsError(f"{reasons} Pass drop_params=True to drop them instead.")
    chat = {
        key: value for key, value in request.items() if key != "prompt" and key not in _UNSUPPORTED
    }
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def completion_response_from_chat(chat: Mapping[str, Any]) -> TextCompletion:
    """An OpenAI ``text_completion`` object from a ``chat.completion`` one."""
    completion = _envelope(chat)
    completion["choices"] = [_choice(choice) for choice in chat.get("choices") or []]
    if chat.get("usage") is not None:
        completion["usage"] = chat["usage"]
    return completion


def completion_chunk_from_chat_chunk(chunk: Mapping[str, Any]) -> TextCompletion | None:
    """The text-completion stream chunk for a ``chat.completion.chunk``; None when it has no text.

    Chunks carrying only a role, reasoning or tool-call deltas have no text-completion equivalent.
    """
    choices = [
        _chunk_choice(choice)
        for choice in chunk.get("choices") or []
        if (choice.get("delta") or {}).get("content") or choice.get("finish_reason")
    ]
    usage = chunk.get("usage")
    if not choices and usage is None:
        return None
    completion = _envelope(chunk)
    completion["choices"] = choices
    if usage is not None:
        completion["usage"] = usage
    return completion


def _prompt(prompt: Any) -> str:
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, str) and prompt:
        return prompt
    if isinstance(prompt, list) and len(prompt) > 1 and all(isinstance(p, str) for p in prompt):
        raise BadRequestError(
            f"prompt holds {len(prompt)} prompts; gemgate sends one prompt per request. "
            "Send one request per prompt (n= asks for several completions of one prompt)."
        )
    if isinstance(prompt, list) and prompt and all(isinstance(p, int | list) for p in prompt):
        raise BadRequestError("prompt as token ids is not supported by Gemini; send text.")
    raise BadRequestError(f"prompt must be a non-empty string; got {prompt!r}.")


def _is_unsupported(name: str, request: Mapping[str, Any]) -> bool:
    value = request.get(name)
    if name == "best_of":
        # best_of equal to n returns every sample, which is what n alone does.
        return value is not None and value not in (1, request.get("n") or 1)
    return bool(value)


def _envelope(chat: Mapping[str, Any]) -> TextCompletion:
    chat_id = str(chat.get("id") or "")
    completion: TextCompletion = {
        "id": "cmpl-" + chat_id.removeprefix("chatcmpl-").removeprefix("cmpl-"),
        "object": "text_completion",
        "created": chat.get("created", 0),
        "model": chat.get("model", ""),
    }
    if chat.get("system_fingerprint") is not None:
        completion["system_fingerprint"] = chat["system_fingerprint"]
    return completion


def _choice(choice: Mapping[str, Any]) -> TextCompletionChoice:
    message = choice.get("message") or {}
    return {
        "text": message.get("content") or "",
        "index": choice.get("index", 0),
        "logprobs": _logprobs(choice.get("logprobs")),
        "finish_reason": choice.get("finish_reason"),
    }


def _chunk_choice(choice: Mapping[str, Any]) -> TextCompletionChoice:
    delta = choice.get("delta") or {}
    return {
        "text": delta.get("content") or "",
        "index": choice.get("index", 0),
        "logprobs": _logprobs(choice.get("logprobs")),
        "finish_reason": choice.get("finish_reason"),
    }


def _logprobs(chat_logprobs: Mapping[str, Any] | None) -> CompletionLogprobs | None:
    """Chat logprobs (one entry per token) → the completions API's parallel lists."""
    entries = (chat_logprobs or {}).get("content")
    if not entries:
        return None
    logprobs: CompletionLogprobs = {
        "tokens": [],
        "token_logprobs": [],
        "top_logprobs": [],
        "text_offset": [],
    }
    offset = 0
    for entry in entries:
        logprobs["tokens"].append(entry["token"])
        logprobs["token_logprobs"].append(entry["logprob"])
        alternatives = entry.get("top_logprobs") or []
        logprobs["top_logprobs"].append({alt["token"]: alt["logprob"] for alt in alternatives})
        logprobs["text_offset"].append(offset)
        offset += len(entry["token"])
    return logprobs
