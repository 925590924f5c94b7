"""The async HTTP libraries a client can send with: aiohttp (the default, fastest measured) and
httpx. Each maps its own failures, once, to `errors.Timeout` / `errors.APIConnectionError`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import httpx

from gemgate import errors
from gemgate.calls import Call
from gemgate.translate.error_bodies import redact

# Connections kept per process; Google multiplexes nothing over HTTP/1.1, so this bounds concurrency.
POOL_SIZE = 1000
_HTTPX_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class OpenedAnswer(Protocol):
    """An answer whose status arrived and whose body is read on demand."""

    status: int

    async def read(self) -> bytes:
        """The whole (remaining) body."""
        ...

    async def next_bytes(self) -> bytes | None:
        """The next bytes of the body as they arrive; None once it has ended."""
        ...

    async def aclose(self) -> None:
        """Release the connection (closed if the body was not read to its end)."""
        ...


class AsyncTransport(Protocol):
    """Sends one Call; the rest of the client never sees the HTTP library."""

    async def post(self, call: Call, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST the call and read the whole answer: (status, body)."""
        ...

    async def open(self, call: Call, headers: dict[str, str]) -> OpenedAnswer:
        """POST the call and return once the status line arrived."""
        ...

    async def aclose(self) -> None:
        """Close the pool if this transport made it."""
        ...


class _FailureMapping:
    """Maps an HTTP library's failures inside a `with` block to gemgate errors about one call.

    A class rather than a @contextmanager generator, and the host read only on failure: it
    wraps every call and every read of a stream, where the generator cost ~1 µs each time.
    """

    __slots__ = ("_call", "_timeout_types", "_caught_types")

    def __init__(self, call: Call, timeout_types: tuple[type[BaseException], ...],
                 failure_types: tuple[type[BaseException], ...]) -> None:  # fmt: skip
        self._call = call
        self._timeout_types = timeout_types
        self._caught_types = timeout_types + failure_types

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if error is None or not isinstance(error, self._caught_types):
            return
        host = urlsplit(self._call.url).netloc
        if isinstance(error, self._timeout_types):
            message = f"{host} did not answer in time ({type(error).__name__})"
            raise self._call.failure(errors.Timeout, message) from error
        message = f"could not talk to {host}: {type(error).__name__} {redact(str(error))}"
        raise self._call.failure(errors.APIConnectionError, message.rstrip()) from error


# asyncio.TimeoutError is TimeoutError on 3.11; aiohttp's own timeouts subclass it.
_AIOHTTP_TIMEOUTS = (TimeoutError,)
_AIOHTTP_FAILURES = (aiohttp.ClientError, OSError)


def aiohttp_errors(call: Call) -> AbstractContextManager[None]:
    """Map aiohttp's failures inside the block to gemgate errors about ``call``."""
    return _FailureMapping(call, _AIOHTTP_TIMEOUTS, _AIOHTTP_FAILURES)


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(seconds: float, *, stream: bool) -> aiohttp.ClientTimeout:
    # A stream may run long: the limit is on connecting and on each wait for more bytes.
    if stream:
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
    return aiohttp.ClientTimeout(total=seconds)


def new_session() -> aiohttp.ClientSession:
    """A pooled aiohttp session as gemgate uses it (call inside a running event loop)."""
    connector = aiohttp.TCPConnector(limit=POOL_SIZE, limit_per_host=0, ttl_dns_cache=300)
    # No cookie jar: a cookie Google sets for one caller must never travel with another's request.
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class _AiohttpAnswer:
    def __init__(self, call: Call, response: aiohttp.ClientResponse) -> None:
        self.status = response.status
        self._call = call
        self._response = response

    async def read(self) -> bytes:
        with aiohttp_errors(self._call):
            return await self._response.read()

    async def next_bytes(self) -> bytes | None:
        with aiohttp_errors(self._call):
            data = await self._response.content.readany()
        return data or None

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
            return
        self._response.close()
        # asyncio closes the socket on the loop's next turn; yield so that it is closed on return.
        await asyncio.sleep(0)


class AiohttpTransport:
    """Sends with one pooled `aiohttp.ClientSession` (given and left open, or made and owned)."""

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._owns_session = session is None
        self._session = session
        self._is_closed = False

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session (an owned one is made on first use, inside the running loop)."""
        if self._session is None:
            if self._is_closed:
                raise RuntimeError("this transport has been closed")
            self._session = new_session()
        return self._session

    @property
    def is_closed(self) -> bool:
        return self._is_closed or (self._session is not None and self._session.closed)

    async def post(self, call: Call, headers: dict[str, str]) -> tuple[int, bytes]:
        timeout = _aiohttp_timeout(call.timeout, stream=False)
        with aiohttp_errors(call):
            async with self.session.post(call.url, data=call.content, headers=headers,
                                         timeout=timeout, allow_redirects=False) as response:  # fmt: skip
                return response.status, await response.read()

    async def open(self, call: Call, headers: dict[str, str]) -> OpenedAnswer:
        timeout = _aiohttp_timeout(call.timeout, stream=True)
        with aiohttp_errors(call):
            response = await self.session.post(call.url, data=call.content, headers=headers,
                                               timeout=timeout, allow_redirects=False)  # fmt: skip
        return _AiohttpAnswer(call, response)

    async def aclose(self) -> None:
        self._is_closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()


_HTTPX_TIMEOUTS = (httpx.TimeoutException,)
_HTTPX_FAILURES = (httpx.RequestError,)


def httpx_errors(call: Call) -> AbstractContextManager[None]:
    """Map httpx's failures inside the block to gemgate errors about ``call``."""
    return _FailureMapping(call, _HTTPX_TIMEOUTS, _HTTPX_FAILURES)


class _HttpxAnswer:
    def __init__(self, call: Call, response: httpx.Response) -> None:
        self.status = response.status_code
        self._call = call
        self._response = response
        self._bytes: AsyncIterator[bytes] = response.aiter_bytes()

    async def read(self) -> bytes:
        with httpx_errors(self._call):
            return await self._response.aread()

    async def next_bytes(self) -> bytes | None:
        with httpx_errors(self._call):
            return await anext(self._bytes, None)

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxTransport:
    """Sends with one pooled `httpx.AsyncClient` (given and left open, or made and owned)."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(limits=_HTTPX_LIMITS, follow_redirects=False)

    @property
    def is_closed(self) -> bool:
        return self.client.is_closed

    async def post(self, call: Call, headers: dict[str, str]) -> tuple[int, bytes]:
        with httpx_errors(call):
            response = await self.client.post(
                call.url, content=call.content, headers=headers, timeout=call.timeout
            )
        return response.status_code, response.content

    async def open(self, call: Call, headers: dict[str, str]) -> OpenedAnswer:
        request = self.client.build_request(
            "POST", call.url, content=call.content, headers=headers, timeout=call.timeout
        )
        with httpx_errors(call):
            response = await self.client.send(request, stream=True)
        return _HttpxAnswer(call, response)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
