"""The Live relay's reading of messages: the model a setup names, and usage summed per turn."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from gemgate.pricing import cost_of
from gemgate.proxy.live_messages import (
    LiveUsageTally,
    ModelNaming,
    developer_naming,
    live_model_id,
    name_setup_model,
    vertex_naming,
)
from gemgate.translate.usage import Usage, read_usage

LIVE_MODEL = "gemini-live-2.5-flash"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
FIRST_TURN = {"promptTokenCount": 10, "responseTokenCount": 4, "totalTokenCount": 14}
SECOND_TURN = {"promptTokenCount": 30, "responseTokenCount": 6, "totalTokenCount": 36}


# --- model naming --------------------------------------------------------------------------

VERTEX_NAME = f"projects/p/locations/us-east1/publishers/google/models/{LIVE_MODEL}"


@pytest.mark.parametrize(
    ("naming", "model", "expected"),
    [
        (developer_naming(None), f"models/{LIVE_MODEL}", None),
        (developer_naming(LIVE_MODEL), "models/gemini-2.5-flash", f"models/{LIVE_MODEL}"),
        (developer_naming(f"models/{LIVE_MODEL}"), None, f"models/{LIVE_MODEL}"),
        (vertex_naming(None, "p", "us-east1"), f"publishers/google/models/{LIVE_MODEL}", VERTEX_NAME),
        (vertex_naming(None, "p", "us-east1"), LIVE_MODEL, VERTEX_NAME),
        (vertex_naming(None, "p", "us-east1"), VERTEX_NAME.replace("/p/", "/q/"), None),
        (vertex_naming(None, None, None), f"publishers/google/models/{LIVE_MODEL}", None),
        (vertex_naming(LIVE_MODEL, "p", "us-east1"), "publishers/google/models/other", VERTEX_NAME),
        (vertex_naming(LIVE_MODEL, None, None), "x", f"publishers/google/models/{LIVE_MODEL}"),
    ],
)  # fmt: skip
def test_setup_model_is_named_for_the_upstream(
    naming: ModelNaming, model: str | None, expected: str | None
) -> None:
    assert naming.name_for(model) == expected


def test_renamed_setup_keeps_its_frame_type_and_other_fields() -> None:
    setup = {"setup": {"model": "models/x", "generationConfig": {"responseModalities": ["TEXT"]}}}
    for frame in (orjson.dumps(setup), orjson.dumps(setup).decode()):
        renamed, model = name_setup_model(frame, developer_naming(LIVE_MODEL))
        assert type(renamed) is type(frame) and model == f"models/{LIVE_MODEL}"
        assert orjson.loads(renamed) == {"setup": {**setup["setup"], "model": model}}


@pytest.mark.parametrize(
    "frame",
    [
        '{"clientContent": {"turns": []}}',  # not a setup
        '{"setup": {"generationConfig": {}}}',  # a setup naming no model
        '{"setup": {"model": 7}}',
        "not json",
        b"\x00\x01",
    ],
)
def test_frames_that_name_no_model_pass_as_they_are_without_one(frame: str | bytes) -> None:
    assert name_setup_model(frame, developer_naming(None)) == (frame, None)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{ "setup" : { "model" : "models/b" } }', '{"setup":{"model":"models/b"}}'),
        # JSON with a repeated key: Google gets the one value the gateway read and admitted.
        ('{"setup": {"model": "models/a", "model": "models/b"}}', '{"setup":{"model":"models/b"}}'),
        (b'{"setup": {"model": "models/a"}, "setup": {"model": "models/b"}}',
         b'{"setup":{"model":"models/b"}}'),
    ],
)  # fmt: skip
def test_a_setup_is_passed_on_as_it_was_read(frame: str | bytes, expected: str | bytes) -> None:
    assert name_setup_model(frame, developer_naming(None)) == (expected, "models/b")


@pytest.mark.parametrize(
    ("model", "model_id"),
    [
        (f"models/{LIVE_MODEL}", LIVE_MODEL),
        (VERTEX_NAME, LIVE_MODEL),
        (f"publishers/google/models/{LIVE_MODEL}", LIVE_MODEL),
        (LIVE_MODEL, LIVE_MODEL),
        ("tunedModels/t-1", "tunedModels/t-1"),
        ("projects/p/locations/l/endpoints/1", "projects/p/locations/l/endpoints/1"),
    ],
)
def test_the_model_id_of_a_live_model_name(model: str, model_id: str) -> None:
    assert live_model_id(model) == model_id


# --- usage per turn ------------------------------------------------------------------------


def server_message(**fields: Any) -> bytes:
    return orjson.dumps(fields)


TURN_END = {"turnComplete": True}
TEXT = {"modelTurn": {"parts": [{"text": "Hi"}]}}


@pytest.mark.parametrize(
    ("messages", "turns"),
    [
        # Usage rides on each turn's turnComplete (what the emulator and the reference show).
        ([server_message(serverContent=TEXT),
          server_message(serverContent=TURN_END, usageMetadata=FIRST_TURN),
          server_message(serverContent=TEXT),
          server_message(serverContent=TURN_END, usageMetadata=SECOND_TURN)],
         [FIRST_TURN, SECOND_TURN]),
        # Usage sent on its own after turnComplete still belongs to the turn that ended.
        ([server_message(serverContent=TURN_END), server_message(usageMetadata=FIRST_TURN),
          server_message(serverContent=TURN_END), server_message(usageMetadata=SECOND_TURN)],
         [FIRST_TURN, SECOND_TURN]),
        # A report repeated within one turn replaces the earlier one.
        ([server_message(serverContent=TEXT, usageMetadata=FIRST_TURN),
          server_message(serverContent=TURN_END, usageMetadata=SECOND_TURN)],
         [SECOND_TURN]),
        # A tool call ends the model's turn; the answer after the tool response is another.
        ([server_message(toolCall={"functionCalls": []}, usageMetadata=FIRST_TURN),
          server_message(serverContent=TURN_END, usageMetadata=SECOND_TURN)],
         [FIRST_TURN, SECOND_TURN]),
        # An interrupted turn ends too.
        ([server_message(serverContent={"interrupted": True}, usageMetadata=FIRST_TURN),
          server_message(serverContent=TURN_END, usageMetadata=SECOND_TURN)],
         [FIRST_TURN, SECOND_TURN]),
        # Text frames are read like binary ones; audio and non-JSON frames are skipped.
        ([server_message(serverContent=TURN_END, usageMetadata=FIRST_TURN).decode(),
          b"\x00\x01usageMetadata", "turnComplete but not JSON"],
         [FIRST_TURN]),
    ],
)  # fmt: skip
def test_usage_is_summed_over_turns_as_google_reports_them(
    messages: list[str | bytes], turns: list[dict[str, int]]
) -> None:
    tally = LiveUsageTally(at=NOW)
    tally.model = f"models/{LIVE_MODEL}"
    for message in messages:
        tally.observe(message)
    usage, cost = tally.finish()
    usages = [read_usage(turn) for turn in turns]
    assert usage == Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
    )
    assert tally.turns == len(turns)
    assert cost == sum((cost_of(LIVE_MODEL, u, at=NOW) or Decimal(-1) for u in usages), Decimal(0))


def test_a_session_without_usage_reports_none() -> None:
    tally = LiveUsageTally(at=NOW)
    tally.observe(server_message(setupComplete={}))
    assert tally.finish() == (None, None)


def test_usage_of_an_unpriced_model_has_no_cost() -> None:
    tally = LiveUsageTally(at=NOW)
    tally.model = "models/no-such-live-model"
    tally.observe(server_message(serverContent=TURN_END, usageMetadata=FIRST_TURN))
    usage, cost = tally.finish()
    assert usage is not None and usage.prompt_tokens == 10 and cost is None
