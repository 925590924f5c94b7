"""record_pass_through: a metered pass-through call priced, counted in the metrics and logged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict
from pydantic import SecretStr

from gemgate.pricing import cost_of
from gemgate.proxy import ProxyConfig, create_app
from gemgate.proxy.config import GeneralSettings
from gemgate.proxy.metered_calls import MeteredCall
from gemgate.proxy.pass_through_spend import (
    END_USER_HEADER,
    UNPRICED_MODEL,
    end_user_of,
    model_label,
    record_pass_through,
    tags_of,
)
from gemgate.proxy.state import STATE, AppState
from gemgate.proxy.usage_tap import UsageTap
from gemgate.translate.usage import Usage
from tests.proxy.conftest import MASTER_KEY

AT = datetime(2026, 1, 15, 12, tzinfo=UTC)
FLASH = MeteredCall("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash", is_stream=True)
ENDPOINT = MeteredCall("vertex_ai", "projects/p/locations/l/endpoints/42", None, is_stream=False)
USAGE = {"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 50,
         "cachedContentTokenCount": 200, "totalTokenCount": 1550}  # fmt: skip
EXPECTED_USAGE = Usage(
    prompt_tokens=1200, completion_tokens=350, cached_tokens=200, reasoning_tokens=50
)


async def _state(master_key: str | None) -> AsyncIterator[AppState]:
    settings = GeneralSettings(
        gemini_api_base="http://127.0.0.1:9",
        master_key=SecretStr(master_key) if master_key else None,
    )
    runner = web.AppRunner(create_app(ProxyConfig(general_settings=settings)))
    await runner.setup()
    try:
        yield runner.app[STATE]
    finally:
        await runner.cleanup()


@pytest.fixture
async def keyed_state() -> AsyncIterator[AppState]:
    """The AppState of a real gateway app (lifespan run) behind MASTER_KEY."""
    async for state in _state(MASTER_KEY):
        yield state


@pytest.fixture
async def open_state() -> AsyncIterator[AppState]:
    """The AppState of a real gateway app without a master key."""
    async for state in _state(None):
        yield state


def _tap(model_version: str = "gemini-2.5-flash", usage: dict[str, int] = USAGE) -> UsageTap:
    tap = UsageTap.for_response("text/event-stream")
    answer = {"candidates": [], "usageMetadata": usage, "modelVersion": model_version}
    tap.feed(b"data: " + orjson.dumps(answer) + b"\r\n\r\n")
    return tap


def _sample(state: AppState, name: str, **labels: str) -> float | None:
    return state.metrics.registry.get_sample_value(name, labels)


def test_a_streamed_call_is_priced_from_the_usage_the_tap_read(keyed_state: AppState) -> None:
    spend = record_pass_through(keyed_state, FLASH, 200, 1.5, {}, _tap(), at=AT)

    assert spend.usage == EXPECTED_USAGE
    assert spend.cost == cost_of("gemini-2.5-flash", EXPECTED_USAGE, at=AT)
    assert spend.cost is not None and spend.cost > 0
    assert (spend.model, spend.status, spend.duration_seconds) == ("gemini-2.5-flash", 200, 1.5)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("prompt", 1200.0), ("completion", 350.0), ("cached", 200.0), ("reasoning", 50.0)],
)
def test_tokens_are_added_to_the_metrics_by_kind(
    keyed_state: AppState, kind: str, expected: float
) -> None:
    record_pass_through(keyed_state, FLASH, 200, 1.5, {}, _tap(), at=AT)

    labels = {"model": "gemini-2.5-flash", "deployment": "pass_through/gemini", "kind": kind}
    assert _sample(keyed_state, "gemgate_tokens_total", **labels) == expected


def test_cost_and_latency_are_added_to_the_metrics(keyed_state: AppState) -> None:
    first = record_pass_through(keyed_state, FLASH, 200, 1.5, {}, _tap(), at=AT)
    second = record_pass_through(keyed_state, FLASH, 200, 0.5, {}, _tap(), at=AT)

    labels = {"model": "gemini-2.5-flash", "deployment": "pass_through/gemini"}
    assert first.cost is not None and second.cost is not None
    cost = _sample(keyed_state, "gemgate_cost_usd_total", **labels)
    assert cost == pytest.approx(float(first.cost + second.cost))
    assert _sample(keyed_state, "gemgate_upstream_duration_seconds_sum", **labels) == 2.0
    assert _sample(keyed_state, "gemgate_upstream_duration_seconds_count", **labels) == 2.0


def test_an_endpoint_call_is_priced_by_the_model_version_of_its_answer(
    keyed_state: AppState,
) -> None:
    spend = record_pass_through(keyed_state, ENDPOINT, 200, 0.2, {}, _tap("gemini-2.5-pro"), at=AT)

    assert spend.model == "gemini-2.5-pro"
    assert spend.cost == cost_of("gemini-2.5-pro", EXPECTED_USAGE, at=AT)
    labels = {"model": "gemini-2.5-pro", "deployment": "pass_through/vertex_ai", "kind": "prompt"}
    assert _sample(keyed_state, "gemgate_tokens_total", **labels) == 1200.0


def test_an_unpriced_model_counts_tokens_under_one_shared_label(keyed_state: AppState) -> None:
    call = MeteredCall("gemini", "models/made-up-9", "made-up-9", is_stream=False)

    spend = record_pass_through(keyed_state, call, 200, 0.2, {}, _tap("made-up-9"), at=AT)

    assert (spend.model, spend.cost) == ("made-up-9", None)
    labels = {"model": UNPRICED_MODEL, "deployment": "pass_through/gemini", "kind": "prompt"}
    assert _sample(keyed_state, "gemgate_tokens_total", **labels) == 1200.0


def test_an_error_answer_is_counted_as_an_upstream_error_without_usage(
    keyed_state: AppState,
) -> None:
    tap = UsageTap.for_response("application/json")
    tap.feed(b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}')

    spend = record_pass_through(keyed_state, FLASH, 429, 0.1, {}, tap, at=AT)

    assert (spend.usage, spend.cost) == (None, None)
    labels = {"model": "gemini-2.5-flash", "deployment": "pass_through/gemini", "status": "429"}
    assert _sample(keyed_state, "gemgate_upstream_errors_total", **labels) == 1.0


@pytest.mark.parametrize(("fixture", "expected"), [("keyed_state", "master"), ("open_state", None)])
def test_the_key_is_named_never_given(
    request: pytest.FixtureRequest, fixture: str, expected: str | None
) -> None:
    state: AppState = request.getfixturevalue(fixture)

    spend = record_pass_through(state, FLASH, 200, 0.1, {}, _tap(), at=AT)

    assert spend.key_name == expected


def test_tags_and_end_user_come_from_the_callers_headers(keyed_state: AppState) -> None:
    headers = CIMultiDict({"Tags": "team-a, nightly", "X-Gemgate-End-User": "user-42"})

    spend = record_pass_through(keyed_state, FLASH, 200, 0.1, headers, _tap(), request_id="r-9")

    assert (spend.tags, spend.end_user, spend.request_id) == (("team-a", "nightly"), "user-42", "r-9")  # fmt: skip


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, ()),
        ("", ()),
        ("prod", ("prod",)),
        (" a , b,,a , ", ("a", "b")),
        (",".join(f"t{n}" for n in range(50)), tuple(f"t{n}" for n in range(32))),
        ("x" * 300, ("x" * 256,)),
    ],
    ids=["absent", "empty", "one", "blanks-and-repeats", "too-many", "too-long"],
)
def test_tags_header(header: str | None, expected: tuple[str, ...]) -> None:
    assert tags_of(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"), [(None, None), ("  ", None), (" u-1 ", "u-1"), ("u" * 300, "u" * 256)]
)
def test_end_user_header(header: str | None, expected: str | None) -> None:
    assert end_user_of(header) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("gemini-2.5-flash-latest-latest-latest", "gemini-2.5-flash"),
        ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("somebody-elses-model", UNPRICED_MODEL),
        (None, ""),
    ],
)
def test_model_label_is_the_price_tables_name(model: str | None, expected: str) -> None:
    assert model_label(model) == expected


def test_one_structured_line_is_logged_without_the_key(
    keyed_state: AppState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gemgate.spend")
    headers = {"tags": "team-a", END_USER_HEADER: "user-42", "authorization": f"Bearer {MASTER_KEY}"}  # fmt: skip

    spend = record_pass_through(keyed_state, FLASH, 200, 0.25, headers, _tap(), request_id="r-1", at=AT)  # fmt: skip

    [record] = caplog.records
    fields = {name: getattr(record, name) for name in ("request_id", "model", "status", "tags",
              "end_user", "key_name", "prompt_tokens", "completion_tokens", "cost_usd")}  # fmt: skip
    assert fields == {
        "request_id": "r-1", "model": "gemini-2.5-flash", "status": 200, "tags": ["team-a"],
        "end_user": "user-42", "key_name": "master", "prompt_tokens": 1200,
        "completion_tokens": 350, "cost_usd": format(spend.cost, "f"),
    }  # fmt: skip
    assert MASTER_KEY not in caplog.text
    assert isinstance(spend.cost, Decimal)
