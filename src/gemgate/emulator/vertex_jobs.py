"""Vertex AI long-running jobs: batchPredictionJobs and tuningJobs (create, get, list, cancel;
delete for batch jobs). Jobs are accepted and stay pending until cancelled; nothing runs."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemgate.emulator.auth import require_bearer
from gemgate.emulator.bodies import camel_case, read_json, record
from gemgate.emulator.google_errors import GoogleApiError, invalid_argument, not_found
from gemgate.emulator.listing import page_of, rfc3339
from gemgate.emulator.models import find_model
from gemgate.emulator.state import EmulatorState, state_of

BATCH_JOBS = "batchPredictionJobs"
TUNING_JOBS = "tuningJobs"
JSON = "application/json; charset=UTF-8"
_ENDED = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"})
_PUBLISHER_MODEL = "publishers/google/models/"


def project_number(project: str) -> str:
    """The stable project number Google shows in resource names for ``project``."""
    if project.isdigit():
        return project
    return str(int.from_bytes(hashlib.sha256(project.encode()).digest()[:5], "big") % 10**12)


def _required(body: dict[str, Any], path: str, message: str) -> Any:
    value: Any = body
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value in (None, "", [], {}):
        # Vertex words missing fields this way (google.rpc.BadRequest in the details).
        raise invalid_argument(
            f"List of found errors:\t1.Field: {message}; Message: Required field is not set.\t",
            field=message,
        )
    return value


def _check_batch(body: dict[str, Any], parent: str, state: EmulatorState) -> None:
    _required(body, "displayName", "batch_prediction_job.display_name")
    model = str(_required(body, "model", "batch_prediction_job.model"))
    _required(body, "inputConfig.instancesFormat", "batch_prediction_job.input_config.instances_format")  # fmt: skip
    _required(body, "outputConfig.predictionsFormat", "batch_prediction_job.output_config.predictions_format")  # fmt: skip
    if _PUBLISHER_MODEL in model:
        _known_model(model, parent, state)


def _check_tuning(body: dict[str, Any], parent: str, state: EmulatorState) -> None:
    model = str(_required(body, "baseModel", "tuning_job.base_model"))
    uri = str(_required(body, "supervisedTuningSpec.trainingDatasetUri",
                        "tuning_job.supervised_tuning_spec.training_dataset_uri"))  # fmt: skip
    if not uri.startswith("gs://"):
        raise invalid_argument(f"Training dataset uri must be a GCS uri (gs://...): {uri}")
    _known_model(model, parent, state)


def _known_model(model: str, parent: str, state: EmulatorState) -> None:
    bare = model.rsplit("/", 1)[-1]
    if find_model(bare, extra=state.settings.extra_models) is None:
        raise not_found(f"Publisher Model `{parent}/{_PUBLISHER_MODEL}{bare}` not found.")


def _new_batch(body: dict[str, Any], parent: str) -> dict[str, Any]:
    model = str(body["model"])
    if model.startswith(_PUBLISHER_MODEL):
        model = f"{parent}/{model}"
    return {**body, "model": model}


def _new_tuning(body: dict[str, Any], parent: str) -> dict[str, Any]:
    base = str(body["baseModel"]).rsplit("/", 1)[-1]
    return {"tunedModelDisplayName": f"{base}-tuned", **body, "baseModel": base}


_KIND_NAMES = {BATCH_JOBS: "BatchPredictionJob", TUNING_JOBS: "TuningJob"}
_KINDS: dict[str, tuple[Callable[..., None], Callable[[dict[str, Any], str], dict[str, Any]]]] = {
    BATCH_JOBS: (_check_batch, _new_batch),
    TUNING_JOBS: (_check_tuning, _new_tuning),
}


def _scope(request: Request, collection: str) -> tuple[EmulatorState, str, str]:
    """The state, the parent (`projects/{p}/locations/{l}`) and the job store prefix."""
    state = state_of(request)
    require_bearer(request, state)
    params = request.path_params
    if params["version"] not in ("v1", "v1beta1"):
        raise not_found(f"The requested URL {request.url.path} was not found on this server.")
    parent = f"projects/{params['project']}/locations/{params['location']}"
    # Keyed by project number, so a job is found by the project's id or its number.
    return state, parent, f"{project_number(params['project'])}/{params['location']}/{collection}/"


async def _create(request: Request, collection: str) -> Response:
    body = await read_json(request)
    state, parent, prefix = _scope(request, collection)
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    check, build = _KINDS[collection]
    job = camel_case(body)
    check(job, parent, state)
    job_id = str(secrets.randbelow(9 * 10**18) + 10**18)
    number = project_number(request.path_params["project"])
    now = rfc3339(state.clock())
    resource = {
        **build(job, parent),
        "name": f"projects/{number}/locations/{request.path_params['location']}/{collection}/{job_id}",
        "state": "JOB_STATE_PENDING",
        "createTime": now,
        "updateTime": now,
    }
    state.jobs[prefix + job_id] = resource
    return _json(resource)


async def _list(request: Request, collection: str) -> Response:
    state, _, prefix = _scope(request, collection)
    record(request, None)
    jobs = [job for key, job in state.jobs.items() if key.startswith(prefix)]
    jobs.reverse()  # newest first, as Google lists them
    page, token = page_of(jobs, request.query_params, default_size=100, max_size=1000)
    listing: dict[str, Any] = {collection: page} if page else {}
    if token:
        listing["nextPageToken"] = token
    return _json(listing)


async def _one(request: Request, collection: str) -> Response:
    job_id, _, verb = str(request.path_params["job"]).partition(":")
    if request.method == "POST":
        await read_json(request)
    else:
        record(request, None)
    state, parent, prefix = _scope(request, collection)
    job = state.jobs.get(prefix + job_id)
    if job is None:
        raise not_found(f"{_KIND_NAMES[collection]} {parent}/{collection}/{job_id} does not exist.")
    action = (request.method, verb)
    if action == ("GET", ""):
        return _json(job)
    if action == ("POST", "cancel"):
        return _cancel(job, state)
    if action == ("DELETE", "") and collection == BATCH_JOBS:
        del state.jobs[prefix + job_id]
        return _json(_deleted(job["name"], state))
    raise GoogleApiError("NOT_FOUND", "Method not found.")


def _cancel(job: dict[str, Any], state: EmulatorState) -> Response:
    if job["state"] in _ENDED:
        raise GoogleApiError(
            "FAILED_PRECONDITION",
            f"Cannot cancel {job['name']} because it is in state {job['state']}.",
        )
    job.update(state="JOB_STATE_CANCELLED", updateTime=rfc3339(state.clock()))
    return _json({})


def _deleted(name: str, state: EmulatorState) -> dict[str, Any]:
    now = rfc3339(state.clock())
    return {
        "name": f"{name}/operations/{secrets.randbelow(9 * 10**18) + 10**18}",
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
            "genericMetadata": {"createTime": now, "updateTime": now},
        },
        "done": True,
        "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    }


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type=JSON)


def _routes_of(collection: str) -> list[BaseRoute]:
    async def create(request: Request) -> Response:
        return await _create(request, collection)

    async def listing(request: Request) -> Response:
        return await _list(request, collection)

    async def one(request: Request) -> Response:
        return await _one(request, collection)

    path = f"/{{version}}/projects/{{project}}/locations/{{location}}/{collection}"
    return [
        Route(path, create, methods=["POST"]),
        Route(path, listing, methods=["GET"]),
        Route(path + "/{job}", one, methods=["GET", "POST", "DELETE"]),
    ]


ROUTES: list[BaseRoute] = [*_routes_of(BATCH_JOBS), *_routes_of(TUNING_JOBS)]
