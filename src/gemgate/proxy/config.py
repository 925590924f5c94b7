"""config.yaml → ProxyConfig (pydantic), validated once; `os.environ/NAME` references and env defaults.

The environment is passed in as a mapping (the command line hands over `os.environ`), so parsing
stays pure and tests never touch the real environment.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gemgate import errors
from gemgate.providers.base import model_id
from gemgate.proxy.access_log import is_secret_name
from gemgate.proxy.pass_through_settings import PassThroughSettings, pass_through_section
from gemgate.routing.deployments import Deployment

DEFAULT_GEMINI_API_BASE = "https://generativelanguage.googleapis.com"
ENV_REFERENCE = "os.environ/"
# Environment variables that fill settings the file leaves out.
ENV_DEFAULTS = {
    "gemini_api_key": "GEMINI_API_KEY",
    "gemini_api_base": "GEMINI_API_BASE",
    "master_key": "GEMGATE_MASTER_KEY",
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
}
MODEL_PREFIXES = ("gemini", "vertex_ai")
GEMINI_PREFIX = "gemini/"
# Extra params hidden when a config is printed, besides those named like credentials.
_SECRET_PARAMS = frozenset({"extra_headers"})
# The sections this version reads; later features add theirs (until then they only warn).
SECTIONS = ("model_list", "general_settings", "pass_through", "default_vertex_config")
_ENTRY_KEYS = frozenset({"model_name", "params", "litellm_params", "model_info"})


class ConfigError(Exception):
    """A config file or value the gateway cannot start with; the message is one line."""


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


def _blank_as_none(value: Any) -> Any:
    # `os.environ/NAME` of a variable set to "" means "not given", as an absent key does.
    return None if value == "" else value


class DeploymentParams(BaseModel):
    """`params:` (alias `litellm_params:`) of one model_list entry; unknown keys are call defaults."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model: str
    api_key: SecretStr | None = None
    api_base: str | None = None
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, gt=0)
    # A router setting, not a call parameter: this deployment's Vertex credentials also serve
    # /vertex_ai pass-through requests for its project and location.
    use_in_pass_through: bool = False

    @field_validator("api_key", "api_base", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return _blank_as_none(value)

    @field_validator("model")
    @classmethod
    def _is_provider_model(cls, value: str) -> str:
        prefix, _, name = value.partition("/")
        if prefix not in MODEL_PREFIXES or not name:
            raise ValueError(f"must be gemini/<model> or vertex_ai/<model>, got {value!r}")
        try:
            model_id(name, provider=prefix)
        except errors.BadRequestError as error:
            raise ValueError(error.message) from error
        return value

    @field_validator("api_base")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @model_validator(mode="after")
    def _pass_through_is_vertex(self) -> DeploymentParams:
        if self.use_in_pass_through and not self.model.startswith("vertex_ai/"):
            raise ValueError("use_in_pass_through needs a vertex_ai/<model> deployment")
        return self

    @model_validator(mode="after")
    def _credentials_are_text_or_mapping(self) -> DeploymentParams:
        credentials = (self.model_extra or {}).get("vertex_credentials")
        if credentials is not None and not isinstance(credentials, str | dict):
            raise ValueError("vertex_credentials must be a file path, a JSON string or a mapping")
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            hidden = name is not None and (name in _SECRET_PARAMS or is_secret_name(name))
            yield name, ("**********" if hidden and value else value)

    def call_params(self) -> dict[str, Any]:
        """Plain call arguments (secrets unwrapped) without the router's own settings."""
        plain = {key: value for key, value in (self.model_extra or {}).items() if value is not None}
        if self.api_key is not None:
            plain["api_key"] = self.api_key.get_secret_value()
        if self.api_base is not None:
            plain["api_base"] = self.api_base
        return plain


class ModelEntry(BaseModel):
    """One `model_list:` entry: the name clients ask for and the deployment behind it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_name: str = Field(min_length=1)
    # `litellm_params` is accepted so that configs written for LiteLLM load unchanged.
    params: DeploymentParams = Field(validation_alias=AliasChoices("params", "litellm_params"))
    model_info: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_params_section(cls, data: Any) -> Any:
        if isinstance(data, dict) and "params" in data and "litellm_params" in data:
            raise ValueError("give params or litellm_params, not both")
        return data

    def uses_default_upstream(self) -> bool:
        """A `gemini/` deployment that names neither a key nor a base URL of its own."""
        params = self.params
        return params.model.startswith(GEMINI_PREFIX) and not (params.api_key or params.api_base)


class GeneralSettings(BaseModel):
    """`general_settings:` of config.yaml (unknown keys are dropped with a warning)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    gemini_api_key: SecretStr | None = None
    gemini_api_base: str = DEFAULT_GEMINI_API_BASE
    # Seconds to wait for a connection or for the next bytes from Google.
    request_timeout: float = Field(default=600.0, gt=0)
    master_key: SecretStr | None = None
    # Kept out of repr: the URL may carry the database password.
    database_url: str | None = Field(default=None, repr=False)
    # Optional: shared limit counters and key-change notices for many gateway instances.
    redis_url: str | None = Field(default=None, repr=False)
    # Folder of the spend journal (default: beside the SQLite file, else ./gemgate-spend.journal).
    spend_journal: str | None = None
    max_request_body_mb: float = Field(default=20.0, gt=0)
    log_format: Literal["text", "json"] = "text"
    # Debug logging of request bodies (redacted); off because prompts are the caller's data.
    log_request_bodies: bool = False
    # Media URLs in messages are fetched from public hosts only, unless this is switched on.
    allow_private_media_urls: bool = False
    # PEM files to serve HTTPS/WSS on the gateway's port (both or neither; --ssl-* flags win).
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @field_validator("database_url", "redis_url", "ssl_certfile", "ssl_keyfile", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return _blank_as_none(value)

    @field_validator("gemini_api_base")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("master_key")
    @classmethod
    def _is_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty key would lock everyone out while looking configured; say so instead.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty (leave it out to run without a master key)")
        return value


class ProxyConfig(BaseModel):
    """The whole config file, and the one-line warnings about what it ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_list: tuple[ModelEntry, ...] = ()
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    pass_through: PassThroughSettings = Field(default_factory=PassThroughSettings)
    warnings: tuple[str, ...] = Field(default=(), exclude=True, repr=False)

    @field_validator("model_list", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        return () if value is None else value

    def deployments(self) -> tuple[Deployment, ...]:
        """model_list as routing deployments; ids are `name#position`, stable across reloads."""
        return tuple(self._deployment(index, entry) for index, entry in enumerate(self.model_list))

    def with_upstream(self, api_base: str, api_key: str) -> ProxyConfig:
        """This config pointed at another Gemini API (the built-in emulator)."""
        base = api_base.rstrip("/")
        settings = self.general_settings.model_copy(
            update={"gemini_api_base": base, "gemini_api_key": SecretStr(api_key)}
        )
        # /gemini/... follows: its own base URL would still point at Google.
        gemini = self.pass_through.gemini.model_copy(update={"base_url": None})
        pass_through = self.pass_through.model_copy(update={"gemini": gemini})
        update = {"api_base": base, "api_key": SecretStr(api_key)}
        entries = tuple(
            entry.model_copy(update={"params": entry.params.model_copy(update=update)})
            if entry.uses_default_upstream()
            else entry
            for entry in self.model_list
        )
        return self.model_copy(
            update={
                "general_settings": settings,
                "model_list": entries,
                "pass_through": pass_through,
            }
        )

    def _deployment(self, index: int, entry: ModelEntry) -> Deployment:
        params = entry.params.call_params()
        settings = self.general_settings
        # A gemini/ deployment without its own upstream uses the gateway's default one.
        if entry.uses_default_upstream() and settings.gemini_api_key is not None:
            params["api_key"] = settings.gemini_api_key.get_secret_value()
            params["api_base"] = settings.gemini_api_base
        return Deployment(
            id=f"{entry.model_name}#{index}",
            model_name=entry.model_name,
            model=entry.params.model,
            params=params,
            rpm=entry.params.rpm,
            tpm=entry.params.tpm,
            weight=entry.params.weight,
        )


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
    warnings, known = _known_parts(_load_yaml(text, source), source)
    document = _resolve_references(known, environ, source, where="")
    general = document.get("general_settings") or {}
    for setting, variable in ENV_DEFAULTS.items():
        if general.get(setting) in (None, "") and environ.get(variable):
            general[setting] = environ[variable]
    # An empty Gemini key means "none" (the emulator answers); an empty master key is refused.
    if general.get("gemini_api_key") == "":
        del general["gemini_api_key"]
    document["pass_through"] = pass_through_section(document, environ)
    document.pop("default_vertex_config", None)
    try:
        return ProxyConfig.model_validate(
            {**document, "general_settings": general, "warnings": tuple(warnings)}
        )
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


def _known_parts(document: dict[str, Any], source: str) -> tuple[list[str], dict[str, Any]]:
    """Warnings for the sections and keys this version does not read, and the document without
    them (so an `os.environ/` reference in an ignored section cannot stop the gateway)."""
    warnings = [
        f"{source}: {section}: unknown section, ignored"
        for section in document
        if section not in SECTIONS
    ]
    known = {key: value for key, value in document.items() if key in SECTIONS}
    general = known.get("general_settings")
    if general is not None and not isinstance(general, dict):
        raise ConfigError(f"{source}: general_settings must be a mapping")
    if general:
        warnings += _unknown_settings(general, source)
        known["general_settings"] = {
            key: value for key, value in general.items() if key in GeneralSettings.model_fields
        }
    entries = known.get("model_list")
    if isinstance(entries, list):
        warnings += _unknown_entry_keys(entries, source)
        known["model_list"] = [_without_unknown_keys(entry) for entry in entries]
    return warnings, known


def _unknown_settings(general: dict[str, Any], source: str) -> list[str]:
    warnings = []
    for key in general:
        if key in GeneralSettings.model_fields:
            continue
        close = difflib.get_close_matches(str(key), GeneralSettings.model_fields, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{source}: general_settings.{key}: unknown setting, ignored{hint}")
    return warnings


def _unknown_entry_keys(entries: list[Any], source: str) -> list[str]:
    return [
        f"{source}: model_list[{index}].{key}: unknown key, ignored"
        for index, entry in enumerate(entries)
        if isinstance(entry, dict)
        for key in entry
        if key not in _ENTRY_KEYS
    ]


def _without_unknown_keys(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {key: value for key, value in entry.items() if key in _ENTRY_KEYS}


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
    """The first validation error as `section[i].key: reason` (pydantic's text is several lines)."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    location = _key_path(first["loc"]) or "config"
    message = _MESSAGES.get(first["type"]) or str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{location}: {message}{more}"


# Pydantic's wording names our classes ("instance of ModelEntry"); a config author needs these.
_MESSAGES = {
    "missing": "is required",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "string_too_short": "must not be empty",
    "extra_forbidden": "unknown key",
}


def _key_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".")
