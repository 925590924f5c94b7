"""The clients the SDK functions share: one pooled async client per event loop, one sync client.

This is the one deliberate piece of process-wide state in the SDK: a connection pool is only
useful when it is shared. An httpx.AsyncClient belongs to the event loop it first ran on, so
each running loop gets its own (repeated `asyncio.run` calls stay safe).
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from gemgate.client import AsyncGeminiClient, GeminiClient
from gemgate.providers.resolve import ProviderRegistry


class ClientPool:
    """Lazily made clients and the credential registry every SDK call shares."""

    def __init__(self) -> None:
        self.registry = ProviderRegistry()
        self._lock = threading.Lock()
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGeminiClient] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: GeminiClient | None = None

    def for_running_loop(self) -> AsyncGeminiClient:
        """The async client of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async.get(loop)
            if client is None:
                client = self._async[loop] = AsyncGeminiClient()
            return client

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
        if client is not None:
            await client.aclose()


DEFAULT_POOL = ClientPool()
