"""Context caching from `cache_control` marks: which prefix of a chat to cache, the cachedContents
body that holds it, and the rest of the generateContent request that names the cache.

A Gemini cache is a prefix: Google puts its contents before the request's own, and a request
naming a cache may not carry a system instruction, tools or tool config (those live in the cache).
https://ai.google.dev/gemini-api/docs/caching
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from gemgate.errors import BadRequestError
from gemgate.translate.messages import translate_messages
from gemgate.types.gemini import Blob, CachedContent, Content, GenerateContentRequest

# The only cache_control type there is; it lives five minutes unless a `ttl` says otherwise.
EPHEMERAL = "ephemeral"
DEFAULT_TTL_SECONDS = 300
# Fields Google accepts only on the cache once a request names one.
CACHE_OWNED_FIELDS = ("systemInstruction", "tools", "toolConfig")
# Shown in Google's cache listings, so that users can tell gemgate's caches apart.
DISPLAY_NAME = "gemgate cache_control prefix"
# The roles translate/messages.py lifts into systemInstruction rather than contents.
_INSTRUCTION_ROLES = frozenset({"system", "developer"})
_TTL = re.compile(r"^(\d+)(s|m|h)$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class CachedPrefix:
    """The messages to cache: ``messages[:message_count]``, kept for ``ttl_seconds``."""

    message_count: int
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class CacheSplit:
    """A generateContent body split into a cache (without its ttl) and the rest."""

    cache: CachedContent
    rest: GenerateContentRequest
    ttl_seconds: int

    def create_body(self) -> CachedContent:
        """The body of `POST cachedContents` that creates the cache."""
        return {**self.cache, "ttl": f"{self.ttl_seconds}s"}

    def rest_with(self, cache_name: str) -> GenerateContentRequest:
        """The generateContent body that reads the prefix from the cache called ``cache_name``."""
        return {**self.rest, "cachedContent": cache_name}


def find_cached_prefix(messages: Sequence[Any]) -> CachedPrefix | None:
    """The prefix that ends with the first continuous block of `cache_control` marks, or None.

    Gemini caches one prefix, so a later block of marks is not cached. The last conversation turn
    always stays out of the cache: Google refuses a request with a cache and no contents.
    """
    if not any(map(_is_marked, messages)):
        return None  # the usual chat: nothing to cache, nothing to check
    marks = [_ttl_of_mark(message, f"messages[{index}]") for index, message in enumerate(messages)]
    first = next((index for index, ttl in enumerate(marks) if ttl is not None), None)
    if first is None:
        return None
    end = first
    while end + 1 < len(marks) and marks[end + 1] is not None:
        end += 1
    turns = [index for index, message in enumerate(messages) if not _is_instruction(message)]
    count = min(end + 1, turns[-1]) if turns else end + 1
    ttl = max(ttl for ttl in marks[first : end + 1] if ttl is not None)
    return CachedPrefix(message_count=count, ttl_seconds=ttl)


def prefix_part_count(messages: Sequence[Mapping[str, Any]], *, media: Mapping[str, Blob]) -> int:
    """How many Gemini parts the conversation turns among ``messages`` translate to."""
    turns = [message for message in messages if not _is_instruction(message)]
    if not turns:
        return 0
    contents, _ = translate_messages(turns, media=media)
    return sum(len(content.get("parts") or []) for content in contents)


def split_request(
    body: GenerateContentRequest, *, prefix_parts: int, model_name: str, ttl_seconds: int
) -> CacheSplit | None:
    """Move the first ``prefix_parts`` parts of ``body``, its system instruction, tools and tool
    config into a cache of ``model_name``; None when the caller named a cache or nothing is left
    to cache."""
    if body.get("cachedContent"):
        return None
    cached, rest = _split_contents(body.get("contents") or [], prefix_parts)
    if not rest and cached:
        # Gemini needs a turn to answer next to a cache.
        cached, rest = cached[:-1], cached[-1:]
    cache: CachedContent = {"model": model_name, "displayName": DISPLAY_NAME}
    if cached:
        cache["contents"] = cached
    if "systemInstruction" in body:
        cache["systemInstruction"] = body["systemInstruction"]
    if "tools" in body:
        cache["tools"] = body["tools"]
    if "toolConfig" in body:
        cache["toolConfig"] = body["toolConfig"]
    if cache.keys() <= {"model", "displayName"}:
        return None
    kept = {key: value for key, value in body.items() if key not in CACHE_OWNED_FIELDS}
    remaining = cast(GenerateContentRequest, {**kept, "contents": rest})
    return CacheSplit(cache=cache, rest=remaining, ttl_seconds=ttl_seconds)


def cache_key(cache: CachedContent, *, scope: str) -> str:
    """A digest naming ``cache`` (model and content) within ``scope`` (where and whose it is)."""
    payload = orjson.dumps({"scope": scope, "cache": cache}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def _split_contents(contents: Sequence[Content], count: int) -> tuple[list[Content], list[Content]]:
    cached: list[Content] = []
    rest: list[Content] = []
    for content in contents:
        parts = content.get("parts") or []
        taken = min(count, len(parts))
        count -= taken
        if taken == len(parts):
            cached.append(content)
        elif taken:
            # Two messages of one role became one turn; the cache ends inside it.
            cached.append({**content, "parts": parts[:taken]})
            rest.append({**content, "parts": parts[taken:]})
        else:
            rest.append(content)
    return cached, rest


def _is_marked(message: Any) -> bool:
    """Whether ``message`` or one of its content parts carries a `cache_control` mark."""
    if type(message) is not dict and not isinstance(message, Mapping):
        return False
    if message.get("cache_control") is not None:
        return True
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(part, Mapping) and part.get("cache_control") is not None for part in content
    )


def _ttl_of_mark(message: Any, where: str) -> int | None:
    """The ttl of the cache_control marks on ``message`` or its content parts; None if unmarked."""
    if not isinstance(message, Mapping):
        return None
    marks = [(message.get("cache_control"), f"{where}.cache_control")]
    content = message.get("content")
    if isinstance(content, list):
        marks += [
            (part.get("cache_control"), f"{where}.content[{index}].cache_control")
            for index, part in enumerate(content)
            if isinstance(part, Mapping)
        ]
    ttls = [_ttl_seconds(mark, place) for mark, place in marks if mark is not None]
    return max(ttls) if ttls else None


def _ttl_seconds(mark: Any, where: str) -> int:
    if not isinstance(mark, Mapping) or mark.get("type") != EPHEMERAL:
        raise BadRequestError(f'{where} must be {{"type": "ephemeral"}}, optionally with a "ttl"')
    ttl = mark.get("ttl")
    if ttl is None:
        return DEFAULT_TTL_SECONDS
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0:
        return ttl
    match = _TTL.match(ttl) if isinstance(ttl, str) else None
    if match is None or int(match.group(1)) == 0:
        raise BadRequestError(
            f'{where}.ttl must be a positive duration such as "5m", "1h" or "600s"; got {ttl!r}'
        )
    return int(match.group(1)) * _TTL_UNITS[match.group(2)]


def _is_instruction(message: Any) -> bool:
    return isinstance(message, Mapping) and message.get("role") in _INSTRUCTION_ROLES
