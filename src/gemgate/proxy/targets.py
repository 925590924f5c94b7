"""Which upstream serves a requested model: the deployments of model_list, resolved to providers
once at start-up, or (with no model_list) a `gemini/<id>` / `vertex_ai/<id>` name given directly."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gemgate import errors
from gemgate.providers.base import Provider
from gemgate.providers.resolve import ProviderRegistry, resolve_model, split_transport_params
from gemgate.proxy.config import ConfigError, ProxyConfig
from gemgate.routing.deployments import Deployment, DeploymentTable, pick_deployment

# Direct model names are resolved once each; the cap keeps callers from growing it without end.
MAX_DIRECT_TARGETS = 256
OTHER_DIRECT_NAME = "other"
_DIRECT_PREFIXES = ("gemini/", "vertex_ai/")


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment ready to call: its provider, the bare model id and its call defaults."""

    deployment: Deployment
    provider: Provider
    model_id: str
    # Call parameters from config (temperature, timeout, ...); the caller's request wins over them.
    defaults: Mapping[str, Any]

    @property
    def model_name(self) -> str:
        """The public name clients asked for (a metrics label and the name in logs)."""
        return self.deployment.model_name


class ModelTargets:
    """The table of targets by public model name, with the weighted pick among deployments."""

    def __init__(
        self,
        config: ProxyConfig,
        environ: Mapping[str, str],
        *,
        registry: ProviderRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._environ = environ
        self._registry = registry or ProviderRegistry()
        self._rng = rng or random.Random()
        self._table = DeploymentTable(config.deployments())
        # Resolved now, so a bad deployment stops start-up instead of failing its first request.
        self._targets = {
            deployment.id: self._resolve_entry(index, deployment)
            for index, deployment in enumerate(config.deployments())
        }
        self._direct: dict[str, Target] = {}

    @property
    def accepts_direct_names(self) -> bool:
        """Without a model_list, clients name `gemini/<id>` models directly."""
        return len(self._table) == 0

    def model_names(self) -> list[str]:
        """The public model names, in config order."""
        return self._table.model_names()

    def pick(self, model: str) -> Target:
        """The target for ``model`` (one of its deployments, weighted); NotFoundError if none."""
        candidates = self._table.candidates(model)
        if candidates:
            return self._targets[pick_deployment(candidates, self._rng).id]
        if self.accepts_direct_names and model.startswith(_DIRECT_PREFIXES):
            return self._direct_target(model)
        raise errors.NotFoundError(self._unknown_model_message(model), model=model)

    def pick_native(self, model: str) -> Target:
        """The target for a model named in a Gemini URL (`gemini-flash` or `models/...`)."""
        name = model.removeprefix("models/")
        if name in self._table or not self.accepts_direct_names:
            return self.pick(name)
        return self._direct_target(f"gemini/{name}")

    def _direct_target(self, model: str) -> Target:
        target = self._direct.get(model)
        if target is None:
            settings = self._config.general_settings
            params: dict[str, Any] = {"api_base": settings.gemini_api_base}
            if settings.gemini_api_key is not None:
                params["api_key"] = settings.gemini_api_key.get_secret_value()
            is_kept = len(self._direct) < MAX_DIRECT_TARGETS
            # Callers pick these names and each name is a metrics series for good: past the
            # cap they share one.
            name = model if is_kept else OTHER_DIRECT_NAME
            target = self._resolve(Deployment(id=name, model_name=name, model=model, params=params))
            if is_kept:
                self._direct[model] = target
        return target

    def _resolve_entry(self, index: int, deployment: Deployment) -> Target:
        """A model_list deployment resolved; ConfigError naming the entry when it cannot be."""
        try:
            return self._resolve(deployment)
        except errors.GemgateError as error:
            where = f"model_list[{index}] ({deployment.model_name})"
            raise ConfigError(f"{where}: {error.message}") from error

    def _resolve(self, deployment: Deployment) -> Target:
        transport, defaults = split_transport_params(deployment.params)
        defaults.setdefault("timeout", self._config.general_settings.request_timeout)
        provider, model_id = resolve_model(
            deployment.model, transport, env=self._environ, registry=self._registry
        )
        return Target(deployment, provider, model_id, defaults)

    def _unknown_model_message(self, model: str) -> str:
        names = ", ".join(self.model_names()[:20]) or "none"
        return f"model {model!r} is not served by this gateway (models: {names})"
