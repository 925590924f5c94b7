"""Context caches for `cache_control` prefixes: created once upstream (`cachedContents`), remembered
in this process until they expire, reused by later calls, and recreated once if Google lost one.

What to cache and how the body splits is pure (translate/context_cache.py); this module sends
and remembers. `cache_control` asks for caching rather than demanding it: a prefix Google will
not cache (too small, a model without caching) goes out whole, and is remembered as such until
its ttl has passed, so that later calls do not ask again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import orjson

from gemgate import errors
from gemgate.calls import Call, build_call
from gemgate.client import AsyncGeminiClient
from gemgate.providers.base import GENERATE, STREAM_GENERATE, Provider
from gemgate.sync_client import GeminiClient
from gemgate.translate.context_cache import (
    CacheSplit,
    cache_key,
    find_cached_prefix,
    prefix_part_count,
    split_request,
)
from gemgate.types.gemini import Blob, GenerateContentRequest

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A remembered cache is left alone this close to its expiry: it could expire on the way.
EXPIRY_MARGIN_SECONDS = 10.0
# What Google answers for a named cache that is not there (any more): the Developer API says
# PERMISSION_DENIED, Vertex AI NOT_FOUND.
_GONE = (errors.NotFoundError, errors.PermissionDeniedError)
# What Google answers when it will not cache a prefix (INVALID_ARGUMENT for one below the
# model's minimum size, NOT_FOUND for a model without createCachedContent).
_UNCACHEABLE = (errors.BadRequestError, errors.NotFoundError)


class ChatCall(Protocol):
    """What the caches need to know about a chat call (`openai_api.ChatTarget` has it)."""

    @property
    def provider(self) -> Provider: ...
    @property
    def model(self) -> str: ...
    @property
    def request(self) -> Mapping[str, Any]: ...
    @property
    def timeout(self) -> float: ...
    @property
    def num_retries(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CachePlan:
    """One call's use of a cache: the split body, its key, and where and how to create it."""

    provider: Provider
    model: str
    key: str
    split: CacheSplit
    timeout: float
    num_retries: int

    def create_call(self) -> Call:
        """The `POST cachedContents` call that creates the cache."""
        content = orjson.dumps(self.split.create_body())
        url = self.provider.cached_contents_url()
        return Call(self.provider, self.model, url, content, self.timeout, self.num_retries)

    def body_with(self, cache_name: str) -> dict[str, Any]:
        """The generateContent body that reads its prefix from ``cache_name``."""
        return dict(self.split.rest_with(cache_name))

    def resend(self, call: Call, cache_name: str) -> Call:
        """``call`` (generateContent or its stream) again, naming another cache."""
        method = STREAM_GENERATE if call.stream else GENERATE
        body = self.body_with(cache_name)
        return build_call(self.provider, self.model, method, body,
                          timeout=call.timeout, num_retries=call.num_retries)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str | None  # None: Google would not cache this prefix, so calls go out whole
    expires_at: float


class ContextCaches:
    """The caches this process made, by key, until they expire; safe to share between threads."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    async def attach(
        self,
        client: AsyncGeminiClient,
        chat: ChatCall,
        media: Mapping[str, Blob],
        body: dict[str, Any],
    ) -> tuple[AsyncGeminiClient, dict[str, Any]]:
        """The client and body to send ``chat`` with: as given without `cache_control` marks;
        else the body names the cache (made now or earlier) and the client remakes a lost one."""
        plan = self.plan(chat, media, body)
        if plan is None:
            return client, body
        entry = self.lookup(plan.key)
        name = entry.name if entry is not None else await self._create(client, plan)
        if name is None:
            return client, body
        return _AsyncCachedClient(client, self, plan), plan.body_with(name)

    def attach_sync(
        self,
        client: GeminiClient,
        chat: ChatCall,
        media: Mapping[str, Blob],
        body: dict[str, Any],
    ) -> tuple[GeminiClient, dict[str, Any]]:
        """The synchronous twin of `attach`."""
        plan = self.plan(chat, media, body)
        if plan is None:
            return client, body
        entry = self.lookup(plan.key)
        name = entry.name if entry is not None else self._create_sync(client, plan)
        if name is None:
            return client, body
        return _CachedClient(client, self, plan), plan.body_with(name)

    def plan(
        self, chat: ChatCall, media: Mapping[str, Blob], body: dict[str, Any]
    ) -> CachePlan | None:
        """How ``chat`` uses a cache; None when nothing in it is marked for caching."""
        messages = chat.request["messages"]
        prefix = find_cached_prefix(messages)
        if prefix is None:
            return None
        try:
            model_name = chat.provider.cached_model_name(chat.model)
            scope = _scope_of(chat.provider)
        except errors.BadRequestError as error:
            logger.warning("cache_control ignored for %s: %s", chat.model, error.message)
            return None
        parts = prefix_part_count(messages[: prefix.message_count], media=media)
        split = split_request(cast(GenerateContentRequest, body), prefix_parts=parts,
                              model_name=model_name, ttl_seconds=prefix.ttl_seconds)  # fmt: skip
        if split is None:
            return None
        key = cache_key(split.cache, scope=scope)
        return CachePlan(chat.provider, chat.model, key, split, chat.timeout, chat.num_retries)

    def lookup(self, key: str) -> _Entry | None:
        """The remembered cache for ``key`` while it has time left, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at - EXPIRY_MARGIN_SECONDS <= self._clock():
                del self._entries[key]
                return None
            return entry

    def forget(self, key: str) -> None:
        """Drop the cache remembered for ``key`` (Google no longer has it)."""
        with self._lock:
            self._entries.pop(key, None)

    async def recreate(self, client: AsyncGeminiClient, plan: CachePlan) -> str:
        """Make ``plan``'s cache again (Google lost it); return its new name."""
        self.forget(plan.key)
        started = self._clock()
        return self._created(plan, await client.send(plan.create_call()), started)

    def recreate_sync(self, client: GeminiClient, plan: CachePlan) -> str:
        """The synchronous twin of `recreate`."""
        self.forget(plan.key)
        started = self._clock()
        return self._created(plan, client.send(plan.create_call()), started)

    async def _create(self, client: AsyncGeminiClient, plan: CachePlan) -> str | None:
        started = self._clock()
        try:
            answer = await client.send(plan.create_call())
        except _UNCACHEABLE as error:
            self._refused(plan, error, started)
            return None
        return self._created(plan, answer, started)

    def _create_sync(self, client: GeminiClient, plan: CachePlan) -> str | None:
        started = self._clock()
        try:
            answer = client.send(plan.create_call())
        except _UNCACHEABLE as error:
            self._refused(plan, error, started)
            return None
        return self._created(plan, answer, started)

    def _created(self, plan: CachePlan, answer: dict[str, Any], started: float) -> str:
        name = answer.get("name")
        if not isinstance(name, str) or "cachedContents/" not in name:
            raise errors.InternalServerError(
                "Google created a context cache but did not name it",
                provider=plan.provider.name,
                model=plan.model,
            )
        logger.info("created context cache %s for %s (ttl %ds)", name, plan.model, plan.split.ttl_seconds)  # fmt: skip
        self._remember(plan, _Entry(name, started + plan.split.ttl_seconds))
        return name

    def _refused(self, plan: CachePlan, error: errors.GemgateError, started: float) -> None:
        logger.warning(
            "Google would not cache the cache_control prefix for %s (%s %s); sending it whole",
            plan.model, error.status_code, type(error).__name__,
        )  # fmt: skip
        self._remember(plan, _Entry(None, started + plan.split.ttl_seconds))

    def _remember(self, plan: CachePlan, entry: _Entry) -> None:
        now = self._clock()
        with self._lock:
            # Dropping the expired ones here keeps the table as small as the live caches.
            for key in [key for key, old in self._entries.items() if old.expires_at <= now]:
                del self._entries[key]
            self._entries[plan.key] = entry


def _scope_of(provider: Provider) -> str:
    """Where a cache lives and whose it is: its collection URL (Vertex names the project there)
    and a digest of the API key, if any (a Developer API key stands for its project)."""
    api_key = getattr(provider, "api_key", None)
    key_digest = hashlib.sha256(api_key.encode()).hexdigest() if isinstance(api_key, str) else ""
    return f"{provider.cached_contents_url()} {key_digest}"


class _AsyncCachedClient(AsyncGeminiClient):
    """The pooled client for one call that names a cache: should Google answer that the cache
    is gone (expired early, deleted), the cache is made again and the call sent once more."""

    def __init__(self, client: AsyncGeminiClient, caches: ContextCaches, plan: CachePlan) -> None:
        super().__init__(client.transport, retry_policy=client.retry_policy)
        self._inner = client
        self._caches = caches
        self._plan = plan

    async def send(self, call: Call) -> dict[str, Any]:
        # Through `retrying` (the base class inlines it), where a lost cache is made again.
        return await self.retrying(call, self._post_once)

    async def retrying(
        self, call: Call, attempt_once: Callable[[Call, dict[str, str]], Awaitable[T]]
    ) -> T:
        try:
            return await super().retrying(call, attempt_once)
        except _GONE as error:
            _log_gone(self._plan, error)
        name = await self._caches.recreate(self._inner, self._plan)
        return await super().retrying(self._plan.resend(call, name), attempt_once)

    async def aclose(self) -> None:
        """Nothing to close: the connection pool belongs to the wrapped client."""


class _CachedClient(GeminiClient):
    """The synchronous twin of `_AsyncCachedClient`."""

    def __init__(self, client: GeminiClient, caches: ContextCaches, plan: CachePlan) -> None:
        super().__init__(client.http, retry_policy=client.retry_policy)
        self._inner = client
        self._caches = caches
        self._plan = plan

    def retrying(self, call: Call, attempt_once: Callable[[Call, dict[str, str]], T]) -> T:
        try:
            return super().retrying(call, attempt_once)
        except _GONE as error:
            _log_gone(self._plan, error)
        name = self._caches.recreate_sync(self._inner, self._plan)
        return super().retrying(self._plan.resend(call, name), attempt_once)


def _log_gone(plan: CachePlan, error: errors.GemgateError) -> None:
    logger.warning(
        "context cache for %s refused (%s %s); creating it again",
        plan.model, error.status_code, type(error).__name__,
    )  # fmt: skip


# The one table of the process, as the connection pool is (client_pool.py): a cache is only
# worth making if later calls find it.
DEFAULT_CONTEXT_CACHES = ContextCaches()
