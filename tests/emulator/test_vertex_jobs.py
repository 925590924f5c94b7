"""Vertex AI batchPredictionJobs and tuningJobs in the emulator: create, get, list, cancel, delete."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.vertex_jobs import project_number

AUTH = {"Authorization": "Bearer vertex-token"}
PARENT = "/v1/projects/demo/locations/us-central1"
BATCH = {
    "displayName": "nightly",
    "model": "publishers/google/models/gemini-2.5-flash",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
    "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/o"}},
}  # fmt: skip
TUNING = {
    "baseModel": "gemini-2.5-flash",
    "supervisedTuningSpec": {"training_dataset_uri": "gs://b/train.jsonl"},
}


@pytest.fixture
def emulator_app(emulator_settings: EmulatorSettings) -> Starlette:
    app = create_emulator_app(emulator_settings)
    app.state.emulator.access_tokens["vertex-token"] = time.time() + 3600
    return app


def _create(http: httpx.Client, collection: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"{PARENT}/{collection}", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def test_batch_job_is_pending_under_the_project_number(http: httpx.Client) -> None:
    job = _create(http, "batchPredictionJobs", BATCH)

    assert job["name"].startswith(
        f"projects/{project_number('demo')}/locations/us-central1/batchPredictionJobs/"
    )
    assert job["state"] == "JOB_STATE_PENDING"
    assert job["model"] == "projects/demo/locations/us-central1/publishers/google/models/gemini-2.5-flash"  # fmt: skip
    assert job["inputConfig"] == BATCH["inputConfig"]


def test_tuning_job_accepts_snake_case_and_answers_in_camel_case(http: httpx.Client) -> None:
    job = _create(http, "tuningJobs", TUNING)

    assert job["supervisedTuningSpec"] == {"trainingDatasetUri": "gs://b/train.jsonl"}
    assert job["tunedModelDisplayName"] == "gemini-2.5-flash-tuned"
    assert job["state"] == "JOB_STATE_PENDING"


@pytest.mark.parametrize("collection", ["batchPredictionJobs", "tuningJobs"])
def test_job_is_found_by_project_id_or_number_and_listed(
    http: httpx.Client, collection: str
) -> None:
    job = _create(http, collection, BATCH if collection == "batchPredictionJobs" else TUNING)
    job_id = job["name"].rsplit("/", 1)[-1]
    by_number = f"/v1/projects/{project_number('demo')}/locations/us-central1/{collection}/{job_id}"

    assert http.get(f"{PARENT}/{collection}/{job_id}", headers=AUTH).json() == job
    assert http.get(by_number, headers=AUTH).json() == job
    assert http.get(f"{PARENT}/{collection}", headers=AUTH).json()[collection] == [job]


def test_cancel_ends_a_job_and_a_second_cancel_is_refused(http: httpx.Client) -> None:
    job_id = _create(http, "tuningJobs", TUNING)["name"].rsplit("/", 1)[-1]
    job = f"{PARENT}/tuningJobs/{job_id}"

    first = http.post(f"{job}:cancel", headers=AUTH)
    second = http.post(f"{job}:cancel", headers=AUTH)

    assert (first.status_code, first.json()) == (200, {})
    assert http.get(job, headers=AUTH).json()["state"] == "JOB_STATE_CANCELLED"
    assert second.status_code == 400
    assert second.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_deleted_batch_job_is_gone(http: httpx.Client) -> None:
    job_id = _create(http, "batchPredictionJobs", BATCH)["name"].rsplit("/", 1)[-1]
    job = f"{PARENT}/batchPredictionJobs/{job_id}"

    operation = http.delete(job, headers=AUTH).json()

    assert operation["done"] is True
    assert http.get(job, headers=AUTH).status_code == 404


def test_empty_listing_is_an_empty_object(http: httpx.Client) -> None:
    assert http.get(f"{PARENT}/tuningJobs", headers=AUTH).json() == {}


@pytest.mark.parametrize(
    ("collection", "body", "field"),
    [
        ("batchPredictionJobs", {**BATCH, "displayName": ""}, "batch_prediction_job.display_name"),
        ("batchPredictionJobs", {k: v for k, v in BATCH.items() if k != "inputConfig"},
         "batch_prediction_job.input_config.instances_format"),
        ("tuningJobs", {"baseModel": "gemini-2.5-flash"},
         "tuning_job.supervised_tuning_spec.training_dataset_uri"),
        ("tuningJobs", {"supervisedTuningSpec": TUNING["supervisedTuningSpec"]}, "tuning_job.base_model"),
    ],
)  # fmt: skip
def test_missing_required_fields_are_named(
    http: httpx.Client, collection: str, body: dict[str, Any], field: str
) -> None:
    response = http.post(f"{PARENT}/{collection}", json=body, headers=AUTH)

    assert response.status_code == 400
    assert f"Field: {field}; Message: Required field is not set." in response.json()["error"]["message"]  # fmt: skip


def test_unknown_base_model_is_not_found(http: httpx.Client) -> None:
    response = http.post(f"{PARENT}/tuningJobs", json={**TUNING, "baseModel": "no-such"}, headers=AUTH)  # fmt: skip

    assert response.status_code == 404


def test_jobs_need_a_bearer_token(http: httpx.Client) -> None:
    response = http.post(f"{PARENT}/tuningJobs", json=TUNING)

    assert response.status_code == 401
