"""What an answered request cost: priced once from its usage, added to the metrics, and sent
back to the caller in the `x-gemgate-response-cost` header."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

from gemgate.pricing import cost_of
from gemgate.proxy.metrics import GatewayMetrics
from gemgate.proxy.targets import Target
from gemgate.translate.usage import Usage

COST_HEADER = "x-gemgate-response-cost"


def record_spend(metrics: GatewayMetrics, target: Target, usage: Usage | None) -> Decimal | None:
    """Price ``usage`` on ``target`` and count it; None when unpriced or nothing was reported."""
    if usage is None:
        return None
    cost = cost_of(target.model_id, usage, at=datetime.now(UTC))
    record_usage(metrics, target.model_name, target.deployment.id, usage, cost)
    return cost


def record_usage(
    metrics: GatewayMetrics, model: str, deployment: str, usage: Usage, cost: Decimal | None
) -> None:
    """Count ``usage`` and its ``cost`` (already priced; None when unknown) in the metrics."""
    metrics.add_usage(
        model,
        deployment,
        prompt=usage.prompt_tokens,
        completion=usage.completion_tokens,
        cached=usage.cached_tokens,
        reasoning=usage.reasoning_tokens,
        cost=cost,
    )


def with_cost_header(response: web.StreamResponse, cost: Decimal | None) -> web.StreamResponse:
    """``response`` carrying ``cost`` (USD) when it is known."""
    if cost is not None:
        response.headers[COST_HEADER] = format(cost, "f")
    return response
