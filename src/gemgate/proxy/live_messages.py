"""What the Live relay reads and changes in Live messages (pure): the model the caller's `setup`
names (and its id), and the usage Google reports per turn, summed and priced for the session."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from gemgate.pricing import PriceTable, cost_of
from gemgate.translate.usage import Usage, read_usage

_VERTEX_PUBLISHER = "publishers/google/models/"


@dataclass(frozen=True, slots=True)
class ModelNaming:
    """How the relay names the model in the caller's `setup`: ``forced`` replaces it; on Vertex
    a bare or `publishers/…` name is made whole with ``project`` and ``location``."""

    forced: str | None = None
    is_vertex: bool = False
    project: str | None = None
    location: str | None = None

    def name_for(self, model: str | None) -> str | None:
        """The name `setup.model` should have, or None to leave it as the caller wrote it."""
        if self.forced is not None:
            return self.forced
        if not (self.is_vertex and self.project and self.location and model):
            return None
        prefix = f"projects/{self.project}/locations/{self.location}/"
        if model.startswith("publishers/"):
            return prefix + model
        return prefix + _VERTEX_PUBLISHER + model if "/" not in model else None


def developer_naming(model: str | None) -> ModelNaming:
    """The Developer API's `models/{m}` for a `model=` given to the route."""
    return ModelNaming(forced=f"models/{model.removeprefix('models/')}" if model else None)


def vertex_naming(model: str | None, project: str | None, location: str | None) -> ModelNaming:
    """Vertex's `projects/{p}/locations/{l}/publishers/google/models/{m}` naming."""
    forced = None
    if model:
        bare = model.rsplit("/", 1)[-1]
        scope = f"projects/{project}/locations/{location}/" if project and location else ""
        forced = f"{scope}{_VERTEX_PUBLISHER}{bare}"
    return ModelNaming(forced=forced, is_vertex=True, project=project, location=location)


class LiveUsageTally:
    """The usage of one session, priced turn by turn.

    Google reports `usageMetadata` once per model turn, counting that turn alone (its prompt
    is the whole conversation so far, so prompt counts grow from turn to turn); see
    docs/decisions.md. A report that repeats within a turn replaces the earlier one; a report
    after a turn ended (turnComplete, toolCall, interrupted) starts the next turn's.
    """

    def __init__(self, *, at: datetime, prices: PriceTable | None = None) -> None:
        self.model: str | None = None
        self.turns = 0
        self._at = at
        self._prices = prices
        self._usage: Usage | None = None
        self._cost: Decimal | None = Decimal(0)
        self._turn: Usage | None = None
        self._turn_ended = False

    def observe(self, frame: str | bytes) -> None:
        """Read a server message's usage and whether it ends a turn.

        Every frame is parsed: orjson reads a 13 KB audio message in 3 µs, less than searching
        it for the four keys that matter (docs/decisions.md)."""
        message = _json_object(frame)
        if message is None:
            return
        metadata = message.get("usageMetadata")
        if isinstance(metadata, dict):
            if self._turn_ended:
                self._commit()
            self._turn, self._turn_ended = read_usage(metadata), False
        if _ends_turn(message):
            self._turn_ended = True

    def finish(self) -> tuple[Usage | None, Decimal | None]:
        """The session's summed usage and cost (cost None when the model has no price)."""
        self._commit()
        if self._usage is None:
            return None, None
        return self._usage, self._cost

    def _commit(self) -> None:
        turn, self._turn = self._turn, None
        if turn is None:
            return
        self.turns += 1
        self._usage = turn if self._usage is None else _added(self._usage, turn)
        cost = cost_of(self.model, turn, at=self._at, prices=self._prices) if self.model else None
        self._cost = None if cost is None or self._cost is None else self._cost + cost


def _json_object(frame: str | bytes) -> dict[str, Any] | None:
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


def _ends_turn(message: dict[str, Any]) -> bool:
    if "toolCall" in message:
        return True
    content = message.get("serverContent")
    return isinstance(content, dict) and bool(
        content.get("turnComplete") or content.get("interrupted")
    )


def _added(first: Usage, second: Usage) -> Usage:
    counts = {
        field.name: getattr(first, field.name) + getattr(second, field.name)
        for field in dataclasses.fields(Usage)
    }
    return Usage(**counts)


def name_setup_model(frame: str | bytes, naming: ModelNaming) -> tuple[str | bytes, str | None]:
    """The caller's first frame with `setup.model` named as ``naming`` says, and that model.

    A setup naming a model is always written anew from what was read, so Google receives the
    very message whose model the gateway admitted: JSON that repeats a key cannot then be read
    one way here and another way there. Other frames pass as they are, with no model.
    """
    message = _json_object(frame)
    setup = message.get("setup") if message is not None else None
    if message is None or not isinstance(setup, dict):
        return frame, None
    given = setup.get("model") if isinstance(setup.get("model"), str) else None
    model = naming.name_for(given) or given
    if not model:
        return frame, None
    body = orjson.dumps({**message, "setup": {**setup, "model": model}})
    return (body.decode() if isinstance(frame, str) else body), model


def live_model_id(model: str) -> str:
    """The model id in a Live model name, as key model lists and the spend log name models:
    `models/m` and `projects/…/publishers/google/models/m` are `m`; other names stay whole."""
    _, marker, model_id = model.rpartition("models/")
    return model_id if marker and model_id else model
