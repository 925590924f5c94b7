"""Pass-through path safety (pure): the caller's path may only name a resource on the intended
Google host, so `..`, encoded slashes, absolute URLs and `//host`, `@` or scheme tricks are refused."""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

from gemgate import errors

# RFC 3986 path characters (pchar and "/"), escapes included; anything else is refused outright.
_PATH_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Decoded, these would change which resource (or host) the path names: an escaped slash or
# backslash is a separator to some servers, an escaped % is a second round of decoding.
_REFUSED_DECODED = frozenset("/\\%?#")
_DOT_SEGMENTS = frozenset({".", ".."})


def checked_path(raw_path: str) -> str:
    """``raw_path`` (as the caller spelled it, after the route's prefix) when it is a plain
    resource path; BadRequestError otherwise. Nothing is rewritten: the check refuses."""
    if not raw_path.startswith("/") or raw_path == "/":
        raise _refused("it must name a resource below the route")
    if not _PATH_CHARACTERS.match(raw_path) or _BAD_ESCAPE.search(raw_path):
        raise _refused("it holds characters a resource path cannot hold")
    segments = raw_path[1:].split("/")
    # A trailing slash is harmless; an empty segment anywhere else is a `//host` in waiting.
    if segments[-1] == "":
        segments.pop()
    if "" in segments:
        raise _refused("empty segments are not allowed")
    if not _DOT_SEGMENTS.isdisjoint(segments):
        raise _refused("'.' and '..' segments are not allowed")
    if "%" in raw_path:
        for segment in segments:
            if "%" in segment:
                _check_escaped(_decoded(segment))
    # Where a scheme or user info could start, if the path were ever resolved as a reference.
    if ":" in segments[0] or "@" in segments[0]:
        raise _refused("its first segment cannot hold ':' or '@'")
    return raw_path


def _check_escaped(decoded: str) -> None:
    # Unescaped segments need no such check: the character pattern keeps these out.
    if decoded in _DOT_SEGMENTS:
        raise _refused("'.' and '..' segments are not allowed")
    if not _REFUSED_DECODED.isdisjoint(decoded) or any(map(_is_control, decoded)):
        raise _refused("encoded slashes, backslashes, '%', '?', '#' or controls are not allowed")


def _is_control(character: str) -> bool:
    return ord(character) < 0x20 or ord(character) == 0x7F


def _decoded(segment: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as error:
        raise _refused("its escapes are not UTF-8") from error


def upstream_url(base_url: str, path: str, query: str) -> str:
    """``base_url`` + ``path`` (a checked_path) + the query without `key` parameters (our key
    travels in a header). Plain concatenation: the path cannot reach the host part."""
    kept = query_without_key(query)
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}" + (f"?{kept}" if kept else "")


def query_without_key(query: str) -> str:
    """The raw query string without `key` parameters; the others keep their order and spelling."""
    pairs = [pair for pair in query.split("&") if pair]
    return "&".join(pair for pair in pairs if unquote_plus(pair.partition("=")[0]) != "key")


def _refused(reason: str) -> errors.BadRequestError:
    return errors.BadRequestError(f"Invalid pass-through path: {reason}.")
