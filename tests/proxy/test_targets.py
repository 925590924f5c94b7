"""Which upstream serves a requested model: model_list names, direct `gemini/` names, the weighted
pick among deployments of one name, and load balancing seen from the upstreams themselves."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gemgate import errors
from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from gemgate.proxy import ConfigError, ProxyConfig, create_app
from gemgate.proxy.targets import MAX_DIRECT_TARGETS, OTHER_DIRECT_NAME, ModelTargets
from tests.conftest import TEST_API_KEY
from tests.proxy.conftest import MASTER_KEY, gateway_config
from tests.servers import serve

UPSTREAM = "http://upstream.test"


def _config(*entries: dict[str, Any], **settings: Any) -> ProxyConfig:
    return ProxyConfig.model_validate({"model_list": list(entries), "general_settings": settings})


def _entry(name: str, model: str = "gemini/gemini-2.0-flash", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "params": {"model": model, "api_key": "k", "api_base": UPSTREAM, **params}}  # fmt: skip


def test_model_list_name_resolves_to_its_deployment() -> None:
    targets = ModelTargets(_config(_entry("flash")), {})

    target = targets.pick("flash")

    assert (target.model_name, target.model_id, target.deployment.id) == ("flash", "gemini-2.0-flash", "flash#0")  # fmt: skip
    assert target.provider.url(target.model_id, "generateContent").startswith(UPSTREAM)


def test_config_params_become_call_defaults_without_the_credentials() -> None:
    targets = ModelTargets(_config(_entry("flash", temperature=0.2), request_timeout=12), {})

    defaults = targets.pick("flash").defaults

    assert defaults == {"temperature": 0.2, "timeout": 12}


def test_deployment_timeout_wins_over_the_general_one() -> None:
    targets = ModelTargets(_config(_entry("flash", timeout=3), request_timeout=12), {})

    assert targets.pick("flash").defaults["timeout"] == 3


def test_every_deployment_of_a_name_is_picked() -> None:
    config = _config(_entry("flash"), _entry("flash", model="gemini/gemini-2.5-flash"))
    targets = ModelTargets(config, {}, rng=random.Random(7))

    picked = Counter(targets.pick("flash").deployment.id for _ in range(200))

    assert set(picked) == {"flash#0", "flash#1"}
    assert 60 < picked["flash#0"] < 140


def test_weights_share_the_traffic() -> None:
    config = _config(_entry("flash", weight=1), _entry("flash", weight=9))
    targets = ModelTargets(config, {}, rng=random.Random(7))

    picked = Counter(targets.pick("flash").deployment.id for _ in range(1000))

    assert picked["flash#1"] > 4 * picked["flash#0"] > 0


@pytest.mark.parametrize("name", ["gpt-4o", "gemini/gemini-2.0-flash", "FLASH", ""])
def test_names_outside_the_model_list_are_not_found(name: str) -> None:
    targets = ModelTargets(_config(_entry("flash"), _entry("pro")), {})

    with pytest.raises(errors.NotFoundError) as raised:
        targets.pick(name)

    assert raised.value.message == f"model {name!r} is not served by this gateway (models: flash, pro)"  # fmt: skip


def test_without_a_model_list_gemini_names_are_served_directly() -> None:
    targets = ModelTargets(gateway_config(UPSTREAM), {})

    target = targets.pick("gemini/gemini-2.5-flash")

    assert targets.accepts_direct_names
    assert (target.model_name, target.model_id) == ("gemini/gemini-2.5-flash", "gemini-2.5-flash")
    with pytest.raises(errors.NotFoundError):
        targets.pick("gemini-2.5-flash")


def test_direct_names_use_the_general_upstream_and_key() -> None:
    config = gateway_config(UPSTREAM, api_key="general-key")

    target = ModelTargets(config, {}).pick("gemini/gemini-2.5-flash")

    assert target.provider.url(target.model_id, "generateContent").startswith(UPSTREAM)
    assert target.provider.auth_headers_sync() == {"x-goog-api-key": "general-key"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("flash", "flash"), ("models/flash", "flash")],
)
def test_native_names_are_model_list_names_first(name: str, expected: str) -> None:
    targets = ModelTargets(_config(_entry("flash")), {})

    assert targets.pick_native(name).model_name == expected


@pytest.mark.parametrize("name", ["gemini-2.5-flash", "models/gemini-2.5-flash"])
def test_native_names_without_a_model_list_are_gemini_ids(name: str) -> None:
    target = ModelTargets(gateway_config(UPSTREAM), {}).pick_native(name)

    assert (target.model_name, target.model_id) == ("gemini/gemini-2.5-flash", "gemini-2.5-flash")


def test_direct_targets_are_resolved_once() -> None:
    targets = ModelTargets(gateway_config(UPSTREAM), {})

    assert targets.pick("gemini/gemini-2.5-flash") is targets.pick("gemini/gemini-2.5-flash")


def test_direct_targets_kept_are_capped() -> None:
    targets = ModelTargets(gateway_config(UPSTREAM), {})
    for index in range(MAX_DIRECT_TARGETS):
        targets.pick(f"gemini/gemini-test-{index}")

    late = "gemini/gemini-one-too-many"

    assert targets.pick(late) is not targets.pick(late)
    assert targets.pick(late).model_id == "gemini-one-too-many"
    assert targets.pick("gemini/gemini-test-0") is targets.pick("gemini/gemini-test-0")


def test_direct_names_past_the_cap_share_one_metrics_name() -> None:
    targets = ModelTargets(gateway_config(UPSTREAM), {})
    for index in range(MAX_DIRECT_TARGETS):
        targets.pick(f"gemini/gemini-test-{index}")

    late = [targets.pick(f"gemini/gemini-late-{index}") for index in range(3)]

    assert {(t.model_name, t.deployment.id) for t in late} == {(OTHER_DIRECT_NAME, OTHER_DIRECT_NAME)}  # fmt: skip
    assert [t.model_id for t in late] == ["gemini-late-0", "gemini-late-1", "gemini-late-2"]


def test_vertex_deployment_resolves_with_its_project_and_location() -> None:
    key_file, _ = new_service_account(
        client_email="sa@emulator-project.iam.gserviceaccount.com",
        token_uri="http://127.0.0.1:1/token",
        project_id="emulator-project",
    )
    entry = {"model_name": "vx", "params": {"model": "vertex_ai/gemini-2.5-flash",
             "vertex_credentials": key_file, "vertex_location": "europe-west4"}}  # fmt: skip

    target = ModelTargets(_config(entry), {}).pick("vx")

    assert target.provider.url(target.model_id, "generateContent") == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/emulator-project/"
        "locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "vertex_ai/gemini-2.5-flash"}, "no Vertex AI credentials"),
        ({"model": "vertex_ai/gemini-2.5-flash", "api_key": "k", "vertex_location": "not a place"},
         "is not a Vertex AI location"),
    ],
)  # fmt: skip
def test_unusable_deployment_stops_the_gateway_at_start(
    params: dict[str, Any], message: str
) -> None:
    config = _config({"model_name": "vx", "params": params})

    with pytest.raises(ConfigError) as raised:
        create_app(config, environ={})

    assert str(raised.value).startswith("model_list[0] (vx): ")
    assert message in str(raised.value)


@pytest.fixture
def second_emulator_url() -> Iterator[str]:
    settings = EmulatorSettings(api_keys=frozenset({TEST_API_KEY}))
    with serve(create_emulator_app(settings)) as url:
        yield url


def _send_chats(url: str, count: int) -> None:
    body = {"model": "balanced", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {MASTER_KEY}"}) as client:
        for _ in range(count):
            assert client.post("/v1/chat/completions", json=body).status_code == 200


def _requests_to(emulator_url: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = httpx.get(f"{emulator_url}/emulator/requests").json()["requests"]  # fmt: skip
    return requests


def test_two_upstreams_behind_one_name_both_get_traffic(
    emulator_url: str, second_emulator_url: str
) -> None:
    entries = [
        {
            "model_name": "balanced",
            "params": {
                "model": "gemini/gemini-2.0-flash",
                "api_key": TEST_API_KEY,
                "api_base": base,
            },
        }  # fmt: skip
        for base in (emulator_url, second_emulator_url)
    ]
    with serve(create_app(_config(*entries, master_key=MASTER_KEY))) as url:
        _send_chats(url, 30)

    counts = [len(_requests_to(base)) for base in (emulator_url, second_emulator_url)]
    assert sum(counts) == 30
    assert min(counts) >= 5


def test_two_keys_on_one_upstream_both_get_traffic() -> None:
    keys = ("key-one", "key-two")
    with serve(create_emulator_app(EmulatorSettings(api_keys=frozenset(keys)))) as upstream:
        entries = [
            {
                "model_name": "balanced",
                "params": {
                    "model": "gemini/gemini-2.0-flash",
                    "api_key": key,
                    "api_base": upstream,
                },
            }  # fmt: skip
            for key in keys
        ]
        with serve(create_app(_config(*entries, master_key=MASTER_KEY))) as url:
            _send_chats(url, 30)
        used = Counter(request["headers"]["x-goog-api-key"] for request in _requests_to(upstream))

    assert set(used) == set(keys)
    assert min(used.values()) >= 5
