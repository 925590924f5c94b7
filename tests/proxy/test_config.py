"""config.yaml parsing: env references, env defaults, validation errors in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemgate.proxy.config import DEFAULT_GEMINI_API_BASE, ConfigError, load_config, parse_config


def test_no_file_and_no_env_means_google_without_a_key() -> None:
    config = parse_config("", {})

    assert config.general_settings.gemini_api_base == DEFAULT_GEMINI_API_BASE
    assert config.general_settings.gemini_api_key is None


def test_env_fills_key_and_base_the_file_leaves_out() -> None:
    environ = {"GEMINI_API_KEY": "env-key", "GEMINI_API_BASE": "http://127.0.0.1:9/"}

    settings = parse_config("general_settings: {}\n", environ).general_settings

    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.get_secret_value() == "env-key"
    assert settings.gemini_api_base == "http://127.0.0.1:9"


def test_file_values_win_over_env() -> None:
    text = "general_settings:\n  gemini_api_key: file-key\n  gemini_api_base: http://file:1\n"
    environ = {"GEMINI_API_KEY": "env-key", "GEMINI_API_BASE": "http://env:2"}

    settings = parse_config(text, environ).general_settings

    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.get_secret_value() == "file-key"
    assert settings.gemini_api_base == "http://file:1"


def test_empty_env_key_counts_as_unset() -> None:
    assert parse_config("", {"GEMINI_API_KEY": ""}).general_settings.gemini_api_key is None


def test_os_environ_reference_is_replaced_by_the_variable() -> None:
    text = "general_settings:\n  gemini_api_key: os.environ/MY_GEMINI_KEY\n"

    settings = parse_config(text, {"MY_GEMINI_KEY": "from-env"}).general_settings

    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.get_secret_value() == "from-env"


def test_unset_os_environ_reference_names_the_variable_and_the_setting() -> None:
    text = "general_settings:\n  gemini_api_key: os.environ/MISSING_KEY\n"

    with pytest.raises(ConfigError) as raised:
        parse_config(text, {}, source="config.yaml")

    assert str(raised.value) == (
        "config.yaml: general_settings.gemini_api_key: environment variable MISSING_KEY is not set"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "general_settings:\n  gemini_api_base: ftp://example.com\n",
            "c.yaml: general_settings.gemini_api_base: must be an http:// or https:// URL",
        ),
        (
            "general_settings:\n  gemini_api_base: http://h/?key=1\n",
            "c.yaml: general_settings.gemini_api_base: must not carry a query or fragment",
        ),
        (
            "general_settings:\n  request_timeout: 0\n",
            "c.yaml: general_settings.request_timeout: Input should be greater than 0",
        ),
        ("general_settings: [1]\n", "c.yaml: general_settings must be a mapping"),
        ("- a\n- b\n", "c.yaml: the top level must be a mapping of sections"),
        ("general_settings:\n  a: [\n", "c.yaml: invalid YAML at line 3, column 1: "),
    ],
)
def test_bad_config_is_one_line_error(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, {}, source="c.yaml")

    message = str(raised.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_missing_config_file_is_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as raised:
        load_config(missing, {})

    assert str(raised.value) == f"cannot read config file {missing}: no such file or directory"


def test_config_file_is_read_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("general_settings:\n  gemini_api_base: http://127.0.0.1:1\n")

    config = load_config(path, {})

    assert config.general_settings.gemini_api_base == "http://127.0.0.1:1"


def test_key_is_hidden_when_the_config_is_printed() -> None:
    config = parse_config("general_settings:\n  gemini_api_key: very-secret\n", {})

    assert "very-secret" not in repr(config)
    assert "very-secret" not in str(config)


def test_with_upstream_points_the_config_at_another_api() -> None:
    config = parse_config("model_list: []\n", {})

    moved = config.with_upstream("http://127.0.0.1:8090/", "emulator-key")

    assert moved.general_settings.gemini_api_base == "http://127.0.0.1:8090"
    assert moved.general_settings.gemini_api_key is not None
    assert moved.general_settings.gemini_api_key.get_secret_value() == "emulator-key"
    assert moved.model_list == ()


ISSUE_EXAMPLE = """\
model_list:
  - model_name: gemini-flash
    params:
      model: gemini/gemini-2.0-flash
      api_key: os.environ/GEMINI_API_KEY
      api_base: http://127.0.0.1:8090
      rpm: 600
general_settings:
  master_key: os.environ/GEMGATE_MASTER_KEY
  database_url: os.environ/DATABASE_URL
"""
EXAMPLE_ENVIRON = {
    "GEMINI_API_KEY": "gemini-key",
    "GEMGATE_MASTER_KEY": "sk-master",
    "DATABASE_URL": "postgresql://db/gemgate",
}


def _entry(params: str, name: str = "flash") -> str:
    """A config with one model_list entry whose params are the YAML flow mapping ``params``."""
    return f"model_list:\n  - model_name: {name}\n    params: {params}\n"


def test_documented_example_reads_deployment_and_settings_from_env() -> None:
    config = parse_config(ISSUE_EXAMPLE, EXAMPLE_ENVIRON)

    (entry,) = config.model_list
    assert entry.model_name == "gemini-flash"
    assert entry.params.model == "gemini/gemini-2.0-flash"
    assert entry.params.api_key is not None
    assert entry.params.api_key.get_secret_value() == "gemini-key"
    assert entry.params.api_base == "http://127.0.0.1:8090"
    assert entry.params.rpm == 600
    settings = config.general_settings
    assert settings.master_key is not None
    assert settings.master_key.get_secret_value() == "sk-master"
    assert settings.database_url == "postgresql://db/gemgate"
    assert config.warnings == ()


def test_new_general_settings_have_safe_defaults() -> None:
    settings = parse_config("", {}).general_settings

    assert (settings.master_key, settings.database_url) == (None, None)
    assert settings.max_request_body_mb == 20
    assert settings.log_format == "text"
    assert settings.log_request_bodies is False


def test_master_key_env_variable_fills_a_config_that_names_none() -> None:
    settings = parse_config("", {"GEMGATE_MASTER_KEY": "sk-env"}).general_settings

    assert settings.master_key is not None
    assert settings.master_key.get_secret_value() == "sk-env"


def test_litellm_params_is_read_as_params() -> None:
    text = "model_list:\n  - model_name: flash\n    litellm_params:\n      model: gemini/gemini-2.0-flash\n"

    aliased = parse_config(text, {}).model_list
    plain = parse_config(text.replace("litellm_params", "params"), {}).model_list

    assert aliased == plain
    assert aliased[0].params.model == "gemini/gemini-2.0-flash"


def test_repeated_model_name_is_load_balancing_not_an_error() -> None:
    text = _entry("{model: gemini/gemini-2.0-flash}") + (
        "  - model_name: flash\n    params: {model: vertex_ai/gemini-2.0-flash}\n"
    )

    deployments = parse_config(text, {}).deployments()

    assert [(d.id, d.model_name, d.model) for d in deployments] == [
        ("flash#0", "flash", "gemini/gemini-2.0-flash"),
        ("flash#1", "flash", "vertex_ai/gemini-2.0-flash"),
    ]


def test_model_name_may_itself_look_like_a_provider_model() -> None:
    config = parse_config(_entry("{model: gemini/gemini-2.5-pro}", name="gemini/pro"), {})

    assert config.model_list[0].model_name == "gemini/pro"


def test_unknown_params_are_kept_as_call_defaults() -> None:
    params = (
        "{model: vertex_ai/gemini-2.0-flash, temperature: 0.2, vertex_project: p,"
        " vertex_location: europe-west4, vertex_credentials: {type: service_account},"
        " timeout: 30, num_retries: 2, max_tokens: 256}"
    )

    deployment = parse_config(_entry(params), {}).deployments()[0]

    assert deployment.params == {
        "temperature": 0.2,
        "vertex_project": "p",
        "vertex_location": "europe-west4",
        "vertex_credentials": {"type": "service_account"},
        "timeout": 30,
        "num_retries": 2,
        "max_tokens": 256,
    }


def test_env_references_inside_params_are_resolved_at_any_depth() -> None:
    params = "{model: vertex_ai/gemini-2.0-flash, vertex_credentials: os.environ/SA, extra_headers: {x-team: os.environ/TEAM}}"  # fmt: skip

    deployment = parse_config(_entry(params), {"SA": "/run/sa.json", "TEAM": "blue"}).deployments()[0]  # fmt: skip

    assert deployment.params["vertex_credentials"] == "/run/sa.json"
    assert deployment.params["extra_headers"] == {"x-team": "blue"}


def test_blank_env_key_and_base_in_params_count_as_absent() -> None:
    params = "{model: gemini/gemini-2.0-flash, api_key: os.environ/K, api_base: os.environ/B}"

    entry = parse_config(_entry(params), {"K": "", "B": ""}).model_list[0]

    assert (entry.params.api_key, entry.params.api_base) == (None, None)


def test_empty_model_list_is_no_deployments() -> None:
    assert parse_config("model_list:\n", {}).deployments() == ()


def test_deployments_carry_unwrapped_secrets_and_routing_settings() -> None:
    params = "{model: gemini/gemini-2.0-flash, api_key: k1, api_base: 'http://h:1/', rpm: 10, tpm: 500, weight: 2.5}"  # fmt: skip

    deployment = parse_config(_entry(params), {}).deployments()[0]

    assert deployment.params == {"api_key": "k1", "api_base": "http://h:1"}
    assert (deployment.rpm, deployment.tpm, deployment.weight) == (10, 500, 2.5)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # No upstream of its own: the gateway's default Gemini key and base.
        ("{model: gemini/m}", {"api_key": "general-key", "api_base": "http://general:1"}),
        # Its own key (Google at the default base) or its own base: left as written.
        ("{model: gemini/m, api_key: own}", {"api_key": "own"}),
        ("{model: gemini/m, api_base: 'http://own:2'}", {"api_base": "http://own:2"}),
        # Vertex authenticates with its own credentials, never the Gemini key.
        ("{model: vertex_ai/m}", {}),
    ],
)
def test_gemini_deployment_without_upstream_uses_the_general_one(
    params: str, expected: dict[str, str]
) -> None:
    text = _entry(params) + "general_settings:\n  gemini_api_base: http://general:1\n"

    deployment = parse_config(text, {"GEMINI_API_KEY": "general-key"}).deployments()[0]

    assert deployment.params == expected


def test_with_upstream_moves_only_gemini_deployments_without_their_own_upstream() -> None:
    text = (
        _entry("{model: gemini/a}")
        + "  - model_name: keyed\n    params: {model: gemini/b, api_key: own}\n"
        + "  - model_name: based\n    params: {model: gemini/c, api_base: 'http://own:2'}\n"
        + "  - model_name: vertex\n    params: {model: vertex_ai/d}\n"
    )

    moved = parse_config(text, {}).with_upstream("http://127.0.0.1:8090/", "emulator-key")

    assert [d.params for d in moved.deployments()] == [
        {"api_key": "emulator-key", "api_base": "http://127.0.0.1:8090"},
        {"api_key": "own"},
        {"api_base": "http://own:2"},
        {},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _entry("{model: gemini/a}") + "  - model_name: b\n    params: {model: gemini/b}\n"
            "  - model_name: c\n    params: {model: openai/gpt-4o}\n",
            "c.yaml: model_list[2].params.model: must be gemini/<model> or vertex_ai/<model>, got 'openai/gpt-4o'",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: gpt-4o}\n",
            "c.yaml: model_list[0].litellm_params.model: must be gemini/<model> or vertex_ai/<model>, got 'gpt-4o'",
        ),
        (
            _entry("{model: gemini/}"),
            "c.yaml: model_list[0].params.model: must be gemini/<model> or vertex_ai/<model>",
        ),
        (
            _entry("{model: 'gemini/a/../b'}"),
            "c.yaml: model_list[0].params.model: 'a/../b' is not a model id",
        ),
        (
            _entry("{model: gemini/a}") + "    litellm_params: {model: gemini/a}\n",
            "c.yaml: model_list[0]: give params or litellm_params, not both",
        ),
        ("model_list:\n  - model_name: a\n", "c.yaml: model_list[0].params: is required"),
        (_entry("{rpm: 1}"), "c.yaml: model_list[0].params.model: is required"),
        (
            "model_list:\n  - params: {model: gemini/a}\n",
            "c.yaml: model_list[0].model_name: is required",
        ),  # fmt: skip
        (
            _entry("{model: gemini/a}", name="''"),
            "c.yaml: model_list[0].model_name: must not be empty",
        ),  # fmt: skip
        ("model_list: {a: 1}\n", "c.yaml: model_list: must be a list"),
        ("model_list:\n  - flash\n", "c.yaml: model_list[0]: must be a mapping"),
        (
            _entry("{model: gemini/a, api_base: 'ftp://h'}"),
            "c.yaml: model_list[0].params.api_base: must be an http:// or https:// URL",
        ),
        (
            _entry("{model: gemini/a, api_key: 5}"),
            "c.yaml: model_list[0].params.api_key: Input should be a valid string",
        ),  # fmt: skip
        (
            _entry("{model: gemini/a, rpm: 0}"),
            "c.yaml: model_list[0].params.rpm: Input should be greater than 0",
        ),  # fmt: skip
        (
            _entry("{model: gemini/a, tpm: -5}"),
            "c.yaml: model_list[0].params.tpm: Input should be greater than 0",
        ),  # fmt: skip
        (
            _entry("{model: gemini/a, rpm: many}"),
            "c.yaml: model_list[0].params.rpm: Input should be a valid integer",
        ),  # fmt: skip
        (
            _entry("{model: gemini/a, weight: 0}"),
            "c.yaml: model_list[0].params.weight: Input should be greater than 0",
        ),  # fmt: skip
        (
            _entry("{model: vertex_ai/a, vertex_credentials: 5}"),
            "c.yaml: model_list[0].params: vertex_credentials must be a file path, a JSON string or a mapping",
        ),
        (
            "general_settings:\n  master_key: ''\n",
            "c.yaml: general_settings.master_key: must not be empty",
        ),  # fmt: skip
        (
            "general_settings:\n  max_request_body_mb: 0\n",
            "c.yaml: general_settings.max_request_body_mb: Input should be greater than 0",
        ),  # fmt: skip
        (
            "general_settings:\n  log_format: xml\n",
            "c.yaml: general_settings.log_format: Input should be 'text' or 'json'",
        ),  # fmt: skip
        (
            "general_settings:\n  log_request_bodies: maybe\n",
            "c.yaml: general_settings.log_request_bodies: Input should be a valid boolean",
        ),  # fmt: skip
    ],
)
def test_bad_model_list_or_setting_names_file_path_and_problem(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, {}, source="c.yaml")

    message = str(raised.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_unset_env_reference_in_params_names_the_entry() -> None:
    text = "model_list:\n  - model_name: a\n    litellm_params:\n      model: gemini/a\n      api_key: os.environ/NOPE\n"  # fmt: skip

    with pytest.raises(ConfigError) as raised:
        parse_config(text, {}, source="c.yaml")

    assert str(raised.value) == (
        "c.yaml: model_list[0].litellm_params.api_key: environment variable NOPE is not set"
    )


def test_empty_master_key_from_the_environment_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"general_settings\.master_key: must not be empty"):
        parse_config("general_settings:\n  master_key: os.environ/MK\n", {"MK": ""})


def test_unknown_sections_and_keys_warn_instead_of_failing() -> None:
    text = (
        _entry("{model: gemini/a}")
        + "    tpm: 5\n"
        + "general_settings:\n  gemini_api_kye: x\n  alerting: [slack]\n"
        + "router_settings: {routing_strategy: least-busy}\n"
        + "litellm_settings: {drop_params: true}\ncache: true\ncallback_settings: []\n"
    )

    config = parse_config(text, {}, source="config.yaml")

    assert config.warnings == (
        "config.yaml: router_settings: unknown section, ignored",
        "config.yaml: litellm_settings: unknown section, ignored",
        "config.yaml: cache: unknown section, ignored",
        "config.yaml: callback_settings: unknown section, ignored",
        "config.yaml: general_settings.gemini_api_kye: unknown setting, ignored (did you mean gemini_api_key?)",
        "config.yaml: general_settings.alerting: unknown setting, ignored",
        "config.yaml: model_list[0].tpm: unknown key, ignored",
    )
    assert config.general_settings.gemini_api_key is None
    assert config.model_list[0].params.tpm is None


def test_env_reference_in_an_ignored_section_does_not_stop_the_gateway() -> None:
    text = "litellm_settings:\n  langfuse_key: os.environ/UNSET\n"

    config = parse_config(text, {}, source="c.yaml")

    assert config.warnings == ("c.yaml: litellm_settings: unknown section, ignored",)


def test_warnings_key_in_the_file_is_an_unknown_section() -> None:
    config = parse_config("warnings: [forged]\n", {}, source="c.yaml")

    assert config.warnings == ("c.yaml: warnings: unknown section, ignored",)


def test_warnings_stay_out_of_dumps_and_repr() -> None:
    config = parse_config("cache: true\n", {})

    assert "warnings" not in config.model_dump()
    assert "unknown section" not in repr(config)


def test_deployment_secrets_are_hidden_when_the_config_is_printed() -> None:
    params = "{model: vertex_ai/a, api_key: key-secret, vertex_credentials: '{\"private_key\": \"pk-secret\"}'}"  # fmt: skip

    text = _entry(params) + "general_settings:\n  database_url: postgresql://u:db-secret@h/g\n"

    printed = repr(parse_config(text, {}))

    assert "key-secret" not in printed
    assert "db-secret" not in printed
    assert "pk-secret" not in printed
    assert "vertex_ai/a" in printed


def test_pass_through_section_is_read() -> None:
    text = """
pass_through:
  gemini: {base_url: "http://gemini.test/"}
  vertex_ai:
    project: my-project
    location: europe-west4
    credentials: {type: service_account}
    base_url: http://vertex.test
    discovery_base_url: http://discovery.test/
"""

    pass_through = parse_config(text, {}).pass_through

    assert pass_through.gemini.base_url == "http://gemini.test"
    vertex = pass_through.vertex_ai
    assert (vertex.project, vertex.location) == ("my-project", "europe-west4")
    assert vertex.credentials == {"type": "service_account"}
    assert (vertex.base_url, vertex.discovery_base_url) == ("http://vertex.test", "http://discovery.test")  # fmt: skip
    assert "service_account" not in repr(vertex)


def test_pass_through_defaults_are_googles_hosts_and_no_credentials() -> None:
    pass_through = parse_config("", {}).pass_through

    assert pass_through.gemini.base_url is None
    assert pass_through.vertex_ai.base_url is None
    assert pass_through.vertex_ai.credentials is None
    assert pass_through.vertex_ai.discovery_base_url == "https://discoveryengine.googleapis.com"


def test_env_fills_the_vertex_defaults_the_file_leaves_out() -> None:
    environ = {
        "DEFAULT_VERTEXAI_PROJECT": "env-project",
        "DEFAULT_VERTEXAI_LOCATION": "us-east4",
        "DEFAULT_GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json",
        "VERTEX_API_BASE": "http://127.0.0.1:8090/",
    }
    text = "pass_through:\n  vertex_ai:\n    project: file-project\n"

    vertex = parse_config(text, environ).pass_through.vertex_ai

    assert (vertex.project, vertex.location) == ("file-project", "us-east4")
    assert (vertex.credentials, vertex.base_url) == ("/keys/sa.json", "http://127.0.0.1:8090")


def test_litellm_default_vertex_config_fills_the_vertex_defaults() -> None:
    text = (
        "default_vertex_config:\n  vertex_project: lite-project\n  vertex_location: us-central1\n"
        "  vertex_credentials: os.environ/KEY_PATH\n"
    )

    config = parse_config(text, {"KEY_PATH": "/keys/sa.json"})

    vertex = config.pass_through.vertex_ai
    assert (vertex.project, vertex.location, vertex.credentials) == (
        "lite-project", "us-central1", "/keys/sa.json",
    )  # fmt: skip
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pass_through:\n  vertex_ai:\n    projct: p\n",
            "c.yaml: pass_through.vertex_ai.projct: unknown key",
        ),
        (
            "pass_through:\n  gemini:\n    base_url: ftp://h\n",
            "c.yaml: pass_through.gemini.base_url: must be an http:// or https:// URL",
        ),
        (
            "pass_through:\n  vertex_ai:\n    base_url: http://h/?key=1\n",
            "c.yaml: pass_through.vertex_ai.base_url: must not carry a query or fragment",
        ),
        ("pass_through: [1]\n", "c.yaml: pass_through: must be a mapping"),
        (
            "pass_through:\n  vertex_ai:\n    credentials: [1]\n",
            "c.yaml: pass_through.vertex_ai.credentials",
        ),
        (
            _entry("{model: gemini/gemini-2.5-flash, use_in_pass_through: true}"),
            "c.yaml: model_list[0].params: use_in_pass_through needs a vertex_ai/<model> deployment",
        ),
    ],
)  # fmt: skip
def test_bad_pass_through_settings_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, {}, source="c.yaml")

    assert str(raised.value).startswith(expected)


def test_use_in_pass_through_is_a_router_setting_not_a_call_parameter() -> None:
    text = _entry(
        "{model: vertex_ai/gemini-2.5-flash, use_in_pass_through: true, temperature: 0.5}"
    )

    config = parse_config(text, {})

    assert config.model_list[0].params.use_in_pass_through is True
    assert config.deployments()[0].params == {"temperature": 0.5}


def test_with_upstream_sends_the_gemini_pass_through_to_the_emulator_too() -> None:
    config = parse_config("pass_through:\n  gemini: {base_url: 'https://google.test'}\n", {})

    moved = config.with_upstream("http://127.0.0.1:8090", "emulator-key")

    assert moved.pass_through.gemini.base_url is None
    assert moved.general_settings.gemini_api_base == "http://127.0.0.1:8090"
