"""Vertex AI through the official google-genai SDK: service-account credentials, token from the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai
from google.genai import types
from google.oauth2 import service_account

from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.service_accounts import new_service_account
from tests.servers import free_port, serve

PROJECT = "emulator-project"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@pytest.fixture(scope="module")
def vertex() -> Iterator[genai.Client]:
    port = free_port()
    key_file, account = new_service_account(
        client_email=f"tests@{PROJECT}.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token",
        project_id=PROJECT,
    )
    settings = EmulatorSettings(service_accounts=(account,), min_cache_tokens=16)
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        key_file, scopes=SCOPES
    )
    with serve(create_emulator_app(settings), port=port) as url:
        yield genai.Client(
            vertexai=True, project=PROJECT, location="us-central1",
            credentials=credentials, http_options={"base_url": url},
        )  # fmt: skip


def test_vertex_generate_content(vertex: genai.Client) -> None:
    response = vertex.models.generate_content(model="gemini-2.5-flash", contents="Hello Vertex")
    assert response.text == "Echo: Hello Vertex"
    assert response.create_time is not None


def test_vertex_stream(vertex: genai.Client) -> None:
    prompt = "stream me a reply that is long enough to come in pieces"
    chunks = list(vertex.models.generate_content_stream(model="gemini-2.5-flash", contents=prompt))
    assert len(chunks) > 1 and "".join(c.text or "" for c in chunks) == f"Echo: {prompt}"


def test_vertex_count_tokens(vertex: genai.Client) -> None:
    assert vertex.models.count_tokens(model="gemini-2.5-flash", contents="four words in here").total_tokens == 5  # fmt: skip


def test_vertex_embeddings_through_predict_and_embed_content(vertex: genai.Client) -> None:
    classic = vertex.models.embed_content(model="text-embedding-005", contents=["a", "b"])
    assert classic.embeddings and [len(e.values or []) for e in classic.embeddings] == [768, 768]
    gemini = vertex.models.embed_content(
        model="gemini-embedding-001", contents="a", config={"output_dimensionality": 16}
    )
    assert gemini.embeddings and len(gemini.embeddings[0].values or []) == 16


def test_vertex_context_cache_round_trip(vertex: genai.Client) -> None:
    cache = vertex.caches.create(
        model="gemini-2.5-flash",
        config=types.CreateCachedContentConfig(
            contents=["a long shared document " * 20], system_instruction="be brief", ttl="300s"
        ),
    )
    assert cache.name and cache.name.startswith(f"projects/{PROJECT}/locations/us-central1/cachedContents/")  # fmt: skip
    response = vertex.models.generate_content(
        model="gemini-2.5-flash", contents="question", config={"cached_content": cache.name}
    )
    usage = response.usage_metadata
    assert usage and usage.cached_content_token_count and usage.prompt_token_count
    assert usage.prompt_token_count > usage.cached_content_token_count
    vertex.caches.delete(name=cache.name)
