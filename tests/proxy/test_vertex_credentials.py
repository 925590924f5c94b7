"""Vertex AI credentials of the pass-through: which source serves a request, the host it goes to,
and start-up errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gemgate import errors
from gemgate.emulator.service_accounts import new_service_account
from gemgate.providers.resolve import ProviderRegistry
from gemgate.providers.vertex_ai import VertexAi
from gemgate.proxy.config import ConfigError, parse_config
from gemgate.proxy.pass_through_settings import DISCOVERY_BASE_URL
from gemgate.proxy.vertex_credentials import (
    VertexCredentials,
    VertexSource,
    vertex_credentials_from,
)


def _keyed(project: str, location: str, key: str, base_url: str | None = None) -> VertexSource:
    """A source signing with an API key (express mode): its headers need no network."""
    auth = VertexAi(project=project, location=location, api_base="https://x", api_key=key)
    return VertexSource(project, location, base_url, auth)


DEPLOYMENTS = [
    _keyed("alpha", "us-central1", "alpha-us"),
    _keyed("alpha", "europe-west4", "alpha-eu", base_url="http://alpha-eu.test"),
    _keyed("beta", "us-central1", "beta-us"),
]
DEFAULT = _keyed("fallback", "asia-northeast1", "fallback-key")


def _table(
    deployments: list[VertexSource] = DEPLOYMENTS,
    default: VertexSource | None = DEFAULT,
    base_url: str | None = None,
) -> VertexCredentials:
    return VertexCredentials(
        deployments, default, base_url=base_url, discovery_base_url=DISCOVERY_BASE_URL
    )


@pytest.mark.parametrize(
    ("project", "location", "expected"),
    [
        ("alpha", "us-central1", "alpha-us"),
        ("alpha", "europe-west4", "alpha-eu"),
        ("beta", "us-central1", "beta-us"),
        ("beta", "europe-west4", "fallback-key"),
        ("gamma", "us-central1", "fallback-key"),
        ("alpha", None, "alpha-us"),
        (None, "us-central1", "alpha-us"),
        (None, None, "alpha-us"),
    ],
)
async def test_first_matching_deployment_wins_then_the_defaults(
    project: str | None, location: str | None, expected: str
) -> None:
    upstream = await _table().upstream(project, location, "Bearer callers")

    assert upstream.headers == [("x-goog-api-key", expected)]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
        (None, "https://aiplatform.googleapis.com"),
    ],
)
async def test_location_picks_the_host(location: str | None, expected: str) -> None:
    upstream = await _table([], None).upstream("p", location, "Bearer callers")

    assert upstream.base_url == expected


async def test_configured_base_url_replaces_the_location_host() -> None:
    table = _table([], None, base_url="http://127.0.0.1:8090")

    upstream = await table.upstream("p", "us-central1", "Bearer callers")

    assert upstream.base_url == "http://127.0.0.1:8090"


async def test_a_deployments_own_base_url_wins_over_the_configured_one() -> None:
    table = _table(base_url="http://configured.test")

    own = await table.upstream("alpha", "europe-west4", None)
    other = await table.upstream("alpha", "us-central1", None)

    assert (own.base_url, other.base_url) == ("http://alpha-eu.test", "http://configured.test")


async def test_missing_project_and_location_are_the_defaults() -> None:
    upstream = await _table([]).upstream(None, None, None)

    assert (upstream.project, upstream.location) == ("fallback", "asia-northeast1")
    assert upstream.base_url == "https://asia-northeast1-aiplatform.googleapis.com"


async def test_callers_authorization_is_used_only_without_credentials_of_ours() -> None:
    defaults_without_credentials = VertexSource("fallback", "us-east4", None, None)
    table = _table([], defaults_without_credentials)

    upstream = await table.upstream(None, None, "Bearer ya29.callers")

    assert upstream.headers == [("authorization", "Bearer ya29.callers")]
    assert (upstream.project, upstream.location) == ("fallback", "us-east4")


async def test_nothing_to_authenticate_with_is_a_401_naming_the_project() -> None:
    with pytest.raises(errors.AuthenticationError, match="project p in us-central1"):
        await _table([], None).upstream("p", "us-central1", None)


@pytest.mark.parametrize("location", ["evil.example/x", "us-central1.evil.example", "US", ""])
async def test_location_that_cannot_name_a_host_is_refused(location: str) -> None:
    with pytest.raises(errors.BadRequestError):
        await _table().upstream("alpha", location, None)


async def test_vertex_ai_search_has_one_host_and_matches_credentials_by_project() -> None:
    upstream = await _table().discovery_upstream("beta", None)

    assert upstream.base_url == DISCOVERY_BASE_URL
    assert upstream.headers == [("x-goog-api-key", "beta-us")]


def test_deployments_marked_for_pass_through_are_the_sources() -> None:
    text = """
model_list:
  - model_name: express
    litellm_params: {model: vertex_ai/gemini-2.5-flash, api_key: vertex-key, vertex_location: europe-west4, use_in_pass_through: true}
  - model_name: not-for-pass-through
    litellm_params: {model: vertex_ai/gemini-2.5-flash, api_key: other-key}
"""  # fmt: skip
    table = vertex_credentials_from(parse_config(text, {}), {}, ProviderRegistry())

    source = table.source_for(None, "europe-west4")

    assert source is not None and source.location == "europe-west4"
    assert table.source_for(None, "us-central1") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "pass_through:\n  vertex_ai:\n    credentials: /no/such/key.json\n",
            "pass_through.vertex_ai: cannot read the service-account key file",
        ),
        (
            'pass_through:\n  vertex_ai:\n    credentials: \'{"type": "service_account"}\'\n',
            "pass_through.vertex_ai: vertex_credentials must be a service-account key file",
        ),
        (
            "pass_through:\n  vertex_ai:\n    location: evil.example/x\n",
            "pass_through.vertex_ai: 'evil.example/x' is not a Vertex AI location",
        ),
    ],
)
def test_unusable_default_credentials_stop_start_up_naming_the_setting(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        vertex_credentials_from(parse_config(text, {}), {}, ProviderRegistry())

    assert str(raised.value).startswith(message)


def test_key_file_is_read_once_at_start_up(tmp_path: Path) -> None:
    key_file, _ = new_service_account(
        client_email="a@emulator-project.iam.gserviceaccount.com",
        token_uri="http://127.0.0.1:1/token",
        project_id="emulator-project",
    )
    key_path = tmp_path / "key.json"
    key_path.write_bytes(orjson.dumps(key_file))
    config = parse_config(f"pass_through:\n  vertex_ai:\n    credentials: {key_path}\n", {})
    table = vertex_credentials_from(config, {}, ProviderRegistry())
    key_path.unlink()

    source = table.source_for("anything", "us-central1")

    assert source is not None and source.auth is not None
    assert (source.project, source.location) == ("emulator-project", "us-central1")
