"""The variants of bench/keys_overhead.py: their gateway configs and the order each round runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.keys_overhead_variants import (
    DATABASE,
    KEY_FIELDS,
    NO_DATABASE,
    VARIANTS,
    VIRTUAL_KEY,
    VIRTUAL_KEY_REDIS,
    Variant,
    gateway_config,
    round_order,
)

from gemgate.proxy.config import ProxyConfig, parse_config
from gemgate.proxy.key_requests import KeyFields

UPSTREAM = "http://127.0.0.1:9999"
REDIS = "redis://127.0.0.1:6390/0"


def _config(variant: Variant, folder: Path) -> ProxyConfig:
    return parse_config(gateway_config(variant, UPSTREAM, folder, REDIS), {})


@pytest.mark.parametrize(("round_index", "first"), [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "a")])  # fmt: skip
def test_each_round_starts_with_the_next_variant(round_index: int, first: str) -> None:
    assert round_order(VARIANTS, round_index)[0].name == first


@pytest.mark.parametrize("round_index", range(4))
def test_every_round_runs_every_variant_once(round_index: int) -> None:
    assert sorted(v.name for v in round_order(VARIANTS, round_index)) == ["a", "b", "c", "d"]


def test_no_variants_make_an_empty_round() -> None:
    assert round_order([], 2) == []


def test_the_keyless_variant_has_no_database(tmp_path: Path) -> None:
    settings = _config(NO_DATABASE, tmp_path).general_settings
    assert settings.database_url is None and settings.redis_url is None
    assert settings.master_key is not None


@pytest.mark.parametrize("variant", [DATABASE, VIRTUAL_KEY])
def test_database_variants_keep_sqlite_and_the_journal_in_their_folder(variant: Variant, tmp_path: Path) -> None:  # fmt: skip
    config = _config(variant, tmp_path)
    settings = config.general_settings
    assert settings.database_url == f"sqlite:///{tmp_path / 'gemgate.db'}"
    assert settings.spend_journal == str(tmp_path / "journal")
    assert settings.redis_url is None and not config.warnings


def test_the_redis_variant_counts_in_redis(tmp_path: Path) -> None:
    assert _config(VIRTUAL_KEY_REDIS, tmp_path).general_settings.redis_url == REDIS


def test_the_redis_variant_needs_a_redis_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Redis"):
        gateway_config(VIRTUAL_KEY_REDIS, UPSTREAM, tmp_path)


def test_the_virtual_key_has_a_budget_a_period_and_both_limits() -> None:
    fields = KeyFields.model_validate(KEY_FIELDS)
    assert fields.max_budget and fields.budget_duration == "30d"
    assert fields.rpm_limit and fields.tpm_limit
