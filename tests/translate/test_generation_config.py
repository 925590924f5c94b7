"""OpenAI parameters → the exact generationConfig fragment Gemini receives."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.emulator import schema
from gemgate.emulator.models import find_model
from gemgate.emulator.request_rules import check_generate
from gemgate.errors import BadRequestError, UnsupportedParamsError
from gemgate.translate.generation_config import camel_case, translate_generation_config
from gemgate.translate.model_features import features_of

FLASH_25 = "gemini-2.5-flash-preview-04-17"
PRO_25 = "gemini-2.5-pro"
FLASH_3 = "gemini-3-flash-preview"
PRO_3 = "gemini-3.1-pro-preview"
FLASH_20 = "gemini-2.0-flash"
TTS = "gemini-2.5-flash-preview-tts"


def config_for(model: str, **params: Any) -> dict[str, Any]:
    config = translate_generation_config(params, features_of(model))
    _assert_google_accepts(model, config)
    return config


def _assert_google_accepts(model: str, config: dict[str, Any]) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}
    info = find_model(model)
    assert info is not None
    for is_vertex in (False, True):
        schema.check_request("GenerateContentRequest", body, is_vertex=is_vertex)
        check_generate(body, info, is_vertex=is_vertex)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"temperature": 0.2}, {"temperature": 0.2}),
        ({"temperature": 0}, {"temperature": 0}),
        ({"top_p": 0.9}, {"topP": 0.9}),
        ({"max_tokens": 100}, {"maxOutputTokens": 100}),
        ({"max_completion_tokens": 200}, {"maxOutputTokens": 200}),
        ({"max_tokens": 100, "max_completion_tokens": 200}, {"maxOutputTokens": 200}),
        ({"n": 2}, {"candidateCount": 2}),
        ({"stop": "END"}, {"stopSequences": ["END"]}),
        ({"stop": ["a", "b"]}, {"stopSequences": ["a", "b"]}),
        ({"stop": []}, {}),
        ({"logprobs": True}, {"responseLogprobs": True}),
        ({"logprobs": False}, {"responseLogprobs": False}),
        ({"logprobs": True, "top_logprobs": 3}, {"responseLogprobs": True, "logprobs": 3}),
        ({"logprobs": 2}, {"responseLogprobs": True, "logprobs": 2}),
        ({"frequency_penalty": 0.5}, {"frequencyPenalty": 0.5}),
        ({"presence_penalty": -0.5}, {"presencePenalty": -0.5}),
        ({"seed": 42}, {"seed": 42}),
        ({"modalities": ["text"]}, {"responseModalities": ["TEXT"]}),
        ({"temperature": None, "max_tokens": None}, {}),
        ({}, {}),
    ],
)
def test_openai_parameters_map_to_generation_config(
    params: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert config_for(FLASH_25, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        (
            "gemini-2.0-flash-exp-image-generation",
            {"modalities": ["image", "text"]},
            ["IMAGE", "TEXT"],
        ),
        ("gemini-2.5-flash-image", {"modalities": ["text", "image"]}, ["TEXT", "IMAGE"]),
        (TTS, {"modalities": ["audio"]}, ["AUDIO"]),
        (TTS, {"modalities": ["text", "audio"]}, ["AUDIO"]),
    ],
)
def test_modalities_become_upper_case_response_modalities(
    model: str, params: dict[str, Any], expected: list[str]
) -> None:
    assert config_for(model, **params)["responseModalities"] == expected


def test_tts_voice_becomes_a_prebuilt_voice_config() -> None:
    config = config_for(TTS, modalities=["audio"], audio={"voice": "Kore", "format": "pcm16"})
    assert config == {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    }


def test_tts_with_system_sampling_parameters_keeps_them() -> None:
    config = config_for(
        "gemini-2.5-pro-preview-tts",
        modalities=["audio"],
        audio={"voice": "Charon", "format": "pcm16"},
        temperature=0.7,
        max_tokens=150,
    )
    assert config["temperature"] == 0.7 and config["maxOutputTokens"] == 150
    assert config["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Charon"


@pytest.mark.parametrize("audio_format", ["mp3", "wav", "opus"])
def test_audio_formats_other_than_pcm16_are_unsupported(audio_format: str) -> None:
    with pytest.raises(UnsupportedParamsError, match="pcm16"):
        translate_generation_config(
            {"audio": {"voice": "Kore", "format": audio_format}}, features_of(TTS)
        )


def test_unsupported_audio_format_is_dropped_on_request() -> None:
    config = translate_generation_config(
        {"modalities": ["audio"], "audio": {"voice": "Kore", "format": "mp3"}},
        features_of(TTS),
        drop_unsupported=True,
    )
    assert config == {"responseModalities": ["AUDIO"]}


# Reasoning ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        (FLASH_25, "disable", {"thinkingBudget": 0}),
        (FLASH_25, "none", {"thinkingBudget": 0}),
        (FLASH_25, "minimal", {"includeThoughts": True, "thinkingBudget": 512}),
        (FLASH_25, "low", {"includeThoughts": True, "thinkingBudget": 1024}),
        (FLASH_25, "medium", {"includeThoughts": True, "thinkingBudget": 2048}),
        (FLASH_25, "high", {"includeThoughts": True, "thinkingBudget": 4096}),
        (PRO_25, "low", {"includeThoughts": True, "thinkingBudget": 1024}),
        (FLASH_3, "disable", {"thinkingLevel": "MINIMAL"}),
        (FLASH_3, "none", {"thinkingLevel": "MINIMAL"}),
        (FLASH_3, "minimal", {"includeThoughts": True, "thinkingLevel": "MINIMAL"}),
        (FLASH_3, "low", {"includeThoughts": True, "thinkingLevel": "LOW"}),
        (FLASH_3, "medium", {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
        (FLASH_3, "high", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        (PRO_3, "minimal", {"includeThoughts": True, "thinkingLevel": "LOW"}),
        (PRO_3, "high", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        ("gemini-flash-latest", "low", {"includeThoughts": True, "thinkingLevel": "LOW"}),
    ],
)
def test_reasoning_effort_maps_to_the_models_thinking_style(
    model: str, effort: str, thinking: dict[str, Any]
) -> None:
    assert config_for(model, reasoning_effort=effort) == {"thinkingConfig": thinking}


@pytest.mark.parametrize(
    ("model", "thinking", "expected"),
    [
        (
            FLASH_25,
            {"type": "enabled", "budget_tokens": 1024},
            {"includeThoughts": True, "thinkingBudget": 1024},
        ),
        (
            PRO_25,
            {"type": "enabled", "budget_tokens": 8000},
            {"includeThoughts": True, "thinkingBudget": 8000},
        ),
        (FLASH_25, {"type": "enabled"}, {"includeThoughts": True}),
        (FLASH_25, {"type": "disabled"}, {"thinkingBudget": 0}),
        (FLASH_25, {"type": "enabled", "budget_tokens": 0}, {"thinkingBudget": 0}),
        (
            FLASH_3,
            {"type": "enabled", "budget_tokens": 256},
            {"includeThoughts": True, "thinkingLevel": "MINIMAL"},
        ),
        (
            FLASH_3,
            {"type": "enabled", "budget_tokens": 1024},
            {"includeThoughts": True, "thinkingLevel": "LOW"},
        ),
        (
            FLASH_3,
            {"type": "enabled", "budget_tokens": 2500},
            {"includeThoughts": True, "thinkingLevel": "MEDIUM"},
        ),
        (
            FLASH_3,
            {"type": "enabled", "budget_tokens": 30000},
            {"includeThoughts": True, "thinkingLevel": "HIGH"},
        ),
        (
            PRO_3,
            {"type": "enabled", "budget_tokens": 100},
            {"includeThoughts": True, "thinkingLevel": "LOW"},
        ),
        (FLASH_3, {"type": "disabled"}, {"thinkingLevel": "MINIMAL"}),
    ],
)
def test_anthropic_thinking_maps_to_budget_or_nearest_level(
    model: str, thinking: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert config_for(model, thinking=thinking) == {"thinkingConfig": expected}


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (PRO_25, {"reasoning_effort": "disable"}),
        (PRO_25, {"thinking": {"type": "disabled"}}),
        (PRO_3, {"reasoning_effort": "none"}),
        (PRO_3, {"thinking": {"type": "enabled", "budget_tokens": 0}}),
    ],
)
def test_pro_models_refuse_to_turn_thinking_off(model: str, params: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="cannot turn thinking off"):
        translate_generation_config(params, features_of(model))


def test_pro_thinking_off_is_dropped_on_request() -> None:
    params = {"reasoning_effort": "disable", "temperature": 1}
    assert translate_generation_config(params, features_of(PRO_25), drop_unsupported=True) == {
        "temperature": 1
    }


@pytest.mark.parametrize(
    "params",
    [
        {"reasoning_effort": "disable"},
        {"reasoning_effort": "none"},
        {"thinking": {"type": "disabled"}},
    ],
)
def test_turning_thinking_off_on_a_model_that_never_thinks_sends_nothing(
    params: dict[str, Any],
) -> None:
    assert config_for(FLASH_20, **params) == {}


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (FLASH_20, {"reasoning_effort": "low"}),
        ("gemini-1.5-pro", {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
        (TTS, {"reasoning_effort": "high"}),
    ],
)
def test_asking_a_model_that_never_thinks_to_think_is_unsupported(
    model: str, params: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="does not think"):
        translate_generation_config(params, features_of(model))
    assert translate_generation_config(params, features_of(model), drop_unsupported=True) == {}


@pytest.mark.parametrize(
    "params",
    [
        {"reasoning_effort": "extreme"},
        {"reasoning_effort": 3},
        {"thinking": {"type": "on"}},
        {"thinking": "enabled"},
        {"thinking": {"type": "enabled", "budget_tokens": -5}},
        {"thinking": {"type": "enabled", "budget_tokens": "many"}},
        {"reasoning_effort": "low", "thinking": {"type": "enabled", "budget_tokens": 1024}},
    ],
)
def test_malformed_reasoning_parameters_are_bad_requests(params: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError) as raised:
        translate_generation_config(params, features_of(FLASH_25))
    assert not isinstance(raised.value, UnsupportedParamsError)


def test_native_thinking_config_merges_over_reasoning_effort() -> None:
    config = config_for(
        FLASH_25, reasoning_effort="low", thinking_config={"include_thoughts": False}
    )
    assert config == {"thinkingConfig": {"includeThoughts": False, "thinkingBudget": 1024}}


def test_budget_and_level_are_never_sent_together() -> None:
    with pytest.raises(BadRequestError, match="not both"):
        translate_generation_config(
            {"reasoning_effort": "low", "thinkingConfig": {"thinkingLevel": "LOW"}},
            features_of(FLASH_25),
        )


# Gemini-native keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"topK": 1}, {"topK": 1}),
        ({"top_k": 40}, {"topK": 40}),
        ({"responseMimeType": "application/json"}, {"responseMimeType": "application/json"}),
        ({"response_mime_type": "text/x.enum"}, {"responseMimeType": "text/x.enum"}),
        ({"mediaResolution": "MEDIA_RESOLUTION_LOW"}, {"mediaResolution": "MEDIA_RESOLUTION_LOW"}),
        ({"candidate_count": 2}, {"candidateCount": 2}),
        ({"thinkingConfig": {"thinkingBudget": 300}}, {"thinkingConfig": {"thinkingBudget": 300}}),
        ({"max_tokens": 10, "maxOutputTokens": 20}, {"maxOutputTokens": 20}),
    ],
)
def test_gemini_generation_config_keys_pass_through_camel_cased(
    params: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert config_for(FLASH_25, **params) == expected


def test_unknown_parameters_are_listed_in_one_error() -> None:
    with pytest.raises(UnsupportedParamsError, match="logit_bias, prediction"):
        translate_generation_config(
            {"prediction": {}, "logit_bias": {"1": 2}, "temperature": 1}, features_of(FLASH_25)
        )


def test_unknown_parameters_are_dropped_on_request() -> None:
    config = translate_generation_config(
        {"logit_bias": {"1": 2}, "temperature": 1}, features_of(FLASH_25), drop_unsupported=True
    )
    assert config == {"temperature": 1}


# Values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": "hot"},
        {"temperature": True},
        {"temperature": 2.5},
        {"temperature": -0.1},
        {"top_p": 1.5},
        {"n": 0},
        {"n": 1.5},
        {"n": "2"},
        {"max_tokens": 0},
        {"max_completion_tokens": -1},
        {"seed": "x"},
        {"stop": 5},
        {"stop": ["ok", 1]},
        {"stop": ["a", "b", "c", "d", "e", "f"]},
        {"top_logprobs": 21},
        {"frequency_penalty": 3},
        {"modalities": "text"},
        {"modalities": ["video"]},
        {"audio": "Kore"},
        {"audio": {"format": "pcm16"}},
        {"thinkingConfig": "on"},
    ],
)
def test_malformed_values_are_bad_requests(params: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError) as raised:
        translate_generation_config(params, features_of(FLASH_25))
    assert type(raised.value) is BadRequestError


def test_integral_floats_are_accepted_as_integers() -> None:
    assert config_for(FLASH_25, n=2.0, max_tokens=64.0) == {
        "candidateCount": 2,
        "maxOutputTokens": 64,
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [("top_k", "topK"), ("response_mime_type", "responseMimeType"), ("topK", "topK")],
)
def test_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected
