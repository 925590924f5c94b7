"""Whether a model request may go ahead: the caller's key and team may use the model, and the
rpm/tpm/budget counters of key, team and deployment have room (counted on admission)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gemgate.proxy.callers import admit, check_model, deployment_scope
from gemgate.proxy.limits import Limit
from gemgate.proxy.state import CALLER, AppState
from gemgate.routing.deployments import Deployment


def deployment_limits(deployment: Deployment | None) -> list[Limit]:
    """The deployment's own rpm/tpm (from model_list), when it has any."""
    if deployment is None or (deployment.rpm is None and deployment.tpm is None):
        return []
    return [Limit(deployment_scope(deployment.id), rpm=deployment.rpm, tpm=deployment.tpm)]


async def admit_model(
    request: web.Request, state: AppState, model: str, deployment: Deployment | None
) -> None:
    """Raise the refusal for this request to ``model`` on ``deployment``, or count it in."""
    caller = request[CALLER]
    check_model(caller, model)
    if state.store is not None:
        limits = deployment_limits(deployment)
        await admit(state.store.counters, caller, limits, datetime.now(UTC))
