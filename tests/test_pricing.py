"""cost_of: list prices by model, date, tier, cache, thinking and modality; overrides; name resolution."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from gemgate.pricing import MAX_REMEMBERED_LOOKUPS, PriceTable, bundled_prices, cost_of
from gemgate.translate.usage import Usage

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MILLION = 1_000_000


@pytest.fixture
def table() -> PriceTable:
    # A table of its own per test: the "warned once" memory must not leak between tests.
    return PriceTable.bundled()


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        pytest.param(
            "gemini-2.5-flash",
            Usage(prompt_tokens=MILLION, completion_tokens=0),
            "0.30",
            id="input",
        ),
        pytest.param(
            "gemini-2.5-flash",
            Usage(prompt_tokens=0, completion_tokens=MILLION, reasoning_tokens=900_000),
            "2.50",
            id="thinking-billed-as-output",
        ),
        pytest.param(
            "gemini-2.5-flash",
            Usage(prompt_tokens=MILLION, completion_tokens=0, cached_tokens=400_000),
            "0.192",  # 600k at 0.30 + 400k at 0.03
            id="cached-tokens-at-cache-rate-once",
        ),
        pytest.param(
            "gemini-2.5-flash",
            Usage(prompt_tokens=MILLION, completion_tokens=0, prompt_audio_tokens=250_000),
            "0.475",  # 750k text at 0.30 + 250k audio at 1.00
            id="audio-input-rate",
        ),
        pytest.param(
            "gemini-2.0-flash-lite",
            Usage(prompt_tokens=MILLION, completion_tokens=0, cached_tokens=MILLION),
            "0.075",
            id="no-cache-rate-means-input-rate",
        ),
        pytest.param(
            "gemini-2.5-pro",
            Usage(prompt_tokens=200_000, completion_tokens=1_000),
            "0.26",  # 200k at 1.25 + 1k at 10: exactly 200k stays in the base tier
            id="prompt-at-200k-is-base-tier",
        ),
        pytest.param(
            "gemini-2.5-pro",
            Usage(prompt_tokens=200_001, completion_tokens=1_000),
            "0.5150025",  # the whole request moves: 200001 at 2.50 + 1k at 15
            id="prompt-over-200k-moves-whole-request",
        ),
        pytest.param(
            "gemini-2.5-pro",
            Usage(prompt_tokens=300_000, completion_tokens=0, cached_tokens=100_000),
            "0.525",  # 200k at 2.50 + 100k at the long-context cache rate 0.25
            id="long-context-cache-rate",
        ),
        pytest.param(
            "gemini-live-2.5-flash",
            Usage(prompt_tokens=0, completion_tokens=MILLION, completion_audio_tokens=MILLION),
            "12.00",
            id="audio-output-rate",
        ),
        pytest.param(
            "gemini-2.5-flash-image",
            Usage(prompt_tokens=0, completion_tokens=1294, completion_image_tokens=1290),
            "0.03871",  # 4 text tokens at 2.50 + 1290 image tokens at 30
            id="image-output-rate",
        ),
        pytest.param(
            "gemini-embedding-2",
            Usage(prompt_tokens=MILLION, completion_tokens=0, prompt_image_tokens=MILLION),
            "0.45",
            id="image-input-rate",
        ),
        pytest.param(
            "gemini-embedding-001",
            Usage(prompt_tokens=MILLION, completion_tokens=0),
            "0.15",
            id="embedding",
        ),
    ],
)
def test_cost_uses_the_rate_of_each_kind_of_token(
    table: PriceTable, model: str, usage: Usage, expected: str
) -> None:
    assert cost_of(model, usage, at=NOW, prices=table) == Decimal(expected)


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        ("gemini-2.0-flash", Usage(prompt_tokens=5, completion_tokens=4), "0.000002100"),
        ("gemini-2.5-flash", Usage(prompt_tokens=MILLION, completion_tokens=0), "0.30000000"),
        ("gemini-2.5-flash", Usage(prompt_tokens=1000, completion_tokens=20, cached_tokens=400), "0.00024200"),
        ("gemini-2.5-flash", Usage(prompt_tokens=1000, completion_tokens=0, prompt_audio_tokens=250), "0.00047500"),
        ("gemini-2.5-pro", Usage(prompt_tokens=300_000, completion_tokens=7), "0.75010500"),
        ("gemini-2.0-flash", Usage(prompt_tokens=0, completion_tokens=0), "0E-9"),
    ],
)  # fmt: skip
def test_cost_has_the_scale_of_every_rate_even_for_kinds_without_tokens(
    table: PriceTable, model: str, usage: Usage, expected: str
) -> None:
    # The cost is shown as str(Decimal): the digits must not depend on which kinds were used.
    assert str(cost_of(model, usage, at=NOW, prices=table)) == expected


def test_a_models_only_price_applies_before_its_start_date_too(table: PriceTable) -> None:
    overridden = table.with_overrides({"my-model": {"from": "2030-01-01", "input": 1, "output": 1}})
    usage = Usage(prompt_tokens=MILLION, completion_tokens=0)
    assert cost_of("my-model", usage, at=NOW, prices=overridden) == Decimal(1)


def test_lookups_a_table_remembers_stay_bounded(table: PriceTable) -> None:
    for number in range(MAX_REMEMBERED_LOOKUPS + 10):
        table.prices_of(f"no-such-model-{number}")
    assert len(table._found) <= MAX_REMEMBERED_LOOKUPS
    assert table.prices_of("gemini-2.5-flash") is table.models["gemini-2.5-flash"]


@pytest.mark.parametrize(
    ("model", "at", "expected"),
    [
        ("gemini-4-argon", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "2.00"),
        ("gemini-4-argon", datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "4.00"),
        # 20:00 in New York on 30 November is already 1 December in UTC.
        (
            "gemini-4-argon",
            datetime(2026, 11, 30, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
            "4.00",
        ),
        ("gemini-3.6-flash", datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "0.75"),
        ("gemini-3.6-flash", datetime(2027, 1, 1, tzinfo=UTC), "1.50"),
        ("gemini-3.8-flash-tts", datetime(2027, 6, 1, tzinfo=UTC), "1.00"),
    ],
)
def test_intro_prices_end_on_their_change_date(
    table: PriceTable, model: str, at: datetime, expected: str
) -> None:
    usage = Usage(prompt_tokens=MILLION, completion_tokens=0)
    assert cost_of(model, usage, at=at, prices=table) == Decimal(expected)


@pytest.mark.parametrize(
    ("spelling", "priced_as"),
    [
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini/gemini-2.5-flash", "gemini-2.5-flash"),
        ("vertex_ai/gemini-2.5-pro", "gemini-2.5-pro"),
        ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
        (
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
            "gemini-2.5-flash",
        ),
        ("Gemini-2.5-Flash", "gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-2.5-flash@001", "gemini-2.5-flash"),
        ("gemini/gemini-2.5-flash-preview-04-17", "gemini-2.5-flash"),
        ("gemini-2.5-pro-exp-03-25", "gemini-2.5-pro"),
        ("gemini-2.5-flash-lite-preview-09-2025", "gemini-2.5-flash-lite"),
        ("gemini-3-flash-preview", "gemini-3-flash-preview"),
        ("gemini-3.1-pro-preview-customtools", "gemini-3.1-pro-preview"),
        ("gemini-2.5-flash-preview-tts", "gemini-2.5-flash-preview-tts"),
        ("gemini-live-2.5-flash-preview", "gemini-live-2.5-flash"),
        ("gemini-2.5-flash-native-audio-preview-09-2025", "gemini-live-2.5-flash"),
        ("gemini-embedding-2-preview", "gemini-embedding-2"),
    ],
)
def test_model_spellings_resolve_to_their_price(
    table: PriceTable, spelling: str, priced_as: str
) -> None:
    found = table.prices_of(spelling)
    assert found is not None
    assert found is table.prices_of(priced_as)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-2.5-flash-native-audio-preview-09-2025", "gemini-live-2.5-flash"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
        ("gpt-4o", None),
    ],
)
def test_priced_name_is_the_tables_name_for_a_spelling(
    table: PriceTable, spelling: str, name: str | None
) -> None:
    assert table.priced_name(spelling) == name


@pytest.mark.parametrize(
    "model", ["gpt-4o", "gemini-flash-latest", "gemini-exp-1206", "", "models/"]
)
def test_unknown_model_costs_none(table: PriceTable, model: str) -> None:
    assert (
        cost_of(model, Usage(prompt_tokens=10, completion_tokens=10), at=NOW, prices=table) is None
    )


def test_unknown_model_is_warned_about_once_per_model(
    table: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    usage = Usage(prompt_tokens=1, completion_tokens=1)
    with caplog.at_level(logging.WARNING, logger="gemgate.pricing"):
        for model in ["gpt-4o", "gpt-4o", "claude-x", "gpt-4o"]:
            cost_of(model, usage, at=NOW, prices=table)
    warned = [record.getMessage() for record in caplog.records]
    assert len(warned) == 2
    assert "gpt-4o" in warned[0] and "claude-x" in warned[1]


# Every Standard-tier model of the reference price list, so a typo in the data shows up here.
LISTED_MODELS = [
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-3-pro-preview",
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.6-flash",
    "gemini-3.7-flash",
    "gemini-3.8-flash",
    "gemini-4-argon",
    "gemini-embedding-001",
    "gemini-embedding-2",
    "gemini-2.5-flash-preview-tts",
    "gemini-2.5-pro-preview-tts",
    "gemini-3.1-flash-tts-preview",
    "gemini-3.8-flash-tts",
    "gemini-3.8-flash-lite-tts",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "gemini-live-2.5-flash",
    "gemini-3.1-flash-live-preview",
    "gemini-3.8-live",
]


@pytest.mark.parametrize("model", LISTED_MODELS)
def test_bundled_table_prices_every_listed_model(table: PriceTable, model: str) -> None:
    assert table.price_at(model, NOW) is not None


def test_bundled_prices_are_read_once_and_shared() -> None:
    assert bundled_prices() is bundled_prices()


def test_cost_without_a_table_uses_the_bundled_prices() -> None:
    usage = Usage(prompt_tokens=MILLION, completion_tokens=MILLION)
    assert cost_of("gemini-2.5-flash", usage, at=NOW) == Decimal("2.80")


def test_override_replaces_a_models_prices_and_leaves_the_original_alone(table: PriceTable) -> None:
    overridden = table.with_overrides({"gemini/gemini-2.5-flash": {"input": 0.2, "output": "2"}})
    usage = Usage(prompt_tokens=MILLION, completion_tokens=MILLION, cached_tokens=MILLION)
    # Nothing said about caching: cached tokens fall back to the overridden input rate.
    assert cost_of("gemini-2.5-flash", usage, at=NOW, prices=overridden) == Decimal("2.2")
    assert cost_of("gemini-2.5-flash", usage, at=NOW, prices=table) == Decimal("2.53")


def test_override_adds_a_model_with_dated_prices_and_a_long_context_tier(table: PriceTable) -> None:
    overridden = table.with_overrides(
        {
            "my-tuned-gemini": [
                {"input": 1, "output": 2, "long_context": {"above": 10, "input": 3}},
                {"from": "2027-01-01", "input": 5, "output": 6},
            ]
        }
    )
    short, long = (
        Usage(prompt_tokens=10, completion_tokens=0),
        Usage(prompt_tokens=11, completion_tokens=0),
    )
    assert cost_of("my-tuned-gemini", short, at=NOW, prices=overridden) == Decimal("0.00001")
    assert cost_of("my-tuned-gemini", long, at=NOW, prices=overridden) == Decimal("0.000033")
    later = datetime(2027, 1, 2, tzinfo=UTC)
    assert cost_of("my-tuned-gemini", long, at=later, prices=overridden) == Decimal("0.000055")


def test_override_with_a_model_name_prices_it_like_that_model(table: PriceTable) -> None:
    overridden = table.with_overrides({"gemini-flash-latest": "gemini-3.5-flash"})
    usage = Usage(prompt_tokens=MILLION, completion_tokens=0)
    assert cost_of("gemini/gemini-flash-latest", usage, at=NOW, prices=overridden) == Decimal(
        "1.50"
    )


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"input": "0.1"}, "'output'"),
        ({"input": -1, "output": 1}, "input must be a non-negative number"),
        ({"input": True, "output": 1}, "input must be a non-negative number"),
        ({"input": "cheap", "output": 1}, "input must be a non-negative number"),
        ({"input": "NaN", "output": 1}, "input must be a non-negative number"),
        ({"input": 1, "ouput": 1}, "unknown keys ['ouput']"),
        ({"input": 1, "output": 1, "from": "next year"}, "YYYY-MM-DD"),
        ({"input": 1, "output": 1, "long_context": {"input": 2}}, "long_context"),
        (
            {"input": 1, "output": 1, "long_context": {"above": 5, "from": "2027-01-01"}},
            "long_context",
        ),
        ([{"input": 1, "output": 1}, {"input": 2, "output": 2}], "same date"),
        ([], "no price"),
        ("no-such-model", "leads to no priced model"),
        (42, "expected an object of rates"),
    ],
)
def test_malformed_override_is_a_clear_value_error(
    table: PriceTable, entry: Any, complaint: str
) -> None:
    with pytest.raises(ValueError, match="my-model|no priced model") as raised:
        table.with_overrides({"my-model": entry})
    assert complaint in str(raised.value)
