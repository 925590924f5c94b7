"""Remote media: which URLs in OpenAI messages are fetched, and fetching them from a local server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from gemgate import errors
from gemgate.media import fetch_media, fetch_media_sync, is_fetched, remote_media_urls, shown_url
from gemgate.types.gemini import Blob
from tests.servers import free_port, serve

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.4 tiny"
MAX_BYTES = 1000


async def _png(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def _pdf(request: Request) -> Response:
    return Response(PDF, headers={"content-type": "application/pdf; charset=binary"})


async def _untyped(request: Request) -> Response:
    return Response(PNG, media_type="application/octet-stream")


async def _declared_too_big(request: Request) -> Response:
    return Response(b"x" * (MAX_BYTES + 1), media_type="image/png")


async def _streamed_too_big(request: Request) -> Response:
    async def pieces() -> Any:
        for _ in range(20):
            yield b"x" * 100

    return StreamingResponse(pieces(), media_type="image/png")


async def _hang(request: Request) -> Response:
    await asyncio.sleep(30)
    return Response(b"")


async def _moved(request: Request) -> Response:
    return RedirectResponse("/cat.png", status_code=302)


MEDIA_APP = Starlette(
    routes=[
        Route("/cat.png", _png),
        Route("/doc", _pdf),
        Route("/photo.jpg", _untyped),
        Route("/big.png", _declared_too_big),
        Route("/stream.png", _streamed_too_big),
        Route("/hang.png", _hang),
        Route("/moved", _moved),
    ]
)


@pytest.fixture(scope="module")
def media_url() -> Iterator[str]:
    with serve(MEDIA_APP) as url:
        yield url


def user(*parts: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


# Which URLs are fetched --------------------------------------------------------------------------


def test_image_and_file_urls_are_found_once_each_in_order() -> None:
    messages = [
        {"role": "system", "content": "plain text"},
        user({"type": "text", "text": "look"}, image("https://a.example/1.png")),
        user({"type": "image_url", "image_url": "http://b.example/2.jpg"}),
        user(
            {
                "type": "file",
                "file": {"file_id": "https://c.example/doc.pdf", "format": "application/pdf"},
            }
        ),  # fmt: skip
        user(image("https://a.example/1.png"), "not a part", {"type": "text"}),
        {"role": "assistant", "content": None},
    ]
    assert remote_media_urls(messages) == [
        "https://a.example/1.png",
        "http://b.example/2.jpg",
        "https://c.example/doc.pdf",
    ]


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        ("https://storage.googleapis.com/bucket/landmark.jpg", True),
        ("http://127.0.0.1:9000/x.png", True),
        ("data:image/png;base64,iVBORw0KGgo=", False),
        ("gs://bucket/file.pdf", False),
        ("https://generativelanguage.googleapis.com/v1beta/files/abc-123", False),
        ("http://127.0.0.1:8090/v1beta/files/abc123", False),
        ("https://www.youtube.com/watch?v=9hE5-98ZeCg", False),
        ("https://youtu.be/9hE5-98ZeCg", False),
        ("ftp://example.com/x.png", False),
        ("https:///no-host.png", False),
    ],
)
def test_only_http_urls_google_cannot_read_itself_are_fetched(url: str, fetched: bool) -> None:
    assert is_fetched(url) is fetched
    assert remote_media_urls([user(image(url))]) == ([url] if fetched else [])


def test_shown_url_drops_query_and_user_info() -> None:
    signed = "https://user:pw@storage.example/b/o.png?X-Goog-Signature=secret#frag"
    assert shown_url(signed) == "https://storage.example/b/o.png"


# Fetching --------------------------------------------------------------------------------------


async def fetch(mode: str, urls: list[str], **options: Any) -> dict[str, Blob]:
    options.setdefault("timeout", 5)
    if mode == "async":
        async with aiohttp.ClientSession() as session:
            return await fetch_media(urls, session=session, **options)
    with httpx.Client() as client:
        return fetch_media_sync(urls, client=client, **options)


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_fetched_media_become_inline_blobs(mode: str, media_url: str) -> None:
    urls = [f"{media_url}/cat.png", f"{media_url}/doc", f"{media_url}/photo.jpg"]
    blobs = await fetch(mode, [*urls, urls[0]])
    assert blobs == {
        urls[0]: {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()},
        urls[1]: {"mimeType": "application/pdf", "data": base64.b64encode(PDF).decode()},
        # Labelled octet-stream: the file name tells the type.
        urls[2]: {"mimeType": "image/jpeg", "data": base64.b64encode(PNG).decode()},
    }


async def test_redirects_are_followed(media_url: str) -> None:
    blobs = await fetch("async", [f"{media_url}/moved"])
    assert blobs[f"{media_url}/moved"]["mimeType"] == "image/png"


async def test_no_urls_fetch_nothing() -> None:
    assert await fetch("async", []) == {}


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/nowhere.png?sig=secret",
            "could not fetch media from http://127.0.0.1:\\d+/nowhere.png: HTTP 404",
        ),  # fmt: skip
        ("/big.png", "larger than 1000 bytes"),
        ("/stream.png", "larger than 1000 bytes"),
        ("/hang.png", "could not fetch media from .*/hang.png: timed out"),
    ],
)
async def test_media_that_cannot_be_used_is_a_bad_request_naming_the_url(
    mode: str, media_url: str, path: str, message: str
) -> None:
    with pytest.raises(errors.BadRequestError, match=message) as raised:
        await fetch(mode, [f"{media_url}/cat.png", f"{media_url}{path}"], max_bytes=MAX_BYTES, timeout=0.5)  # fmt: skip
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_an_unreachable_host_is_a_bad_request(mode: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/x.png"
    with pytest.raises(errors.BadRequestError, match="could not connect"):
        await fetch(mode, [url])
