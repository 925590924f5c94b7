"""Gateway metrics: each method's series, its own registry, and the exposition text."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gemgate.proxy.metrics import GatewayMetrics

CHAT = "/v1/chat/completions"


def _value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_requests_are_counted_by_route_model_and_status() -> None:
    metrics = GatewayMetrics()

    metrics.observe_request(CHAT, "flash", 200, 0.01)
    metrics.observe_request(CHAT, "flash", 200, 0.02)
    metrics.observe_request(CHAT, "flash", 429, 0.001)

    assert _value(metrics, "gemgate_requests_total", route=CHAT, model="flash", status="200") == 2
    assert _value(metrics, "gemgate_requests_total", route=CHAT, model="flash", status="429") == 1


def test_request_durations_fill_the_histogram() -> None:
    metrics = GatewayMetrics()

    metrics.observe_request(CHAT, "flash", 200, 0.0004)
    metrics.observe_request(CHAT, "flash", 500, 45.0)

    labels = {"route": CHAT, "model": "flash"}
    assert _value(metrics, "gemgate_request_duration_seconds_count", **labels) == 2
    assert _value(metrics, "gemgate_request_duration_seconds_sum", **labels) == pytest.approx(45.0004)  # fmt: skip
    assert _value(metrics, "gemgate_request_duration_seconds_bucket", le="0.0005", **labels) == 1
    assert _value(metrics, "gemgate_request_duration_seconds_bucket", le="30.0", **labels) == 1
    assert _value(metrics, "gemgate_request_duration_seconds_bucket", le="60.0", **labels) == 2


@pytest.mark.parametrize("model", [None, ""])
def test_absent_model_is_the_empty_label(model: str | None) -> None:
    metrics = GatewayMetrics()

    metrics.observe_request("/v1/models", model, 200, 0.001)

    assert _value(metrics, "gemgate_requests_total", route="/v1/models", model="", status="200") == 1  # fmt: skip


def test_upstream_duration_is_per_deployment() -> None:
    metrics = GatewayMetrics()

    metrics.observe_upstream("flash", "flash#0", 0.2)
    metrics.observe_upstream("flash", "flash#1", 0.4)

    assert _value(metrics, "gemgate_upstream_duration_seconds_sum", model="flash", deployment="flash#1") == 0.4  # fmt: skip
    assert _value(metrics, "gemgate_upstream_duration_seconds_count", model="flash", deployment="flash#0") == 1  # fmt: skip


def test_usage_adds_tokens_by_kind_and_cost() -> None:
    metrics = GatewayMetrics()

    for _ in range(2):
        metrics.add_usage(
            "flash", "flash#0", prompt=42, completion=68, cached=8, reasoning=10,
            cost=Decimal("0.0015"),
        )  # fmt: skip

    labels = {"model": "flash", "deployment": "flash#0"}
    tokens = {
        kind: _value(metrics, "gemgate_tokens_total", kind=kind, **labels)
        for kind in ("prompt", "completion", "cached", "reasoning")
    }
    assert tokens == {"prompt": 84, "completion": 136, "cached": 16, "reasoning": 20}
    assert _value(metrics, "gemgate_cost_usd_total", **labels) == pytest.approx(0.003)


def test_unknown_price_and_zero_counts_add_nothing() -> None:
    metrics = GatewayMetrics()

    metrics.add_usage("flash", "flash#0", prompt=5, completion=0, cost=None)

    labels = {"model": "flash", "deployment": "flash#0"}
    assert _value(metrics, "gemgate_tokens_total", kind="prompt", **labels) == 5
    assert _value(metrics, "gemgate_tokens_total", kind="completion", **labels) == 0
    assert _value(metrics, "gemgate_cost_usd_total", **labels) == 0


def test_upstream_errors_are_counted_by_status() -> None:
    metrics = GatewayMetrics()

    metrics.count_upstream_error("flash", "flash#0", 429)
    metrics.count_upstream_error("flash", "flash#0", 429)
    metrics.count_upstream_error(None, "flash#0", 504)

    assert _value(metrics, "gemgate_upstream_errors_total", model="flash", deployment="flash#0", status="429") == 2  # fmt: skip
    assert _value(metrics, "gemgate_upstream_errors_total", model="", deployment="flash#0", status="504") == 1  # fmt: skip


def test_in_flight_gauge_rises_inside_and_falls_after_even_on_error() -> None:
    metrics = GatewayMetrics()
    tracker = metrics.track_in_flight(CHAT)

    with tracker, metrics.track_in_flight(CHAT):
        assert _value(metrics, "gemgate_in_flight_requests", route=CHAT) == 2
    with pytest.raises(RuntimeError), metrics.track_in_flight(CHAT):
        raise RuntimeError("handler failed")

    assert _value(metrics, "gemgate_in_flight_requests", route=CHAT) == 0


def test_each_instance_has_its_own_registry_not_the_global_one() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()

    first.observe_request(CHAT, "flash", 200, 0.01)

    assert _value(second, "gemgate_requests_total", route=CHAT, model="flash", status="200") is None  # fmt: skip
    assert REGISTRY.get_sample_value("gemgate_requests_total", {"route": CHAT, "model": "flash", "status": "200"}) is None  # fmt: skip


def test_a_given_registry_is_used() -> None:
    registry = CollectorRegistry()

    GatewayMetrics(registry).count_upstream_error("flash", "flash#0", 500)

    assert registry.get_sample_value("gemgate_upstream_errors_total", {"model": "flash", "deployment": "flash#0", "status": "500"}) == 1  # fmt: skip


def test_the_spend_log_flusher_is_counted_by_outcome_and_failed_batch() -> None:
    metrics = GatewayMetrics()

    for outcome, rows in (("stored", 500), ("stored", 9), ("rejected", 1), ("failures", 1), ("failures", 1)):  # fmt: skip
        metrics.count_spend_log(outcome, rows)

    assert _value(metrics, "gemgate_spend_log_rows_total", outcome="stored") == 509
    assert _value(metrics, "gemgate_spend_log_rows_total", outcome="rejected") == 1
    assert _value(metrics, "gemgate_spend_log_rows_total", outcome="failures") is None
    assert _value(metrics, "gemgate_spend_log_flush_failures_total") == 2


def test_render_is_prometheus_text_with_every_metric() -> None:
    metrics = GatewayMetrics()
    metrics.observe_request(CHAT, "flash", 200, 0.01)
    metrics.add_usage("flash", "flash#0", prompt=1, completion=1, cost=Decimal("0.1"))

    body, content_type = metrics.render()

    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert names >= {
        "gemgate_requests", "gemgate_request_duration_seconds", "gemgate_upstream_duration_seconds",
        "gemgate_tokens", "gemgate_cost_usd", "gemgate_upstream_errors", "gemgate_in_flight_requests",
        "gemgate_spend_log_rows", "gemgate_spend_log_flush_failures",
    }  # fmt: skip
