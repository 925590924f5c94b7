"""What bench/keys_overhead.py compares: the gateway without a database, with one and the master
key, with a virtual key that has a budget and limits (on memory or Redis counters), and in which
order each round runs them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.proxy_load_scenarios import ALIAS, MASTER_KEY, UPSTREAM_KEY, UPSTREAM_MODEL

# Limits set on the virtual key: all checked on every request, none ever reached in a run
# (4 000 req/s of 20 tokens each is 240 000 requests and 4.8 M tokens a minute).
KEY_FIELDS: dict[str, Any] = {
    "key_alias": "bench-key",
    "max_budget": 1_000_000,
    "budget_duration": "30d",
    "rpm_limit": 1_000_000_000,
    "tpm_limit": 1_000_000_000,
}


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of running the gateway under the same non-streaming chat load."""

    name: str  # "a" .. "d", as the report refers to them
    label: str
    has_database: bool = False
    has_virtual_key: bool = False
    has_redis: bool = False


NO_DATABASE = Variant("a", "no database, master key")
DATABASE = Variant("b", "SQLite + spend journal, master key", has_database=True)
VIRTUAL_KEY = Variant(
    "c", "SQLite + journal, virtual key (budget, rpm, tpm)", has_database=True, has_virtual_key=True
)
VIRTUAL_KEY_REDIS = Variant(
    "d", "(c) with Redis counters", has_database=True, has_virtual_key=True, has_redis=True
)
VARIANTS = (NO_DATABASE, DATABASE, VIRTUAL_KEY, VIRTUAL_KEY_REDIS)


def round_order(variants: Sequence[Variant], round_index: int) -> list[Variant]:
    """The variants of round ``round_index``, rotated so that each one also runs first and last
    (a machine that slows down or speeds up during a run then hits every variant alike)."""
    if not variants:
        return []
    shift = round_index % len(variants)
    return [*variants[shift:], *variants[:shift]]


def gateway_config(
    variant: Variant, upstream_url: str, folder: Path, redis_url: str | None = None
) -> str:
    """The config.yaml of ``variant``'s gateway: one model at the upstream, the master key on,
    and the database (with its journal) in ``folder`` when the variant has one."""
    lines = [
        "model_list:",
        f"  - model_name: {ALIAS}",
        f"    params: {{model: gemini/{UPSTREAM_MODEL}, api_key: {UPSTREAM_KEY}, "
        f'api_base: "{upstream_url}"}}',
        "general_settings:",
        f"  master_key: {MASTER_KEY}",
    ]
    if variant.has_database:
        lines += [
            f'  database_url: "sqlite:///{folder / "gemgate.db"}"',
            f'  spend_journal: "{folder / "journal"}"',
        ]
    if variant.has_redis:
        if redis_url is None:
            raise ValueError(f"variant {variant.name} needs a Redis URL")
        lines.append(f'  redis_url: "{redis_url}"')
    return "\n".join(lines) + "\n"
