"""OpenAI-shaped result objects: plain dicts with attribute access and `model_dump()`, plus cost."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Self

import orjson


class OpenAIObject(dict[str, Any]):
    """A JSON object readable both as `obj["choices"][0]` and as `obj.choices[0]`.

    Nested objects are converted on first read (most results are never read field by field, and
    converting them all up front cost more than the translation) and stored back, so later
    reads return the same objects and changes made through either spelling stay. Missing
    fields read as None through attributes
    (OpenAI's SDK objects expose every field, null when absent) and raise KeyError through
    indexing, as dicts do.
    """

    _cost: Decimal | None = None
    # What prices the request when `cost` is first read: most callers never read it, and pricing
    # (a table lookup and Decimal arithmetic) was a tenth of the SDK's own time per call.
    _pricing: Callable[[], Decimal | None] | None = None

    def __init__(self, data: dict[str, Any] | None = None, /) -> None:
        super().__init__(data or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def __getitem__(self, key: str) -> Any:
        return self._converted(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            return default
        return self._converted(key, super().__getitem__(key))

    def _converted(self, key: str, value: Any) -> Any:
        converted = _objects(value)
        if converted is not value:
            super().__setitem__(key, converted)
        return converted

    @property
    def cost(self) -> Decimal | None:
        """The request's price in USD; None when the model has no known price."""
        pricing = self._pricing
        if pricing is not None:
            object.__setattr__(self, "_cost", pricing())
            object.__setattr__(self, "_pricing", None)
        return self._cost

    @cost.setter
    def cost(self, value: Decimal | None) -> None:
        object.__setattr__(self, "_pricing", None)
        object.__setattr__(self, "_cost", value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "cost":
            object.__setattr__(self, name, value)  # the property's setter
        else:
            self[name] = _objects(value)

    def model_dump(self) -> dict[str, Any]:
        """A plain-dict deep copy: what an HTTP response or `json.dumps` would carry."""
        plain: dict[str, Any] = _plain(self)
        return plain

    def model_dump_json(self) -> str:
        return orjson.dumps(self).decode()

    @classmethod
    def of(
        cls,
        data: dict[str, Any],
        *,
        cost: Decimal | None = None,
        pricing: Callable[[], Decimal | None] | None = None,
    ) -> Self:
        """Build the object from a translated dict, with the request's cost when known (or what
        works it out on first read)."""
        built = cls(data)
        object.__setattr__(built, "_cost", cost)
        object.__setattr__(built, "_pricing", pricing)
        return built


class ModelResponse(OpenAIObject):
    """A `chat.completion`; `cost` is the request's price in USD (None when the model is unpriced)."""


class ModelResponseStream(OpenAIObject):
    """One `chat.completion.chunk`."""


class TextCompletionResponse(OpenAIObject):
    """A `text_completion`, or one of its stream chunks."""


class EmbeddingResponse(OpenAIObject):
    """An embeddings `list` response."""


class _ObjectList(list[Any]):
    """A list whose dict items are already OpenAIObjects (so it is not converted again)."""


def _objects(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return OpenAIObject(value)
    if kind is list:
        return _ObjectList(_objects(item) for item in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
