"""Health probes and /metrics on a real gateway: open without a key, and metrics that count the
traffic the gateway served (requests, latency, tokens, cost, upstream errors per model)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.proxy.conftest import CHAT_MODEL, MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def gateway(aliased_gateway_url: str) -> Iterator[httpx.Client]:
    """Plain HTTP on a gateway that has a master key (the probes must not need it)."""
    with httpx.Client(base_url=aliased_gateway_url, timeout=10) as client:
        yield client


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)  # fmt: skip


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/health/liveliness", {"status": "alive"}),
        ("/health/readiness", {"status": "ready", "database": "none"}),
    ],
)
def test_probes_answer_without_a_key(
    gateway: httpx.Client, path: str, expected: dict[str, str]
) -> None:
    response = gateway.get(path)

    assert response.status_code == 200
    assert response.json() == expected


def test_metrics_are_prometheus_text_without_a_key(gateway: httpx.Client) -> None:
    response = gateway.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE gemgate_requests_total counter" in response.text


def test_metrics_count_requests_tokens_and_cost_per_model(gateway: httpx.Client) -> None:
    chat = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
    for _ in range(2):
        assert gateway.post("/v1/chat/completions", json=chat, headers=AUTH).status_code == 200
    native = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
    gateway.post(f"/v1beta/models/{CHAT_MODEL}:generateContent", json=native, headers=AUTH)

    samples = _samples(gateway.get("/metrics").text)

    assert _value(samples, "gemgate_requests_total", route="/v1/chat/completions",
                  model=CHAT_MODEL, status="200") == 2  # fmt: skip
    assert _value(samples, "gemgate_requests_total", route="/{version}/models/{name}",
                  model=CHAT_MODEL, status="200") == 1  # fmt: skip
    assert _value(samples, "gemgate_request_duration_seconds_count", model=CHAT_MODEL) == 3
    assert _value(samples, "gemgate_upstream_duration_seconds_count", model=CHAT_MODEL,
                  deployment=f"{CHAT_MODEL}#0") == 3  # fmt: skip
    assert _value(samples, "gemgate_tokens_total", model=CHAT_MODEL, kind="prompt") > 0
    assert _value(samples, "gemgate_tokens_total", model=CHAT_MODEL, kind="completion") > 0
    assert _value(samples, "gemgate_cost_usd_total", model=CHAT_MODEL) > 0


def test_metrics_count_upstream_errors_and_error_answers(gateway: httpx.Client) -> None:
    limited = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "x [[emulator: status=429]]"}]}  # fmt: skip
    gateway.post("/v1/chat/completions", json=limited, headers=AUTH)
    gateway.post("/v1/chat/completions", json={"model": CHAT_MODEL}, headers={"authorization": "Bearer wrong"})  # fmt: skip

    samples = _samples(gateway.get("/metrics").text)

    assert _value(samples, "gemgate_upstream_errors_total", model=CHAT_MODEL, status="429") == 1
    assert _value(samples, "gemgate_requests_total", route="/v1/chat/completions",
                  model=CHAT_MODEL, status="429") == 1  # fmt: skip
    assert _value(samples, "gemgate_requests_total", route="/v1/chat/completions", status="401") == 1  # fmt: skip


def test_metrics_never_label_with_names_taken_from_requests(gateway: httpx.Client) -> None:
    body = {"model": "made-up-model-name", "messages": [{"role": "user", "content": "hi"}]}
    gateway.post("/v1/chat/completions", json=body, headers=AUTH)
    gateway.get("/no/such/path/anywhere")

    text = gateway.get("/metrics").text

    assert "made-up-model-name" not in text
    assert "/no/such/path/anywhere" not in text
