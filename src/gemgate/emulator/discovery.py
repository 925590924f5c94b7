"""Vertex AI Search (Discovery Engine, discoveryengine.googleapis.com) `servingConfigs/*:search`:
deterministic documents for a query, in the SearchResponse shape."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemgate.emulator.auth import require_bearer
from gemgate.emulator.bodies import read_json
from gemgate.emulator.google_errors import invalid_argument, not_found
from gemgate.emulator.state import state_of
from gemgate.emulator.vertex_jobs import project_number

JSON = "application/json; charset=UTF-8"
# How many documents the emulated data store holds for any query.
MATCHING_DOCUMENTS = 3
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


async def search(request: Request) -> Response:
    """Serve `POST .../servingConfigs/{config}:search`."""
    body = await read_json(request)
    state = state_of(request)
    require_bearer(request, state)
    config, _, verb = str(request.path_params["config"]).partition(":")
    if request.path_params["version"] not in ("v1", "v1alpha", "v1beta") or verb != "search":
        raise not_found(f"The requested URL {request.url.path} was not found on this server.")
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    query = body.get("query", "")
    if not isinstance(query, str):
        raise invalid_argument(f"Invalid value at 'query' (TYPE_STRING), {query!r}", field="query")
    size = _page_size(body.get("pageSize"))
    store = _data_store(request)
    results = [_result(store, query, rank) for rank in range(min(size, MATCHING_DOCUMENTS))]
    digest = hashlib.sha256(f"{store}\0{query}".encode()).hexdigest()
    response: dict[str, Any] = {
        "totalSize": MATCHING_DOCUMENTS,
        "attributionToken": digest[:32],
        "summary": {},
    }
    if results:
        response["results"] = results
    return Response(orjson.dumps(response), media_type=JSON)


def _page_size(value: Any) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), {value!r}")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _data_store(request: Request) -> str:
    """The data store the documents live in: named in the path, or one an engine serves."""
    params = request.path_params
    number = project_number(str(params["project"]))
    collection = params.get("collection", "default_collection")
    store = params.get("data_store") or f"{params['engine']}-store"
    return (
        f"projects/{number}/locations/{params['location']}/collections/{collection}"
        f"/dataStores/{store}"
    )


def _result(store: str, query: str, rank: int) -> dict[str, Any]:
    document_id = hashlib.sha256(f"{store}\0{query}\0{rank}".encode()).hexdigest()[:16]
    title = f"Document {rank + 1} about {query or 'everything'}"
    return {
        "id": document_id,
        "document": {
            "name": f"{store}/branches/0/documents/{document_id}",
            "id": document_id,
            "derivedStructData": {
                "title": title,
                "link": f"gs://emulator-bucket/documents/{document_id}.pdf",
                "snippets": [
                    {"snippet": f"{title}: an emulated passage.", "snippet_status": "SUCCESS"}
                ],
            },
        },
    }


_PARENT = "/{version}/projects/{project}/locations/{location}"
ROUTES: list[BaseRoute] = [
    Route(f"{_PARENT}/collections/{{collection}}/engines/{{engine}}/servingConfigs/{{config}}",
          search, methods=["POST"]),
    Route(f"{_PARENT}/collections/{{collection}}/dataStores/{{data_store}}/servingConfigs/{{config}}",
          search, methods=["POST"]),
    Route(f"{_PARENT}/dataStores/{{data_store}}/servingConfigs/{{config}}",
          search, methods=["POST"]),
]  # fmt: skip
