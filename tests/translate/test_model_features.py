"""Model ids → what gemgate's translation may ask of the model."""

from __future__ import annotations

import pytest

from gemgate.translate.model_features import features_of


@pytest.mark.parametrize(
    ("model", "version", "thinking"),
    [
        ("gemini-pro", (1, 0), "none"),
        ("gemini-pro-vision", (1, 0), "none"),
        ("gemini-1.5-pro-latest", (1, 5), "none"),
        ("gemini-1.5-flash", (1, 5), "none"),
        ("gemini-2.0-flash", (2, 0), "none"),
        ("gemini-2.0-flash-exp", (2, 0), "none"),
        ("gemini-2.0-flash-lite-preview-02-05", (2, 0), "none"),
        ("gemini-2.5-flash-preview-04-17", (2, 5), "budget"),
        ("gemini-2.5-flash", (2, 5), "budget"),
        ("gemini-2.5-flash-lite", (2, 5), "budget"),
        ("gemini-2.5-pro", (2, 5), "budget"),
        ("gemini-3-flash-preview", (3, 0), "level"),
        ("gemini-3.1-pro-preview", (3, 1), "level"),
        ("gemini-3.5-flash", (3, 5), "level"),
        ("gemini-4-argon", (4, 0), "level"),
        ("gemini-flash-latest", (3, 0), "level"),
        ("gemini-flash-lite-latest", (3, 0), "level"),
        ("gemini-pro-latest", (3, 0), "level"),
        ("gemini-live-2.5-flash-preview", (2, 5), "budget"),
    ],
)
def test_version_and_thinking_style_are_read_from_the_id(
    model: str, version: tuple[int, int], thinking: str
) -> None:
    features = features_of(model)
    assert (features.version, features.thinking) == (version, thinking)


@pytest.mark.parametrize(
    ("model", "is_pro", "can_disable"),
    [
        ("gemini-2.5-pro", True, False),
        ("gemini-3.1-pro-preview", True, False),
        ("gemini-pro-latest", True, False),
        ("gemini-2.5-flash", False, True),
        ("gemini-2.5-flash-preview-04-17", False, True),
        ("gemini-3-flash-preview", False, True),
        ("gemini-2.0-flash", False, False),
    ],
)
def test_pro_models_cannot_turn_thinking_off(model: str, is_pro: bool, can_disable: bool) -> None:
    features = features_of(model)
    assert (features.is_pro, features.can_disable_thinking) == (is_pro, can_disable)


@pytest.mark.parametrize(
    ("model", "json_schema", "signatures"),
    [
        ("gemini-1.5-pro", False, False),
        ("gemini-2.0-flash", False, False),
        ("gemini-2.5-flash", True, False),
        ("gemini-3-flash-preview", True, True),
        ("gemini-3.1-pro-preview", True, True),
        ("gemini-flash-latest", True, True),
    ],
)
def test_json_schema_from_2_5_and_thought_signatures_from_3(
    model: str, json_schema: bool, signatures: bool
) -> None:
    features = features_of(model)
    assert (features.supports_json_schema, features.requires_thought_signatures) == (
        json_schema,
        signatures,
    )


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("gemini-2.5-flash-preview-tts", "tts"),
        ("gemini-2.5-pro-preview-tts", "tts"),
        ("gemini-3.1-flash-tts-preview", "tts"),
        ("gemini-2.0-flash-exp-image-generation", "image"),
        ("gemini-2.5-flash-image", "image"),
        ("gemini-3-pro-image-preview", "image"),
        ("gemini-embedding-001", "embedding"),
        ("text-embedding-005", "embedding"),
        ("text-multilingual-embedding-002", "embedding"),
        ("textembedding-gecko@003", "embedding"),
        ("gemini-2.5-flash", "text"),
    ],
)
def test_output_kind_is_read_from_the_id(model: str, kind: str) -> None:
    features = features_of(model)
    found = [
        name
        for name, flag in (
            ("tts", features.is_tts),
            ("image", features.has_image_output),
            ("embedding", features.is_embedding),
        )
        if flag
    ]
    assert found == ([] if kind == "text" else [kind])


@pytest.mark.parametrize(
    "model", ["gemini-2.5-flash-preview-tts", "gemini-2.5-flash-image", "gemini-embedding-001"]
)
def test_models_that_do_not_generate_text_take_no_thinking_config(model: str) -> None:
    assert features_of(model).thinking == "none"


@pytest.mark.parametrize(
    "model",
    [
        "models/gemini-2.5-flash",
        "publishers/google/models/gemini-2.5-flash",
        "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
        "Gemini-2.5-Flash",
    ],
)
def test_resource_names_and_case_are_tolerated(model: str) -> None:
    assert features_of(model) == features_of("gemini-2.5-flash")
