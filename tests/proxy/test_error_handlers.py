"""Errors leave in the caller's API shape: the renderers themselves, then aiohttp's own answers
(no route, wrong method) on a real gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from aiohttp import web

from gemgate import errors
from gemgate.proxy import create_app
from gemgate.proxy.error_handlers import (
    Surface,
    error_event,
    error_for_http_exception,
    error_response,
)
from tests.proxy.conftest import gateway_config
from tests.servers import serve


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (errors.NotFoundError("no such model", code="model_not_found"), 404,
         {"message": "no such model", "type": "not_found_error", "param": None, "code": "model_not_found"}),
        (errors.AuthenticationError("bad key"), 401,
         {"message": "bad key", "type": "authentication_error", "param": None, "code": None}),
        (errors.Timeout("slow"), 504,
         {"message": "slow", "type": "timeout_error", "param": None, "code": None}),
    ],
    ids=["not-found", "unauthenticated", "timeout"],
)  # fmt: skip
def test_openai_surface_renders_openai_error_objects(
    error: errors.GemgateError, status: int, body: dict[str, object]
) -> None:
    response = error_response(error, Surface.OPENAI)

    assert response.status == status
    assert response.content_type == "application/json"
    assert orjson.loads(response.body) == {"error": body}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "status", "google_status"),
    [
        (errors.NotFoundError("no such model"), 404, "NOT_FOUND"),
        (errors.BadRequestError("too big", status_code=413), 413, "INVALID_ARGUMENT"),
        (errors.RateLimitError("slow down"), 429, "RESOURCE_EXHAUSTED"),
        (errors.ServiceUnavailableError("overloaded"), 503, "UNAVAILABLE"),
        (errors.Timeout("slow"), 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_google_surface_renders_google_error_objects_with_the_answered_code(
    error: errors.GemgateError, status: int, google_status: str
) -> None:
    response = error_response(error, Surface.GOOGLE)

    assert response.status == status
    body = orjson.loads(response.body)  # type: ignore[arg-type]
    assert body == {"error": {"code": status, "message": error.message, "status": google_status}}


@pytest.mark.parametrize(
    ("retry_after", "header"), [(7, "7"), (6.2, "7"), (0.1, "1"), (None, None)]
)
@pytest.mark.parametrize("surface", list(Surface))
def test_rate_limit_carries_retry_after_in_whole_seconds(
    retry_after: float | None, header: str | None, surface: Surface
) -> None:
    response = error_response(errors.RateLimitError("slow down", retry_after=retry_after), surface)

    assert response.headers.get("retry-after") == header


def test_google_details_are_kept() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
    error = errors.RateLimitError("slow down", details=details, retry_after=7)

    body = orjson.loads(error_response(error, Surface.GOOGLE).body)  # type: ignore[arg-type]

    assert body["error"]["details"] == details


@pytest.mark.parametrize(
    ("surface", "expected"),
    [
        (Surface.OPENAI, {"error": {"message": "gone", "type": "service_unavailable_error",
                                    "param": None, "code": None}}),
        (Surface.GOOGLE, {"error": {"code": 503, "message": "gone", "status": "UNAVAILABLE"}}),
    ],
)  # fmt: skip
def test_error_event_is_the_error_object_for_a_stream(
    surface: Surface, expected: dict[str, object]
) -> None:
    assert orjson.loads(error_event(errors.ServiceUnavailableError("gone"), surface)) == expected


@pytest.mark.parametrize(
    ("exception", "error_type", "status"),
    [
        (web.HTTPNotFound(), errors.NotFoundError, 404),
        (web.HTTPMethodNotAllowed("POST", ["GET"]), errors.NotFoundError, 404),
        (web.HTTPRequestEntityTooLarge(max_size=10, actual_size=20), errors.BadRequestError, 413),
        (web.HTTPBadRequest(reason="Bad header"), errors.BadRequestError, 400),
        (web.HTTPBadGateway(), errors.InternalServerError, 502),
    ],
)
def test_aiohttp_answers_become_gemgate_errors(
    exception: web.HTTPException, error_type: type[errors.GemgateError], status: int
) -> None:
    error = error_for_http_exception(exception, "/some/path")

    assert type(error) is error_type
    assert error.status_code == status


def test_not_found_names_the_path() -> None:
    error = error_for_http_exception(web.HTTPNotFound(), "/v1/nothing-here")

    assert error.message == "The requested URL /v1/nothing-here was not found."


@pytest.fixture
def gateway() -> Iterator[httpx.Client]:
    with (
        serve(create_app(gateway_config("http://127.0.0.1:1"))) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield client


@pytest.mark.parametrize("path", ["/v1beta/nothing-here", "/v1alpha/models/x/y/z"])
def test_unknown_google_path_is_a_google_not_found(gateway: httpx.Client, path: str) -> None:
    response = gateway.get(path)

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": 404,
            "message": f"The requested URL {path} was not found.",
            "status": "NOT_FOUND",
        }
    }


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/nothing-here"])
def test_unknown_openai_path_is_an_openai_not_found(gateway: httpx.Client, path: str) -> None:
    response = gateway.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [("POST", "/health/liveliness", "type"), ("GET", "/v1/chat/completions", "type"),
     ("DELETE", "/v1beta/models/gemini-2.5-flash:generateContent", "status")],
)  # fmt: skip
def test_wrong_method_is_not_found_in_the_route_shape(
    gateway: httpx.Client, method: str, path: str, shape: str
) -> None:
    response = gateway.request(method, path)

    assert response.status_code == 404
    assert shape in response.json()["error"]
