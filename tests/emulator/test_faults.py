"""Fault injection through the header and through prompt directives."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors

from tests.conftest import TEST_API_KEY

FLASH = "gemini-2.5-flash"
URL = f"/v1beta/models/{FLASH}:generateContent"
KEY = {"x-goog-api-key": TEST_API_KEY}


def _body(text: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_rate_limit_fault_carries_retry_info(http: httpx.Client) -> None:
    response = http.post(
        URL, json=_body("hi"), headers={**KEY, "x-emulator-fault": "status=429, retry=7"}
    )
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    retry = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]


@pytest.mark.parametrize(("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_prompt_directive_injects_server_errors(http: httpx.Client, code: int, status: str) -> None:
    response = http.post(URL, json=_body(f"hello [[emulator: status={code}]]"), headers=KEY)
    assert response.status_code == code
    assert response.json()["error"]["status"] == status


def test_latency_delays_the_answer(http: httpx.Client) -> None:
    started = time.monotonic()
    response = http.post(
        URL, json=_body("slow"), headers={**KEY, "x-emulator-fault": "latency=300"}
    )
    assert response.status_code == 200 and time.monotonic() - started >= 0.3


def test_broken_stream_ends_with_an_error_event(emulator_url: str) -> None:
    client = genai.Client(api_key=TEST_API_KEY, http_options={"base_url": emulator_url})
    seen: list[str] = []
    with pytest.raises(errors.ServerError):
        for chunk in client.models.generate_content_stream(
            model=FLASH,
            contents="a long enough prompt to stream in many chunks [[emulator: break-after=2]]",
        ):
            seen.append(chunk.text or "")
    assert len(seen) == 2


def test_hanging_response_times_out_the_client(http: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            URL, json=_body("wait"), headers={**KEY, "x-emulator-fault": "hang=30"}, timeout=0.5
        )


def test_blocked_prompt_has_feedback_and_no_candidates(http: httpx.Client) -> None:
    response = http.post(
        URL, json=_body("bad [[emulator: block=PROHIBITED_CONTENT]]"), headers=KEY
    ).json()
    assert "candidates" not in response
    assert response["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"


@pytest.mark.parametrize("reason", ["SAFETY", "MALFORMED_FUNCTION_CALL"])
def test_finish_fault_ends_the_candidate(http: httpx.Client, reason: str) -> None:
    response = http.post(
        URL, json=_body("x"), headers={**KEY, "x-emulator-fault": f"finish={reason}"}
    ).json()
    assert response["candidates"][0]["finishReason"] == reason


def test_bad_fault_spec_is_a_clear_400(http: httpx.Client) -> None:
    response = http.post(URL, json=_body("x"), headers={**KEY, "x-emulator-fault": "explode"})
    assert response.status_code == 400
    assert "Bad emulator fault directive" in orjson.loads(response.content)["error"]["message"]
