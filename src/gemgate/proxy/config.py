"""config.yaml → ProxyConfig (pydantic), validated once; `os.environ/NAME` references and env defaults.

The environment is passed in as a mapping (the command line hands over `os.environ`), so parsing
stays pure and tests never touch the real environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

DEFAULT_GEMINI_API_BASE = "https://generativelanguage.googleapis.com"
ENV_REFERENCE = "os.environ/"
# Environment variables that fill settings the file leaves out.
ENV_DEFAULTS = {"gemini_api_key": "GEMINI_API_KEY", "gemini_api_base": "GEMINI_API_BASE"}


class ConfigError(Exception):
    """A config file or value the gateway cannot start with; the message is one line."""


class GeneralSettings(BaseModel):
    """`general_settings:` of config.yaml."""

    # Unknown keys here are most likely typos of the ones below, so they are refused.
    model_config = ConfigDict(extra="forbid", frozen=True)

    gemini_api_key: SecretStr | None = None
    gemini_api_base: str = DEFAULT_GEMINI_API_BASE
    # Seconds to wait for a connection or for the next bytes from Google.
    request_timeout: float = Field(default=600.0, gt=0)

    @field_validator("gemini_api_base")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")


class ProxyConfig(BaseModel):
    """The whole config file; sections that later features read are kept as given."""

    model_config = ConfigDict(extra="allow", frozen=True)

    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)

    def with_upstream(self, api_base: str, api_key: str) -> ProxyConfig:
        """This config pointed at another Gemini API (the built-in emulator)."""
        settings = self.general_settings.model_copy(
            update={"gemini_api_base": api_base.rstrip("/"), "gemini_api_key": SecretStr(api_key)}
        )
        return self.model_copy(update={"general_settings": settings})


def load_config(path: Path | None, environ: Mapping[str, str]) -> ProxyConfig:
    """Read and validate ``path`` (no file: settings from ``environ`` only)."""
    if path is None:
        return parse_config("", environ)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise ConfigError(f"cannot read config file {path}: {reason}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text") from error
    return parse_config(text, environ, source=str(path))


def parse_config(text: str, environ: Mapping[str, str], *, source: str = "config") -> ProxyConfig:
    """Validate YAML ``text``; `os.environ/NAME` values and gaps are filled from ``environ``."""
    document = _resolve_references(_load_yaml(text, source), environ, source, where="")
    general = document.get("general_settings") or {}
    if not isinstance(general, dict):
        raise ConfigError(f"{source}: general_settings must be a mapping")
    for setting, variable in ENV_DEFAULTS.items():
        if general.get(setting) in (None, "") and environ.get(variable):
            general[setting] = environ[variable]
    if general.get("gemini_api_key") == "":
        del general["gemini_api_key"]
    try:
        return ProxyConfig.model_validate({**document, "general_settings": general})
    except ValidationError as error:
        raise ConfigError(f"{source}: {_first_problem(error)}") from error


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: invalid YAML{where}: {error.problem}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    return document


def _resolve_references(value: Any, environ: Mapping[str, str], source: str, where: str) -> Any:
    """Replace every `os.environ/NAME` string with that variable's value."""
    if isinstance(value, dict):
        return {
            key: _resolve_references(item, environ, source, f"{where}.{key}".lstrip("."))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve_references(item, environ, source, f"{where}[{index}]")
            for index, item in enumerate(value)
        ]
    if isinstance(value, str) and value.startswith(ENV_REFERENCE):
        name = value.removeprefix(ENV_REFERENCE)
        if name not in environ:
            raise ConfigError(f"{source}: {where}: environment variable {name} is not set")
        return environ[name]
    return value


def _first_problem(error: ValidationError) -> str:
    """The first validation error as `section.key: reason` (pydantic's text is several lines)."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    location = ".".join(str(part) for part in first["loc"]) or "config"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{location}: {message}{more}"
