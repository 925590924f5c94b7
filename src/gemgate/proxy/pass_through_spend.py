"""What a metered pass-through call cost and who made it: priced from the usage the tap read,
added to the metrics and logged as one structured line (`gemgate.spend`), returned as the
`PassThroughSpend` a spend-log writer stores."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from gemgate.pricing import bundled_prices, cost_of
from gemgate.proxy.metered_calls import MeteredCall
from gemgate.proxy.state import AppState
from gemgate.proxy.usage_tap import UsageTap
from gemgate.translate.usage import Usage

spend_logger = logging.getLogger("gemgate.spend")

# Comma-separated labels a caller attaches to a request (`tags: team-a, nightly`).
TAGS_HEADER = "tags"
# Who the caller is serving: Gemini request bodies have no `user` field (Google's schema refuses
# unknown fields) and pass-through bodies are streamed unread, so it travels in a header.
END_USER_HEADER = "x-gemgate-end-user"
MAX_TAGS = 32
MAX_LABEL_LENGTH = 256
# Metrics label of a model the price table does not know (callers name pass-through models).
UNPRICED_MODEL = "other"
MASTER_KEY_NAME = "master"
SPEND_MESSAGE = "%s %s %d %.1fms %d+%d tokens $%s"


@dataclass(frozen=True, slots=True)
class PassThroughSpend:
    """One metered pass-through call, as the spend log keeps it."""

    request_id: str | None
    call: MeteredCall
    # The model priced: the one the path names, else the answer's modelVersion.
    model: str | None
    status: int
    duration_seconds: float
    # Which gateway key made the call ("master"); None on a gateway without keys. Never the key.
    key_name: str | None
    tags: tuple[str, ...]
    end_user: str | None
    usage: Usage | None
    cost: Decimal | None
    at: datetime


def record_pass_through(
    state: AppState,
    call: MeteredCall,
    status: int,
    seconds: float,
    headers: Mapping[str, str],
    tap: UsageTap | None,
    *,
    request_id: str | None = None,
    at: datetime | None = None,
) -> PassThroughSpend:
    """Price, count and log one relayed call; ``headers`` are the caller's (case-insensitive)."""
    usage = tap.usage() if tap is not None else None
    names = [name for name in (call.model, tap.model_version() if tap else None) if name]
    model = next((name for name in names if _priced_name(name)), names[0] if names else None)
    moment = at or datetime.now(UTC)
    spend = PassThroughSpend(
        request_id=request_id, call=call, model=model, status=status, duration_seconds=seconds,
        key_name=MASTER_KEY_NAME if state.master_key is not None else None,
        tags=tags_of(headers.get(TAGS_HEADER)), end_user=end_user_of(headers.get(END_USER_HEADER)),
        usage=usage, cost=cost_of(model, usage, at=moment) if model and usage else None, at=moment,
    )  # fmt: skip
    _count(state, spend)
    _log(spend)
    return spend


def tags_of(header: str | None) -> tuple[str, ...]:
    """The distinct, non-blank tags of a `tags` header, in order (at most MAX_TAGS, each cut)."""
    if not header:
        return ()
    tags = (tag.strip()[:MAX_LABEL_LENGTH] for tag in header.split(","))
    return tuple(dict.fromkeys(tag for tag in tags if tag))[:MAX_TAGS]


def end_user_of(header: str | None) -> str | None:
    """The end user a caller names in `x-gemgate-end-user`, or None when blank."""
    end_user = (header or "").strip()[:MAX_LABEL_LENGTH]
    return end_user or None


def model_label(model: str | None) -> str:
    """The metrics label for ``model``: its price-table name, so callers cannot add series."""
    if model is None:
        return ""
    return _priced_name(model) or UNPRICED_MODEL


def _priced_name(model: str) -> str | None:
    return bundled_prices().priced_name(model)


def _count(state: AppState, spend: PassThroughSpend) -> None:
    label = model_label(spend.model)
    deployment = f"pass_through/{spend.call.provider}"
    state.metrics.observe_upstream(label, deployment, spend.duration_seconds)
    if spend.status >= 400 or spend.status == 0:
        state.metrics.count_upstream_error(label, deployment, spend.status)
    usage = spend.usage
    if usage is not None:
        state.metrics.add_usage(
            label, deployment, prompt=usage.prompt_tokens, completion=usage.completion_tokens,
            cached=usage.cached_tokens, reasoning=usage.reasoning_tokens, cost=spend.cost,
        )  # fmt: skip


def _log(spend: PassThroughSpend) -> None:
    if not spend_logger.isEnabledFor(logging.INFO):
        return
    usage = spend.usage or Usage(prompt_tokens=0, completion_tokens=0)
    cost = format(spend.cost, "f") if spend.cost is not None else None
    extra = {
        "request_id": spend.request_id, "provider": spend.call.provider,
        "resource": spend.call.resource, "model": spend.model, "status": spend.status,
        "duration_ms": round(spend.duration_seconds * 1000, 3), "key_name": spend.key_name,
        "tags": list(spend.tags), "end_user": spend.end_user,
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens, "reasoning_tokens": usage.reasoning_tokens,
        "cost_usd": cost,
    }  # fmt: skip
    spend_logger.info(
        SPEND_MESSAGE, spend.call.provider, spend.model or spend.call.resource, spend.status,
        spend.duration_seconds * 1000, usage.prompt_tokens, usage.completion_tokens,
        cost or "unknown", extra=extra,
    )  # fmt: skip
