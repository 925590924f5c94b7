"""The clients the SDK functions share: one pooled async client per event loop, one sync client.

This is the one deliberate piece of process-wide state in the SDK: a connection pool is only
useful when it is shared. An aiohttp session belongs to the event loop it first ran on, so
each running loop gets its own (repeated `asyncio.run` calls stay safe).
"""

from __future__ import annotations

import asyncio
import threading
import weakref

import aiohttp

from gemgate.client import AsyncGeminiClient
from gemgate.providers.resolve import ProviderRegistry
from gemgate.sync_client import GeminiClient
from gemgate.transports import AiohttpTransport


class ClientPool:
    """Lazily made clients and the credential registry every SDK call shares."""

    def __init__(self) -> None:
        self.registry = ProviderRegistry()
        self._lock = threading.Lock()
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGeminiClient] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: GeminiClient | None = None
        # The loop asked last and its client: most programs run one loop, so most calls stop here.
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], AsyncGeminiClient] | None = None

    def for_running_loop(self) -> AsyncGeminiClient:
        """The async client of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        with self._lock:
            client = self._async.get(loop)
            if client is None:
                client = self._async[loop] = AsyncGeminiClient()
            self._last = (weakref.ref(loop), client)
            return client

    def session_for_running_loop(self) -> aiohttp.ClientSession:
        """The aiohttp session under the running loop's async client (for fetching media)."""
        transport = self.for_running_loop().transport
        if not isinstance(transport, AiohttpTransport):
            raise TypeError("the pooled async client does not send with aiohttp")
        return transport.session

    def sync(self) -> GeminiClient:
        """The process's synchronous client (made on first use)."""
        with self._lock:
            if self._sync is None:
                self._sync = GeminiClient()
            return self._sync

    async def aclose_running_loop(self) -> None:
        """Close the running loop's async client (e.g. before the loop ends)."""
        with self._lock:
            client = self._async.pop(asyncio.get_running_loop(), None)
            self._last = None
        if client is not None:
            await client.aclose()


DEFAULT_POOL = ClientPool()
