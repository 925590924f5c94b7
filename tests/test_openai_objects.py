"""OpenAI-shaped objects: attribute and item access, model_dump, cost."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gemgate.openai_objects import ModelResponse

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def test_attribute_and_item_access_reach_the_same_values() -> None:
    response = ModelResponse(COMPLETION)
    assert response.choices[0].message.content == "hi"
    assert response["choices"][0]["message"]["content"] == "hi"
    assert response.choices[0].message.tool_calls is None


def test_missing_keys_raise_key_error_by_index() -> None:
    with pytest.raises(KeyError):
        ModelResponse(COMPLETION)["system_fingerprint"]


def test_changes_through_attributes_stay() -> None:
    response = ModelResponse(COMPLETION)
    response.choices[0].message.content = "changed"
    assert response.model_dump()["choices"][0]["message"]["content"] == "changed"


def test_model_dump_is_plain_json_and_a_copy() -> None:
    response = ModelResponse.of(COMPLETION, cost=Decimal("0.000012"))
    dumped = response.model_dump()
    assert type(dumped["choices"][0]) is dict
    assert json.loads(response.model_dump_json()) == COMPLETION == dumped
    dumped["id"] = "other"
    assert response.id == "chatcmpl-1"
    assert response.cost == Decimal("0.000012") and "cost" not in dumped


def test_nested_reads_return_the_same_object_and_leave_the_input_alone() -> None:
    source = json.loads(json.dumps(COMPLETION))
    response = ModelResponse(source)
    first = response.choices[0].message
    first.content = "changed"
    assert (
        response["choices"][0]["message"] is first and response.get("choices")[0].message is first
    )
    assert source == COMPLETION


def test_cost_is_priced_once_on_first_read_and_a_set_cost_wins() -> None:
    priced: list[int] = []

    def pricing() -> Decimal:
        priced.append(1)
        return Decimal("0.5")

    response = ModelResponse.of(COMPLETION, pricing=pricing)
    assert priced == []  # built without pricing
    assert response.cost == Decimal("0.5") and response.cost == Decimal("0.5")
    assert priced == [1]
    unread = ModelResponse.of(COMPLETION, pricing=pricing)
    unread.cost = Decimal("2")
    assert unread.cost == Decimal("2") and priced == [1]
    assert ModelResponse(COMPLETION).cost is None
