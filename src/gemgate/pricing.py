"""The cost of a request in USD: `cost_of(model, usage, at)`, pure over a `PriceTable` of list prices.

Prices are data (``gemgate/data/prices.json``), read once on first use; user overrides from config
come in through `PriceTable.with_overrides`. The reasons for shipping our own table rather than
depending on ``genai-prices`` are in docs/decisions.md.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from gemgate.translate.usage import Usage

logger = logging.getLogger(__name__)

RATE_NAMES = (
    "input",
    "output",
    "cache_read",
    "audio_input",
    "audio_output",
    "image_input",
    "image_output",
)
# A rate left out is billed like the plain input or output token of the same request.
_FALLBACK_RATE = {
    "cache_read": "input",
    "audio_input": "input",
    "image_input": "input",
    "audio_output": "output",
    "image_output": "output",
}
# Model spellings whose lookup a table remembers before it starts over.
MAX_REMEMBERED_LOOKUPS = 1024
_ENTRY_KEYS = frozenset({*RATE_NAMES, "from", "long_context", "note"})
# Version and release suffixes Google appends to a model id: -001, @001, -preview-04-17,
# -preview-09-2025, -exp-03-25, -latest. They are stripped one at a time until a price is found.
_SUFFIX = re.compile(
    r"(?:-\d{3}|@[\w.]+|-\d{2}-\d{2}|-\d{2}-\d{4}|-\d{4}-\d{2}-\d{2}|-preview|-exp|-experimental|-latest)$"
)


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per 1 million tokens of each kind."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    audio_input: Decimal
    audio_output: Decimal
    image_input: Decimal
    image_output: Decimal
    # Zero times every rate, summed: a zero as finely scaled as the finest rate (see Price.cost).
    zero: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zero = sum((0 * getattr(self, name) for name in RATE_NAMES), Decimal(0))
        object.__setattr__(self, "zero", zero)


@dataclass(frozen=True, slots=True)
class Price:
    """A model's rates from ``starts`` (a UTC date; None: since ever) until the next price."""

    starts: date | None
    rates: Rates
    long_context_above: int | None = None
    long_context: Rates | None = None

    def rates_for(self, prompt_tokens: int) -> Rates:
        """The rates of a request: a long prompt moves the whole request to the long-context tier."""
        if self.long_context and self.long_context_above is not None:
            if prompt_tokens > self.long_context_above:
                return self.long_context
        return self.rates

    def cost(self, usage: Usage) -> Decimal:
        """The USD cost of ``usage`` at this price."""
        rates = self.rates_for(usage.prompt_tokens)
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        audio_in, image_in = usage.prompt_audio_tokens, usage.prompt_image_tokens
        audio_out, image_out = usage.completion_audio_tokens, usage.completion_image_tokens
        # Modalities are reported for the whole prompt, cached or not: what is left is plain text.
        text_in = max(usage.prompt_tokens - cached - audio_in - image_in, 0)
        text_out = max(usage.completion_tokens - audio_out - image_out, 0)
        # Most requests are text only: other kinds are priced when they have tokens, and adding
        # `zero` gives the sum the scale pricing every kind would give (the Decimal is the same).
        per_million = text_in * rates.input + text_out * rates.output + rates.zero
        if cached:
            per_million += cached * rates.cache_read
        if audio_in or image_in or audio_out or image_out:
            per_million += (audio_in * rates.audio_input + image_in * rates.image_input
                            + audio_out * rates.audio_output + image_out * rates.image_output)  # fmt: skip
        return per_million.scaleb(-6)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by bare model id (dated prices in order) plus aliases; build with `from_data`."""

    models: Mapping[str, tuple[Price, ...]]
    aliases: Mapping[str, str] = field(default_factory=dict)
    # Models already warned about, so an unpriced model is reported once, not on every request.
    _warned: set[str] = field(default_factory=set, init=False, compare=False, repr=False)
    # Lookups already made (spellings → prices): a request pays a dict read, not the suffix search.
    _found: dict[str, tuple[Price, ...] | None] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PriceTable:
        """Build a table from data shaped like ``prices.json`` ({"models": …, "aliases": …})."""
        models = {
            bare_model_id(model): _parse_prices(model, entry)
            for model, entry in (data.get("models") or {}).items()
        }
        aliases = {
            bare_model_id(alias): bare_model_id(target)
            for alias, target in (data.get("aliases") or {}).items()
        }
        return cls(models=models, aliases=_checked_aliases(aliases, models))

    @classmethod
    def bundled(cls) -> PriceTable:
        """The table shipped with gemgate (reads the data file; use `bundled_prices` to share one)."""
        text = resources.files("gemgate").joinpath("data/prices.json").read_text("utf-8")
        return cls.from_data(json.loads(text))

    def with_overrides(self, overrides: Mapping[str, Any]) -> PriceTable:
        """A copy where each model in ``overrides`` has the given prices (replacing ours).

        A value is a price entry as in ``prices.json`` (rates, optional ``long_context``, or a
        list of dated entries), or a string naming a model whose prices to use (an alias).
        Raises ValueError for malformed prices.
        """
        models = dict(self.models)
        aliases = dict(self.aliases)
        for model, entry in overrides.items():
            bare = bare_model_id(model)
            aliases.pop(bare, None)
            models.pop(bare, None)
            if isinstance(entry, str):
                aliases[bare] = bare_model_id(entry)
            else:
                models[bare] = _parse_prices(model, entry)
        return PriceTable(models=models, aliases=_checked_aliases(aliases, models))

    def prices_of(self, model: str) -> tuple[Price, ...] | None:
        """The dated prices of ``model`` (any of its spellings), or None when unknown."""
        try:
            return self._found[model]
        except KeyError:
            pass
        name = self.priced_name(model)
        prices = None if name is None else self.models[name]
        if len(self._found) >= MAX_REMEMBERED_LOOKUPS:
            self._found.clear()  # callers may name endless models; the table stays bounded
        self._found[model] = prices
        return prices

    def priced_name(self, model: str) -> str | None:
        """The table's name for ``model`` (aliases followed, version suffixes dropped), or None."""
        name = bare_model_id(model)
        while True:
            target = _follow_aliases(name, self.aliases)
            if target in self.models:
                return target
            shorter = _SUFFIX.sub("", name)
            if shorter == name or not shorter:
                return None
            name = shorter

    def price_at(self, model: str, at: datetime) -> Price | None:
        """The price of ``model`` in force at ``at``; None (and a warning, once) when unknown."""
        prices = self.prices_of(model)
        if prices is None:
            self._warn_unpriced(model)
            return None
        if len(prices) == 1:
            return prices[0]  # before its start date too, as the first price always is
        day = (at.astimezone(UTC) if at.tzinfo else at).date()
        in_force = [price for price in prices if price.starts is None or price.starts <= day]
        return in_force[-1] if in_force else prices[0]

    def _warn_unpriced(self, model: str) -> None:
        if model in self._warned:
            return
        self._warned.add(model)
        logger.warning("no price known for model %s; its cost is reported as None", model)


@functools.cache
def bundled_prices() -> PriceTable:
    """The shipped price table, read on first use and shared afterwards."""
    return PriceTable.bundled()


def cost_of(
    model: str, usage: Usage, *, at: datetime, prices: PriceTable | None = None
) -> Decimal | None:
    """The USD cost of ``usage`` on ``model`` at time ``at``; None when the model has no price."""
    table = prices if prices is not None else bundled_prices()
    price = table.price_at(model, at)
    return None if price is None else price.cost(usage)


def bare_model_id(model: str) -> str:
    """``gemini/x``, ``vertex_ai/x``, ``models/x``, ``publishers/google/models/x`` → ``x``."""
    return model.strip().rsplit("/", 1)[-1].lower()


def _parse_prices(model: str, entry: object) -> tuple[Price, ...]:
    entries = entry if isinstance(entry, Sequence) and not isinstance(entry, str) else [entry]
    if not entries:
        raise ValueError(f"prices of {model}: no price given")
    prices = sorted(
        (_parse_price(model, item) for item in entries),
        key=lambda price: price.starts or date.min,
    )
    starts = [price.starts for price in prices]
    if len(set(starts)) != len(starts):
        raise ValueError(f"prices of {model}: two prices start on the same date")
    return tuple(prices)


def _parse_price(model: str, entry: object) -> Price:
    if not isinstance(entry, Mapping):
        raise ValueError(f"prices of {model}: expected an object of rates, got {entry!r}")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ValueError(
            f"prices of {model}: unknown keys {sorted(unknown)}; known: {sorted(_ENTRY_KEYS)}"
        )
    rates = _parse_rates(model, _rates_only(entry))
    tier = entry.get("long_context")
    if tier is None:
        return Price(starts=_parse_date(model, entry.get("from")), rates=rates)
    if (
        not isinstance(tier, Mapping)
        or not isinstance(tier.get("above"), int)
        or not set(tier) <= {"above", *RATE_NAMES}
    ):
        raise ValueError(f"prices of {model}: long_context takes 'above' (a token count) and rates")
    # The long-context tier lists only what changes; the rest carries over from the base rates.
    tier_rates = {key: value for key, value in tier.items() if key != "above"}
    return Price(
        starts=_parse_date(model, entry.get("from")),
        rates=rates,
        long_context_above=tier["above"],
        long_context=_parse_rates(model, {**_rates_only(entry), **tier_rates}),
    )


def _rates_only(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key in RATE_NAMES}


def _parse_rates(model: str, entry: Mapping[str, Any]) -> Rates:
    for required in ("input", "output"):
        if required not in entry:
            raise ValueError(f"prices of {model}: '{required}' (USD per 1M tokens) is required")
    values = {name: _parse_rate(model, name, entry[name]) for name in RATE_NAMES if name in entry}
    for name, fallback in _FALLBACK_RATE.items():
        values.setdefault(name, values[fallback])
    return Rates(**values)


def _parse_rate(model: str, name: str, value: object) -> Decimal:
    problem = f"prices of {model}: {name} must be a non-negative number, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(problem)
    try:
        rate = Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(problem) from error
    if not rate.is_finite() or rate < 0:
        raise ValueError(problem)
    return rate


def _parse_date(model: str, value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"prices of {model}: 'from' must be a YYYY-MM-DD date") from error
    raise ValueError(f"prices of {model}: 'from' must be a YYYY-MM-DD date, got {value!r}")


def _follow_aliases(name: str, aliases: Mapping[str, str]) -> str:
    seen = {name}
    while name in aliases:
        name = aliases[name]
        if name in seen:
            break  # a loop: `_checked_aliases` keeps these out of a table
        seen.add(name)
    return name


def _checked_aliases(aliases: dict[str, str], models: Mapping[str, Any]) -> dict[str, str]:
    for alias in aliases:
        if _follow_aliases(alias, aliases) not in models:
            raise ValueError(f"price alias {alias} leads to no priced model")
    return aliases
