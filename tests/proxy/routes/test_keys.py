"""Virtual keys end to end: made with the master key, used with real clients, refused clearly,
counted in the spend log; on SQLite, and on PostgreSQL + Redis shared by two gateways."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gemgate.proxy import ProxyConfig, create_app
from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import CHAT_MODEL, EMBEDDING_MODEL, MASTER_KEY, model_list_config
from tests.servers import serve

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
HELLO = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hello there"}]}


def keyed_config(emulator_url: str, folder: Path, **settings: Any) -> ProxyConfig:
    settings.setdefault("database_url", f"sqlite:///{folder / 'gemgate.db'}")
    # Pass-through goes to the emulator with its key, as /gemini/... needs a Gemini API.
    settings.update(gemini_api_base=emulator_url, gemini_api_key=TEST_API_KEY)
    return model_list_config(emulator_url, spend_journal=str(folder / "journal"), **settings)


@pytest.fixture
def gateway(emulator_url: str, tmp_path: Path) -> Iterator[str]:
    with serve(create_app(keyed_config(emulator_url, tmp_path))) as url:
        yield url


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        yield client


async def new_key(http: httpx.AsyncClient, **fields: Any) -> str:
    response = await http.post("/key/generate", json=fields, headers=ADMIN)
    assert response.status_code == 200, response.text
    key: str = response.json()["key"]
    return key


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def spend_logs(http: httpx.AsyncClient, expected: int, **query: str) -> list[dict[str, Any]]:
    """The spend-log rows matching ``query`` once ``expected`` of them are stored (flushed)."""
    deadline = time.monotonic() + 10
    while True:
        response = await http.get("/spend/logs", params=query, headers=ADMIN)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["logs"]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


async def test_a_virtual_key_works_with_the_openai_sdk_and_its_spend_is_logged(http: httpx.AsyncClient, gateway: str) -> None:  # fmt: skip
    key = await new_key(http, key_alias="app-1", user_id="ana", tags=["team-a"])
    client = openai.AsyncOpenAI(api_key=key, base_url=f"{gateway}/v1")
    answer = await client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "Hello there"}], user="end-user-7",
        extra_headers={"tags": "nightly, batch"},
    )  # fmt: skip
    request_id = answer.headers["x-request-id"]
    assert answer.parse().choices[0].message.content
    await client.close()
    [row] = await spend_logs(http, 1, api_key=key)
    assert row["request_id"] == request_id and row["key_alias"] == "app-1"
    assert (
        row["user_id"] == "ana" and row["end_user"] == "end-user-7" and row["model"] == CHAT_MODEL
    )
    assert set(row["tags"]) == {"team-a", "nightly", "batch"} and row["status"] == 200
    assert row["prompt_tokens"] > 0 and row["spend"] > 0
    info = (await http.get("/key/info", params={"key": key}, headers=ADMIN)).json()["info"]
    assert info["key_alias"] == "app-1" and key not in str(info)


async def test_a_repeated_caller_request_id_never_merges_two_requests_spend(http: httpx.AsyncClient) -> None:  # fmt: skip
    key = await new_key(http)
    headers = {**bearer(key), "x-request-id": "retry-7"}
    answers = [
        await http.post("/v1/chat/completions", json=HELLO, headers=headers) for _ in range(2)
    ]
    assert [answer.headers["x-request-id"] for answer in answers] == ["retry-7", "retry-7"]
    rows = await spend_logs(http, 2, api_key=key)
    assert [row["client_request_id"] for row in rows] == ["retry-7", "retry-7"]
    assert len({row["request_id"] for row in rows}) == 2
    info = (await http.get("/key/info", params={"key": key}, headers=ADMIN)).json()["info"]
    assert info["spend"] == pytest.approx(sum(row["spend"] for row in rows))


@pytest.mark.parametrize("presented", ["sk-not-a-key", None])
async def test_unknown_keys_get_401_in_the_routes_shape(http: httpx.AsyncClient, presented: str | None) -> None:  # fmt: skip
    headers = bearer(presented) if presented else {}
    openai_shape = await http.post("/v1/chat/completions", json=HELLO, headers=headers)
    assert openai_shape.status_code == 401 and openai_shape.json()["error"]["type"]
    google = await http.post(f"/v1beta/models/{CHAT_MODEL}:generateContent",
                             json={"contents": [{"parts": [{"text": "hi"}]}]},
                             headers={"x-goog-api-key": presented} if presented else {})  # fmt: skip
    assert google.status_code == 401 and google.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_a_model_outside_the_keys_list_is_403(http: httpx.AsyncClient) -> None:
    key = await new_key(http, models=[EMBEDDING_MODEL])
    refused = await http.post("/v1/chat/completions", json=HELLO, headers=bearer(key))
    assert refused.status_code == 403 and CHAT_MODEL in refused.json()["error"]["message"]
    allowed = await http.post("/v1/embeddings", json={"model": EMBEDDING_MODEL, "input": "hi"}, headers=bearer(key))  # fmt: skip
    assert allowed.status_code == 200


async def test_the_rpm_limit_holds_exactly_under_concurrent_load(http: httpx.AsyncClient) -> None:
    key = await new_key(http, rpm_limit=5)
    answers = await asyncio.gather(
        *(http.post("/v1/chat/completions", json=HELLO, headers=bearer(key)) for _ in range(12))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [429] * 7
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert 0 < int(refused.headers["retry-after"]) <= 60


async def test_a_spent_budget_refuses_with_insufficient_quota(http: httpx.AsyncClient) -> None:
    key = await new_key(http, max_budget=0.0000001)
    first = await http.post("/v1/chat/completions", json=HELLO, headers=bearer(key))
    assert first.status_code == 200
    refused = await http.post("/v1/chat/completions", json=HELLO, headers=bearer(key))
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "insufficient_quota"


async def test_a_deleted_or_blocked_key_stops_working(http: httpx.AsyncClient) -> None:
    deleted, blocked = await new_key(http), await new_key(http)
    assert (await http.post("/v1/chat/completions", json=HELLO, headers=bearer(deleted))).status_code == 200  # fmt: skip
    assert (await http.post("/key/delete", json={"keys": [deleted]}, headers=ADMIN)).status_code == 200  # fmt: skip
    assert (await http.post("/v1/chat/completions", json=HELLO, headers=bearer(deleted))).status_code == 401  # fmt: skip
    update = await http.post("/key/update", json={"key": blocked, "blocked": True}, headers=ADMIN)
    assert update.status_code == 200
    assert (await http.post("/v1/chat/completions", json=HELLO, headers=bearer(blocked))).status_code == 401  # fmt: skip


async def test_only_the_master_key_manages_keys(http: httpx.AsyncClient) -> None:
    key = await new_key(http)
    assert (await http.post("/key/generate", json={}, headers=bearer(key))).status_code == 403
    assert (await http.get("/spend/logs", headers=bearer(key))).status_code == 403
    own = await http.get("/key/info", headers=bearer(key))
    assert own.status_code == 200 and "spend" in own.json()["info"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"rpm_limit": 0}, "rpm_limit"), ({"duration": "soon"}, "duration"),
     ({"budget_duration": "3x"}, "budget"), ({"nonsense": 1}, "nonsense"),
     ({"team_id": "no-such-team"}, "team")],
)  # fmt: skip
async def test_bad_key_requests_are_400_naming_the_field(http: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:  # fmt: skip
    response = await http.post("/key/generate", json=body, headers=ADMIN)
    assert response.status_code == 400 and field in response.json()["error"]["message"]


async def test_failed_requests_are_logged_too(http: httpx.AsyncClient) -> None:
    key = await new_key(http)
    failing = {**HELLO, "messages": [{"role": "user", "content": "[[emulator: status=500]]"}]}
    answer = await http.post("/v1/chat/completions", json=failing, headers=bearer(key))
    assert answer.status_code >= 500
    [row] = await spend_logs(http, 1, api_key=key)
    assert row["status"] == answer.status_code and row["spend"] == 0


async def test_the_stored_database_never_holds_the_plain_key(http: httpx.AsyncClient, tmp_path: Path) -> None:  # fmt: skip
    key = await new_key(http)
    assert (await http.post("/v1/chat/completions", json=HELLO, headers=bearer(key))).status_code == 200  # fmt: skip
    await spend_logs(http, 1, api_key=key)
    stored = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert key.encode() not in stored and key[3:].encode() not in stored


async def test_two_gateways_on_postgresql_and_redis_share_keys_and_limits(
    emulator_url: str,
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,  # noqa: F811
) -> None:
    shared = {"database_url": postgres_url, "redis_url": redis_url}
    first_config = keyed_config(emulator_url, tmp_path / "one", **shared)
    second_config = keyed_config(emulator_url, tmp_path / "two", **shared)
    with serve(create_app(first_config)) as first_url, serve(create_app(second_config)) as second_url:  # fmt: skip
        async with httpx.AsyncClient(base_url=first_url, timeout=30) as first, httpx.AsyncClient(base_url=second_url, timeout=30) as second:  # fmt: skip
            key = await new_key(first, rpm_limit=6)
            assert (await second.post("/v1/chat/completions", json=HELLO, headers=bearer(key))).status_code == 200  # fmt: skip
            answers = await asyncio.gather(
                *(gateway.post("/v1/chat/completions", json=HELLO, headers=bearer(key))
                  for gateway in (first, second) for _ in range(5))
            )  # fmt: skip
            assert sorted(answer.status_code for answer in answers) == [200] * 5 + [429] * 5
            other = await new_key(first)
            assert (await second.post("/v1/chat/completions", json=HELLO, headers=bearer(other))).status_code == 200  # fmt: skip
            assert (await first.post("/key/delete", json={"keys": [other]}, headers=ADMIN)).status_code == 200  # fmt: skip
            deleted_at = time.monotonic()
            while (await second.post("/v1/chat/completions", json=HELLO, headers=bearer(other))).status_code != 401:  # fmt: skip
                assert time.monotonic() - deleted_at < 1.0, (
                    "the delete did not reach the other gateway"
                )
                await asyncio.sleep(0.05)


async def test_pass_through_calls_with_a_virtual_key_are_metered(http: httpx.AsyncClient, emulator_url: str) -> None:  # fmt: skip
    key = await new_key(http, key_alias="native-app")
    body = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}
    answer = await http.post("/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                             json=body, headers={"x-goog-api-key": key, "tags": "native"})  # fmt: skip
    assert answer.status_code == 200 and b"usageMetadata" in answer.content
    [row] = await spend_logs(http, 1, api_key=key)
    assert row["model"] == "gemini-2.0-flash" and row["key_alias"] == "native-app"
    assert row["prompt_tokens"] > 0 and row["spend"] > 0 and row["tags"] == ["native"]
    recorded = httpx.get(f"{emulator_url}/emulator/requests").json()
    assert key not in str(recorded)


def stored_rows_in_metrics(text: str) -> float:
    """gemgate_spend_log_rows_total{outcome="stored"} in a /metrics answer (0 when absent)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gemgate_spend_log_rows_total" and sample.labels == {"outcome": "stored"}
    )


async def test_metrics_count_the_spend_rows_the_flusher_stored(http: httpx.AsyncClient) -> None:
    key = await new_key(http)
    chat = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
    before = stored_rows_in_metrics((await http.get("/metrics")).text)
    for _ in range(3):
        assert (await http.post("/v1/chat/completions", json=chat, headers=bearer(key))).status_code == 200  # fmt: skip
    assert len(await spend_logs(http, 3, api_key=key)) == 3
    text = (await http.get("/metrics")).text
    assert stored_rows_in_metrics(text) - before == 3
    assert "gemgate_spend_log_flush_failures_total 0.0" in text


async def test_readiness_reports_the_database(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/readiness")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "connected"}


async def test_a_nul_in_a_callers_labels_never_keeps_its_spend_out_of_postgresql(
    emulator_url: str, tmp_path: Path, postgres_url: str
) -> None:
    # PostgreSQL refuses NUL in text: such a row would be set aside and its cost lost.
    config = keyed_config(emulator_url, tmp_path, database_url=postgres_url)
    with serve(create_app(config)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            key = await new_key(http)
            body = {**HELLO, "user": "end\x00user", "metadata": {"tags": ["a\x00b"]}}
            answer = await http.post("/v1/chat/completions", json=body, headers=bearer(key))
            assert answer.status_code == 200
            [row] = await spend_logs(http, 1, api_key=key)
            assert row["end_user"] == "end\ufffduser" and row["tags"] == ["a\ufffdb"]
            info = (await http.get("/key/info", params={"key": key}, headers=ADMIN)).json()["info"]
            assert info["spend"] == pytest.approx(row["spend"]) and row["spend"] > 0
