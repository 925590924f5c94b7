"""Vertex AI pass-through mapping (pure): project and location from the path, the default scope
for unversioned paths, and whose credentials travel."""

from __future__ import annotations

import pytest

from gemgate import errors
from gemgate.proxy.vertex_credentials import VertexUpstream
from gemgate.proxy.vertex_upstream import parse_vertex_path, vertex_request

CALLER = [
    ("content-type", "application/json"),
    ("authorization", "Bearer ya29.callers-own"),
    ("x-gemgate-api-key", "sk-gateway"),
    ("x-goog-user-project", "callers-billing"),
]


@pytest.mark.parametrize(
    ("path", "project", "location"),
    [
        ("/v1/projects/p-1/locations/us-central1/publishers/google/models/m:predict", "p-1", "us-central1"),
        ("/v1beta1/projects/p/locations/global/cachedContents", "p", "global"),
        ("/v1/projects/p/locations/eu", "p", "eu"),
        ("/v1/projects/p/operations/123", "p", None),
        ("/v1/projects/my%3Aproject/locations/l/x", "my:project", "l"),
        ("/v1/publishers/google/models/m:generateContent", None, None),
        ("/publishers/google/models/m:generateContent", None, None),
        ("/v1/projectsX/p/locations/l", None, None),
    ],
)  # fmt: skip
def test_project_and_location_are_read_from_the_path(
    path: str, project: str | None, location: str | None
) -> None:
    parsed = parse_vertex_path(path)

    assert (parsed.project, parsed.location) == (project, location)


def test_unversioned_path_gets_the_default_scope_in_front() -> None:
    upstream = VertexUpstream("https://h", "proj", "us-east4", [])

    path = parse_vertex_path("/publishers/google/models/m:generateContent").upstream_path(upstream)

    assert path == "/v1/projects/proj/locations/us-east4/publishers/google/models/m:generateContent"


def test_versioned_path_is_sent_as_it_came() -> None:
    upstream = VertexUpstream("https://h", "other", "us-east4", [])
    path = "/v1/projects/p/locations/l/publishers/google/models/m:generateContent"

    assert parse_vertex_path(path).upstream_path(upstream) == path


def test_unversioned_path_without_defaults_is_a_400() -> None:
    upstream = VertexUpstream("https://h", None, None, [("authorization", "Bearer t")])

    with pytest.raises(errors.BadRequestError, match="names no project and location"):
        parse_vertex_path("/publishers/google/models/m:predict").upstream_path(upstream)


def test_our_credentials_replace_the_callers() -> None:
    upstream = VertexUpstream(
        "https://us-central1-aiplatform.googleapis.com", "p", "us-central1",
        [("authorization", "Bearer ya29.ours"), ("x-goog-user-project", "our-billing")],
    )  # fmt: skip

    outgoing = vertex_request(upstream, "POST", "/v1/x:generateContent", "alt=sse&key=k", CALLER)

    assert (
        outgoing.url == "https://us-central1-aiplatform.googleapis.com/v1/x:generateContent?alt=sse"
    )
    assert outgoing.headers == [
        ("content-type", "application/json"),
        ("accept-encoding", "identity"),
        ("authorization", "Bearer ya29.ours"),
        ("x-goog-user-project", "our-billing"),
    ]
    assert outgoing.secrets == ("ya29.ours",)
    assert outgoing.service == "Vertex AI"


def test_callers_own_authorization_travels_with_its_quota_project() -> None:
    upstream = VertexUpstream("https://h", "p", "l", [("authorization", "Bearer ya29.callers-own")])

    outgoing = vertex_request(upstream, "GET", "/v1/x", "", CALLER)

    assert outgoing.headers == [
        ("content-type", "application/json"),
        ("accept-encoding", "identity"),
        ("authorization", "Bearer ya29.callers-own"),
        ("x-goog-user-project", "callers-billing"),
    ]
    assert outgoing.secrets == ()
