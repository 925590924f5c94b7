"""Deployments (one model_list entry each), the table of them by model name, and the weighted pick.

Pure: plain values in (the proxy unwraps its config first), the random generator passed in.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream model behind a public model name, with its call defaults and limits."""

    id: str
    model_name: str
    model: str
    # Plain call arguments (api_key, api_base, vertex_*, temperature, ...); secrets unwrapped.
    params: Mapping[str, Any]
    rpm: int | None = None
    tpm: int | None = None
    weight: float = DEFAULT_WEIGHT


class DeploymentTable:
    """Deployments grouped by the model name clients ask for, in config order."""

    __slots__ = ("_by_name",)

    def __init__(self, deployments: Sequence[Deployment]) -> None:
        grouped: dict[str, list[Deployment]] = {}
        seen: set[str] = set()
        for deployment in deployments:
            if deployment.id in seen:
                raise ValueError(f"two deployments share the id {deployment.id!r}")
            seen.add(deployment.id)
            grouped.setdefault(deployment.model_name, []).append(deployment)
        self._by_name = {name: tuple(group) for name, group in grouped.items()}

    def candidates(self, model_name: str) -> tuple[Deployment, ...]:
        """The deployments serving ``model_name`` (empty when no entry has that name)."""
        return self._by_name.get(model_name, ())

    def model_names(self) -> list[str]:
        """Every public model name once, in the order the config first lists it."""
        return list(self._by_name)

    def __contains__(self, model_name: object) -> bool:
        return model_name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)


def pick_deployment(candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    """A weighted random pick ("simple shuffle").

    Weights are the `weight` params when any differs from the default, else `rpm` when every
    candidate has one, else all candidates are equally likely.
    """
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValueError("no deployment to pick from")
    weights = _weights(candidates)
    if weights is None:
        return rng.choice(candidates)
    return rng.choices(candidates, weights=weights)[0]


def _weights(candidates: Sequence[Deployment]) -> list[float] | None:
    if any(deployment.weight != DEFAULT_WEIGHT for deployment in candidates):
        return [deployment.weight for deployment in candidates]
    rpms = [deployment.rpm for deployment in candidates]
    # One deployment without a stated limit makes the limits incomparable: pick evenly.
    if all(rpms):
        return [float(rpm or 0) for rpm in rpms]
    return None
