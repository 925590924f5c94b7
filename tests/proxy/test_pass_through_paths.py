"""Pass-through path safety (pure): plain resource paths pass unchanged, tricks are refused."""

from __future__ import annotations

import pytest

from gemgate import errors
from gemgate.proxy.pass_through_paths import checked_path, query_without_key, upstream_url


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1/projects/my-project/locations/us-central1/publishers/google/models/textembedding-gecko@001:predict",
        "/v1beta/models",
        "/v1beta/models/",
        "/upload/v1beta/files",
        "/v1/projects/p/locations/global/collections/default_collection/engines/e/servingConfigs/default_search:search",
        "/v1beta/cachedContents/abc%20def",
        "/v1/projects/p/locations/l/batchPredictionJobs/123:cancel",
        "/publishers/google/models/gemini-1.0-pro:generateContent",
    ],
)
def test_plain_resource_paths_pass_unchanged(path: str) -> None:
    assert checked_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "v1beta/models",
        "/../admin",
        "/v1beta/../../admin",
        "/v1beta/./models",
        "/v1beta/%2e%2e/admin",
        "/v1beta/%2E%2E/admin",
        "/v1beta/.%2e/admin",
        "/v1beta/models%2Fgemini",
        "/v1beta/models%2fgemini",
        "/v1beta/models%5Cgemini",
        "/v1beta/models%5cgemini",
        "/v1beta/models\\gemini",
        "//evil.example/v1beta/models",
        "/v1beta//evil.example/models",
        "/@evil.example/v1beta/models",
        "/user@evil.example/v1beta",
        "/http:/evil.example/v1",
        "/https:%2F%2Fevil.example/v1",
        "/v1beta/%252e%252e/admin",
        "/v1beta/models%00",
        "/v1beta/models%0d%0aHost:%20evil",
        "/v1beta/models?x",
        "/v1beta/models#fragment",
        "/v1beta/mod els",
        "/v1beta/models/%",
        "/v1beta/models/%zz",
        "/v1beta/models/%ff%fe",
    ],
)
def test_paths_that_could_leave_the_resource_tree_are_refused(path: str) -> None:
    with pytest.raises(errors.BadRequestError, match="Invalid pass-through path"):
        checked_path(path)


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        (
            "https://generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            "alt=sse&key=caller",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        ),
        ("http://127.0.0.1:8090/", "/v1/models", "", "http://127.0.0.1:8090/v1/models"),
        ("http://host/prefix", "/v1/models", "key=x", "http://host/prefix/v1/models"),
    ],
)
def test_upstream_url_joins_base_and_path(base: str, path: str, query: str, expected: str) -> None:
    assert upstream_url(base, path, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("key=abc", ""),
        ("alt=sse&key=abc", "alt=sse"),
        ("key=abc&alt=sse&pageSize=2", "alt=sse&pageSize=2"),
        ("k%65y=abc&alt=sse", "alt=sse"),
        ("key&alt=sse", "alt=sse"),
        ("keys=1&apikey=2", "keys=1&apikey=2"),
        ("pageToken=a%2Bb&key=x", "pageToken=a%2Bb"),
    ],
)
def test_query_loses_every_key_parameter_and_keeps_the_rest(query: str, expected: str) -> None:
    assert query_without_key(query) == expected
