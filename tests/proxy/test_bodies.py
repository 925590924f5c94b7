"""Request bodies in the debug log: only when switched on, and redacted then."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from gemgate.proxy import create_app
from tests.proxy.conftest import CHAT_MODEL, MASTER_KEY, model_list_config
from tests.servers import serve

PASTED_KEY = "sk-" + "q" * 30
BODY = {
    "model": CHAT_MODEL, "user": "ada",
    "messages": [{"role": "user", "content": f"my key is {PASTED_KEY}, keep it"}],
    "metadata": {"api_key": "hidden-value"},
}  # fmt: skip


@pytest.mark.parametrize("switched_on", [True, False])
def test_bodies_are_logged_redacted_only_when_switched_on(
    switched_on: bool, emulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = model_list_config(emulator_url, log_request_bodies=switched_on)
    caplog.set_level(logging.INFO, logger="gemgate.bodies")
    with serve(create_app(config)) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json=BODY,
                              headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30)  # fmt: skip
    assert response.status_code == 200
    records = [record for record in caplog.records if record.name == "gemgate.bodies"]
    if not switched_on:
        assert records == []
        return
    [record] = records
    assert getattr(record, "request_id") == response.headers["x-request-id"]  # noqa: B009
    logged = orjson.loads(getattr(record, "body"))  # noqa: B009
    assert logged["user"] == "ada" and logged["metadata"] == {"api_key": "[redacted]"}
    assert "keep it" in logged["messages"][0]["content"]
    assert PASTED_KEY not in str(logged) and MASTER_KEY not in str(logged)
