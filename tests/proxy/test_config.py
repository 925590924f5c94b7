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


def test_unknown_top_level_sections_are_kept_for_later_features() -> None:
    text = "model_list:\n  - model_name: flash\n"

    config = parse_config(text, {})

    assert config.model_extra == {"model_list": [{"model_name": "flash"}]}


def test_unknown_general_setting_is_refused_as_a_likely_typo() -> None:
    with pytest.raises(ConfigError, match=r"^config: general_settings\.gemini_api_kye: Extra"):
        parse_config("general_settings:\n  gemini_api_kye: x\n", {})


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
    assert moved.model_extra == {"model_list": []}
