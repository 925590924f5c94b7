"""OpenAI sampling parameters, stop, n, modalities, audio and reasoning → Gemini's generationConfig.

Native generationConfig keys (``topK``, ``top_k``, ``responseMimeType``…) pass through camelCased and
win over the OpenAI parameter they overlap with. Anything else is an UnsupportedParamsError before
any network call, unless the caller asked to drop unsupported parameters.

reasoning_effort     2.5 (thinkingBudget)   Gemini 3 (thinkingLevel)
"disable" / "none"   0 (Pro: unsupported)   MINIMAL, the least Gemini 3 thinks (Pro: unsupported)
"minimal"            512                    MINIMAL (Pro: LOW, its least)
"low"/"medium"/"high" 1024 / 2048 / 4096    LOW / MEDIUM / HIGH
thinking={"type": "enabled", "budget_tokens": N} sends budget N, or on Gemini 3 the level whose
budget above is nearest. Whenever thinking is asked for, includeThoughts is set so the answer can
carry reasoning_content. On models that never think, turning thinking off sends nothing and
turning it on is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gemgate.errors import BadRequestError, UnsupportedParamsError
from gemgate.translate.model_features import ModelFeatures

# GenerationConfig fields Google serves (v1beta descriptors plus Vertex-only routing/audio fields).
GEMINI_FIELDS = frozenset(
    {
        "candidateCount",
        "stopSequences",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "responseModalities",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTimestamp",
        "routingConfig",
        "modelSelectionConfig",
    }
)
OPENAI_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "stop",
        "logprobs",
        "top_logprobs",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "modalities",
        "audio",
        "reasoning_effort",
        "thinking",
    }
)
MAX_STOP_SEQUENCES = 5  # Google rejects a sixth (GenerationConfig.stop_sequences)
_MODALITIES = {"text": "TEXT", "audio": "AUDIO", "image": "IMAGE"}
_EFFORTS = ("minimal", "low", "medium", "high")
_DISABLING_EFFORTS = ("disable", "none")
_EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 2048, "high": 4096}
# Budget → level: the level whose seed budget is nearest (boundaries halfway between them).
_LEVEL_CEILINGS = ((768, "MINIMAL"), (1536, "LOW"), (3072, "MEDIUM"))
_PENALTIES = (("frequency_penalty", "frequencyPenalty"), ("presence_penalty", "presencePenalty"))
_SNAKE_PART = re.compile(r"_([a-z0-9])")


def translate_generation_config(
    params: Mapping[str, Any], features: ModelFeatures, *, drop_unsupported: bool = False
) -> dict[str, Any]:
    """The generationConfig for ``params`` (request keys other than messages, tools and formats)."""
    present = {key: value for key, value in params.items() if value is not None}
    if not present:
        return {}  # the usual call sets nothing: skip the dozen translations that would say so
    native = _native_fields(present, drop_unsupported)
    config: dict[str, Any] = {}
    for translate in _TRANSLATIONS:
        config.update(translate(present))
    config.update(_output_modalities(present, features, drop_unsupported))
    thinking = _thinking_config(present, features, drop_unsupported)
    thinking.update(_camel_keys(native.pop("thinkingConfig", None) or {}))
    config.update(native)
    if thinking:
        config["thinkingConfig"] = _checked_thinking(thinking)
    return config


def camel_case(name: str) -> str:
    """``top_k`` → ``topK``; camelCase names are returned unchanged."""
    return _SNAKE_PART.sub(lambda match: match.group(1).upper(), name)


def _native_fields(present: Mapping[str, Any], drop_unsupported: bool) -> dict[str, Any]:
    native: dict[str, Any] = {}
    unknown = []
    for key, value in present.items():
        if key in OPENAI_PARAMS:
            continue
        if camel_case(key) in GEMINI_FIELDS:
            native[camel_case(key)] = value
        else:
            unknown.append(key)
    if unknown and not drop_unsupported:
        raise UnsupportedParamsError(
            f"Gemini does not support these parameters: {', '.join(sorted(unknown))}. "
            "Remove them, or pass drop_params=True to drop them."
        )
    return native


# Sampling, lengths, stop and logprobs -------------------------------------------------------------


def _sampling(present: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if "temperature" in present:
        config["temperature"] = _number("temperature", present["temperature"], 0, 2)
    if "top_p" in present:
        config["topP"] = _number("top_p", present["top_p"], 0, 1)
    for name, field in _PENALTIES:
        if name in present:
            config[field] = _number(name, present[name], -2, 2)
    if "seed" in present:
        config["seed"] = _integer("seed", present["seed"], minimum=None)
    if "n" in present:
        # Gemini has no "n"; candidateCount is its twin.
        config["candidateCount"] = _integer("n", present["n"], minimum=1)
    return config


def _max_tokens(present: Mapping[str, Any]) -> dict[str, Any]:
    # max_completion_tokens is OpenAI's successor to max_tokens, so it wins when both are given.
    for name in ("max_completion_tokens", "max_tokens"):
        if name in present:
            return {"maxOutputTokens": _integer(name, present[name], minimum=1)}
    return {}


def _stop(present: Mapping[str, Any]) -> dict[str, Any]:
    stop = present.get("stop")
    if stop is None:
        return {}
    sequences = [stop] if isinstance(stop, str) else stop
    if not isinstance(sequences, list) or not all(isinstance(s, str) for s in sequences):
        raise BadRequestError("stop must be a string or a list of strings.")
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise BadRequestError(
            f"Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences; got {len(sequences)}."
        )
    return {"stopSequences": sequences} if sequences else {}


def _logprobs(present: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    logprobs = present.get("logprobs")
    if isinstance(logprobs, bool):
        config["responseLogprobs"] = logprobs
    elif logprobs is not None:
        # The legacy completions API's logprobs is the number of alternatives per token.
        config.update(responseLogprobs=True, logprobs=_integer("logprobs", logprobs, minimum=0))
    if "top_logprobs" in present:
        top = _integer("top_logprobs", present["top_logprobs"], minimum=0, maximum=20)
        config.update(responseLogprobs=True, logprobs=top)
    return config


_TRANSLATIONS: tuple[Callable[[Mapping[str, Any]], dict[str, Any]], ...] = (
    _sampling,
    _max_tokens,
    _stop,
    _logprobs,
)


# Modalities and speech ----------------------------------------------------------------------------


def _output_modalities(
    present: Mapping[str, Any], features: ModelFeatures, drop_unsupported: bool
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if "modalities" in present:
        modalities = _modalities(present["modalities"])
        if features.is_tts and "AUDIO" in modalities:
            # TTS models answer only in audio and refuse TEXT among the response modalities.
            modalities = ["AUDIO"]
        config["responseModalities"] = modalities
    if "audio" in present:
        config.update(_speech_config(present["audio"], drop_unsupported))
    return config


def _modalities(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(m, str) and m.lower() in _MODALITIES for m in value
    ):
        raise BadRequestError(
            f"modalities must be a list drawn from {sorted(_MODALITIES)}; got {value!r}."
        )
    return list(dict.fromkeys(_MODALITIES[m.lower()] for m in value))


def _speech_config(audio: Any, drop_unsupported: bool) -> dict[str, Any]:
    if not isinstance(audio, Mapping) or not isinstance(audio.get("voice"), str):
        raise BadRequestError('audio must be an object like {"voice": "Kore", "format": "pcm16"}.')
    audio_format = audio.get("format", "pcm16")
    if audio_format != "pcm16":
        # Gemini speech is 24 kHz 16-bit PCM; it cannot encode mp3, wav, opus…
        return _unsupported(
            f"Gemini audio output is pcm16 only; audio.format {audio_format!r} is not supported.",
            drop_unsupported,
        )
    voice = {"prebuiltVoiceConfig": {"voiceName": audio["voice"]}}
    return {"speechConfig": {"voiceConfig": voice}}


# Thinking ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ThinkingRequest:
    """What the caller asked of thinking, before it is fitted to the model's style."""

    enabled: bool
    effort: str | None = None
    budget: int | None = None


def _thinking_config(
    present: Mapping[str, Any], features: ModelFeatures, drop_unsupported: bool
) -> dict[str, Any]:
    wanted = _thinking_request(present)
    if wanted is None:
        return {}
    if features.thinking == "none":
        if not wanted.enabled:
            return {}  # asking a model that never thinks not to think needs nothing sent
        return _unsupported(
            f"{features.model} does not think; remove reasoning_effort/thinking.", drop_unsupported
        )
    if not wanted.enabled and features.is_pro:
        return _unsupported(
            f"{features.model} only works in thinking mode and cannot turn thinking off; "
            'use reasoning_effort="low" for the least thinking.',
            drop_unsupported,
        )
    if features.thinking == "budget":
        return _budget_config(wanted)
    return _level_config(wanted, features)


def _thinking_request(present: Mapping[str, Any]) -> _ThinkingRequest | None:
    effort, thinking = present.get("reasoning_effort"), present.get("thinking")
    if effort is not None and thinking is not None:
        raise BadRequestError("Pass either reasoning_effort or thinking, not both.")
    if effort is not None:
        return _effort_request(effort)
    if thinking is not None:
        return _anthropic_thinking_request(thinking)
    return None


def _effort_request(effort: Any) -> _ThinkingRequest:
    if effort in _DISABLING_EFFORTS:
        return _ThinkingRequest(enabled=False)
    if effort not in _EFFORTS:
        allowed = ", ".join(repr(e) for e in (*_DISABLING_EFFORTS, *_EFFORTS))
        raise BadRequestError(f"reasoning_effort must be one of {allowed}; got {effort!r}.")
    return _ThinkingRequest(enabled=True, effort=effort)


def _anthropic_thinking_request(thinking: Any) -> _ThinkingRequest:
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind == "disabled":
        return _ThinkingRequest(enabled=False)
    if kind != "enabled":
        raise BadRequestError(
            'thinking must be {"type": "enabled", "budget_tokens": N} or {"type": "disabled"}; '
            f"got {thinking!r}."
        )
    budget = thinking.get("budget_tokens")
    if budget is None:
        return _ThinkingRequest(enabled=True)
    budget = _integer("thinking.budget_tokens", budget, minimum=0)
    return _ThinkingRequest(enabled=budget > 0, budget=budget)


def _budget_config(wanted: _ThinkingRequest) -> dict[str, Any]:
    if not wanted.enabled:
        return {"thinkingBudget": 0}
    # Thought summaries are only sent when asked for; reasoning_content needs them.
    config: dict[str, Any] = {"includeThoughts": True}
    budget = wanted.budget if wanted.effort is None else _EFFORT_BUDGETS[wanted.effort]
    if budget is not None:
        config["thinkingBudget"] = budget
    return config


def _level_config(wanted: _ThinkingRequest, features: ModelFeatures) -> dict[str, Any]:
    if not wanted.enabled:
        # Gemini 3 cannot switch thinking off; MINIMAL is the closest level (Flash models only).
        return {"thinkingLevel": "MINIMAL"}
    config: dict[str, Any] = {"includeThoughts": True}
    level = _level_of(wanted)
    if level is not None:
        # Pro models have no MINIMAL level; LOW is the least they think.
        config["thinkingLevel"] = "LOW" if level == "MINIMAL" and features.is_pro else level
    return config


def _level_of(wanted: _ThinkingRequest) -> str | None:
    if wanted.effort is not None:
        return wanted.effort.upper()
    if wanted.budget is None:
        return None
    for ceiling, level in _LEVEL_CEILINGS:
        if wanted.budget <= ceiling:
            return level
    return "HIGH"


def _checked_thinking(thinking: dict[str, Any]) -> dict[str, Any]:
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise BadRequestError(
            "thinkingConfig may set thinkingBudget or thinkingLevel, not both "
            f"(got {thinking['thinkingBudget']!r} and {thinking['thinkingLevel']!r})."
        )
    return thinking


# Checks --------------------------------------------------------------------------------------------


def _camel_keys(value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise BadRequestError(f"thinkingConfig must be an object; got {value!r}.")
    return {camel_case(key): item for key, item in value.items()}


def _unsupported(message: str, drop_unsupported: bool) -> dict[str, Any]:
    if drop_unsupported:
        return {}
    raise UnsupportedParamsError(message + " Pass drop_params=True to drop it instead.")


def _number(name: str, value: Any, low: float, high: float) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{name} must be a number; got {value!r}.")
    if not low <= value <= high:
        raise BadRequestError(f"{name} must be between {low} and {high}; got {value!r}.")
    return value


def _integer(name: str, value: Any, *, minimum: int | None, maximum: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"{name} must be an integer; got {value!r}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise BadRequestError(f"{name} must be {bounds}; got {value}.")
    return value
