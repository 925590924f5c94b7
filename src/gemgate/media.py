"""Remote image and file URLs in OpenAI messages: which to fetch, and fetching them as inline data.

Translation stays pure: the bytes are fetched here first and handed to it as `Blob`s keyed by URL.
`gs://` URIs, Files API URIs and YouTube links are not fetched: Google reads those itself.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

from gemgate import errors
from gemgate.types.gemini import Blob

# Google's inline-data limit is per request (~20 MB when the docs were read); bigger media belong
# in the Files API (https://ai.google.dev/gemini-api/docs/files).
MAX_MEDIA_BYTES = 20 * 1024 * 1024
MEDIA_TIMEOUT_SECONDS = 30.0
# `https://generativelanguage.googleapis.com/v1beta/files/abc` (any host: proxies and the emulator
# hand out the same path).
_FILES_API_PATH = re.compile(r"/v1[a-z0-9]*/files/[A-Za-z0-9_\-]+$")
# Gemini takes YouTube links as fileData and watches the video itself.
_GOOGLE_READS_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"})
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})


class RefusedAddressError(OSError):
    """A media URL whose host is (or resolves to) an address the fetcher may not reach."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is a private, local or reserved address; media are only fetched from public hosts")  # fmt: skip


def remote_media_urls(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every http(s) `image_url` / `file` URL in ``messages`` that must be fetched, once each."""
    found: dict[str, None] = {}
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for part in content:
            for url in _part_urls(part):
                if is_fetched(url):
                    found[url] = None
    return list(found)


def is_fetched(url: str) -> bool:
    """Whether gemgate fetches ``url`` (http/https) rather than passing it to Google as a URI."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return not _FILES_API_PATH.search(parts.path) and parts.hostname not in _GOOGLE_READS_HOSTS


async def fetch_media(
    urls: Iterable[str],
    *,
    session: aiohttp.ClientSession,
    max_bytes: int = MAX_MEDIA_BYTES,
    timeout: float = MEDIA_TIMEOUT_SECONDS,
) -> dict[str, Blob]:
    """Fetch every URL concurrently; a failure raises BadRequestError naming the URL."""
    unique = list(dict.fromkeys(urls))
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {
                url: group.create_task(_fetch_one(session, url, max_bytes, timeout))
                for url in unique
            }
    except* errors.BadRequestError as failures:
        # One clear error, not a group: the first URL that could not be used.
        first = failures.exceptions[0]
        raise errors.BadRequestError(str(first.args[0])) from first
    return {url: task.result() for url, task in tasks.items()}


def fetch_media_sync(
    urls: Iterable[str],
    *,
    client: httpx.Client,
    max_bytes: int = MAX_MEDIA_BYTES,
    timeout: float = MEDIA_TIMEOUT_SECONDS,
) -> dict[str, Blob]:
    """The synchronous twin of fetch_media (one URL after another)."""
    return {url: _fetch_one_sync(client, url, max_bytes, timeout) for url in dict.fromkeys(urls)}


async def _fetch_one(
    session: aiohttp.ClientSession, url: str, max_bytes: int, timeout: float
) -> Blob:
    data = bytearray()
    limit = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.get(url, timeout=limit, allow_redirects=True) as response:
            _check_answer(response.status, response.headers, url, max_bytes)
            async for chunk in response.content.iter_any():
                _append(data, chunk, url, max_bytes)
    except TimeoutError as error:
        raise _fetch_failed(url, "timed out") from error
    except (aiohttp.ClientError, ValueError, RefusedAddressError) as error:
        raise _fetch_failed(url, _reason(error)) from error
    return _blob(response.headers, url, data)


def _fetch_one_sync(client: httpx.Client, url: str, max_bytes: int, timeout: float) -> Blob:
    data = bytearray()
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            _check_answer(response.status_code, response.headers, url, max_bytes)
            for chunk in response.iter_bytes():
                _append(data, chunk, url, max_bytes)
    except httpx.TimeoutException as error:
        raise _fetch_failed(url, "timed out") from error
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise _fetch_failed(url, _reason(error)) from error
    return _blob(response.headers, url, data)


def _reason(error: Exception) -> str:
    """What went wrong, in words that do not depend on the HTTP library."""
    refused = _refusal(error)
    if refused is not None:
        return str(refused)
    if isinstance(error, aiohttp.InvalidURL | httpx.InvalidURL):
        return "the URL is not valid"
    if isinstance(error, aiohttp.ClientConnectionError | httpx.ConnectError | OSError):
        return "could not connect"
    return "the connection failed"


def _refusal(error: BaseException) -> RefusedAddressError | None:
    # aiohttp wraps what the resolver raises (as `os_error` and as the cause).
    for found in (error, getattr(error, "os_error", None), error.__cause__, error.__context__):
        if isinstance(found, RefusedAddressError):
            return found
    return None


def _check_answer(status: int, headers: Mapping[str, str], url: str, max_bytes: int) -> None:
    if not 200 <= status < 300:
        raise _fetch_failed(url, f"HTTP {status}")
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_big(url, max_bytes)


def _append(data: bytearray, chunk: bytes, url: str, max_bytes: int) -> None:
    data += chunk
    if len(data) > max_bytes:
        raise _too_big(url, max_bytes)


def _blob(headers: Mapping[str, str], url: str, data: bytearray) -> Blob:
    return {"mimeType": _mime_type(headers, url), "data": base64.b64encode(data).decode("ascii")}


def _mime_type(headers: Mapping[str, str], url: str) -> str:
    header: str = headers.get("content-type", "")
    declared = header.split(";", 1)[0].strip().lower()
    if declared not in _UNTYPED:
        return declared
    # Object stores often label everything octet-stream; the file name usually knows better.
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or "application/octet-stream"


def _part_urls(part: Any) -> Iterator[str]:
    if not isinstance(part, Mapping):
        return
    image = part.get("image_url")
    if isinstance(image, Mapping):
        image = image.get("url")
    if isinstance(image, str):
        yield image
    file = part.get("file")
    if isinstance(file, Mapping):
        for key in ("file_id", "url"):
            value = file.get(key)
            if isinstance(value, str):
                yield value


def shown_url(url: str) -> str:
    """``url`` without its query, fragment or user info: signed URLs carry secrets there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _fetch_failed(url: str, reason: str) -> errors.BadRequestError:
    return errors.BadRequestError(f"could not fetch media from {shown_url(url)}: {reason}")


def _too_big(url: str, max_bytes: int) -> errors.BadRequestError:
    return errors.BadRequestError(
        f"media at {shown_url(url)} is larger than {max_bytes} bytes; upload it with the Files API"
    )
