"""OpenAI message content (a string or text, image_url, input_audio and file parts) → Gemini Parts."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from gemgate.errors import BadRequestError
from gemgate.types.gemini import Blob, FileData, Part

_FILES_API_BASE = "https://generativelanguage.googleapis.com/v1beta/"
# Files API URIs (`.../v1beta/files/abc`) on any host: proxies and the emulator hand out the same path.
_FILES_API_PATH = re.compile(r"/v1[a-z0-9]*/files/[A-Za-z0-9_-]+$")
_YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"}
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
# Extensions of the media types Gemini documents (images, audio, video, documents).
_MIME_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "mov": "video/mov",
    "avi": "video/avi",
    "flv": "video/x-flv",
    "webm": "video/webm",
    "wmv": "video/wmv",
    "3gp": "video/3gpp",
    "txt": "text/plain",
    "html": "text/html",
    "css": "text/css",
    "js": "text/javascript",
    "py": "text/x-python",
    "md": "text/md",
    "csv": "text/csv",
    "xml": "text/xml",
    "rtf": "text/rtf",
    "json": "application/json",
}
TEXT_ONLY = frozenset({"text"})
ASSISTANT_PARTS = frozenset({"text", "refusal"})
USER_PARTS = frozenset({"text", "image_url", "input_audio", "file"})


def content_to_parts(
    content: Any, *, where: str, allowed: frozenset[str], media: Mapping[str, Blob]
) -> list[Part]:
    """The Parts of one message's ``content``; empty texts are dropped (Gemini rejects them)."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequestError(f"{where}.content must be a string or a list of content parts")
    parts: list[Part] = []
    for index, item in enumerate(content):
        part = _content_part(item, f"{where}.content[{index}]", allowed, media)
        if part is not None:
            parts.append(part)
    return parts


def content_text(content: Any, *, where: str) -> str:
    """The text of a text-only ``content`` (a string or text parts), joined."""
    parts = content_to_parts(content, where=where, allowed=TEXT_ONLY, media={})
    return "".join(part.get("text", "") for part in parts)


def needs_fetch(url: str) -> bool:
    """Whether an image URL must be downloaded first (Google reads only Files API and YouTube URIs)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unbalanced "[" in the host: not a URL anyone can read
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    return not _FILES_API_PATH.search(parts.path) and host not in _YOUTUBE_HOSTS


def _content_part(
    item: Any, where: str, allowed: frozenset[str], media: Mapping[str, Blob]
) -> Part | None:
    if not isinstance(item, Mapping):
        raise BadRequestError(f"{where} must be an object with a `type`")
    kind = item.get("type")
    if kind not in allowed:
        known = ", ".join(sorted(allowed))
        raise BadRequestError(f"{where} has content part type {kind!r}; expected one of: {known}")
    if kind in ("text", "refusal"):
        text = item.get(kind)
        if not isinstance(text, str):
            raise BadRequestError(f"{where}.{kind} must be a string")
        return {"text": text} if text else None
    if kind == "image_url":
        return _image_part(item.get("image_url"), where, media)
    if kind == "input_audio":
        return _audio_part(item.get("input_audio"), where)
    return _file_part(item.get("file"), where, media)


def _image_part(image: Any, where: str, media: Mapping[str, Blob]) -> Part:
    if isinstance(image, str):
        image = {"url": image}
    if not isinstance(image, Mapping) or not isinstance(image.get("url"), str):
        raise BadRequestError(f"{where}.image_url must be an object with a `url` string")
    url: str = image["url"]
    mime_type = _mime_of_format(image.get("format"), where)
    if url.startswith("data:"):
        return {"inlineData": _data_url_blob(url, mime_type, where)}
    if url in media:
        return {"inlineData": _fetched_blob(media[url], mime_type)}
    if needs_fetch(url):
        raise BadRequestError(
            f"{where}: the image at {_shown(url)} was not fetched; remote media must be "
            "downloaded before translation"
        )
    return {"fileData": _file_reference(url, mime_type, where)}


def _fetched_blob(fetched: Blob, mime_type: str | None) -> Blob:
    blob = fetched.copy()
    if mime_type:
        blob["mimeType"] = mime_type
    return blob


def _shown(url: str) -> str:
    """``url`` without query or fragment: signed URLs carry secrets there."""
    return url.split("?", 1)[0].split("#", 1)[0]


def _audio_part(audio: Any, where: str) -> Part:
    if not isinstance(audio, Mapping):
        raise BadRequestError(f"{where}.input_audio must be an object with `data` and `format`")
    data, audio_format = audio.get("data"), audio.get("format")
    if not isinstance(data, str) or not isinstance(audio_format, str) or not audio_format:
        raise BadRequestError(f"{where}.input_audio needs `data` (base64) and `format` strings")
    mime_type = audio_format if "/" in audio_format else f"audio/{audio_format.lower()}"
    return {"inlineData": {"mimeType": mime_type, "data": _checked_base64(data, where)}}


def _file_part(file: Any, where: str, media: Mapping[str, Blob]) -> Part:
    if not isinstance(file, Mapping):
        raise BadRequestError(f"{where}.file must be an object with `file_data` or `file_id`")
    mime_type = _mime_of_format(file.get("format"), where)
    file_data, file_id = file.get("file_data"), file.get("file_id")
    if isinstance(file_data, str) and file_data:
        if file_data.startswith("data:"):
            return {"inlineData": _data_url_blob(file_data, mime_type, where)}
        mime_type = mime_type or _mime_of_path(str(file.get("filename") or ""))
        if not mime_type:
            raise BadRequestError(
                f"{where}.file.file_data is bare base64; give a data: URL or a `format`"
            )
        return {"inlineData": {"mimeType": mime_type, "data": _checked_base64(file_data, where)}}
    if isinstance(file_id, str) and file_id:
        if file_id in media:  # an https file the caller chose to download
            return {"inlineData": _fetched_blob(media[file_id], mime_type)}
        if file_id.startswith("files/"):
            file_id = _FILES_API_BASE + file_id
        return {"fileData": _file_reference(file_id, mime_type, where)}
    raise BadRequestError(f"{where}.file needs a `file_data` data URL or a `file_id`")


def _file_reference(uri: str, mime_type: str | None, where: str) -> FileData:
    """gs://, Files API, YouTube and other https URIs Google reads itself."""
    scheme, host = _scheme_and_host(uri)
    if scheme not in ("gs", "http", "https") or not host:
        raise BadRequestError(
            f"{where}: {uri!r} is not a gs://, https:// or Gemini Files API (files/...) reference"
        )
    reference: FileData = {"fileUri": uri}
    if host in _YOUTUBE_HOSTS:
        mime_type = mime_type or "video/mp4"
    mime_type = mime_type or _mime_of_path(urlsplit(uri).path)
    if mime_type:
        reference = {"mimeType": mime_type, "fileUri": uri}
    return reference


def _data_url_blob(url: str, mime_type: str | None, where: str) -> Blob:
    """`data:<mime>[;base64],<data>` → Blob; an explicit `format` wins over the URL's type."""
    header, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        raise BadRequestError(f"{where}: malformed data: URL (no comma before the data)")
    params = header.split(";")
    if "base64" in params[1:]:
        data = _checked_base64(payload, where)
    else:
        data = base64.b64encode(unquote_to_bytes(payload)).decode()
    return {"mimeType": mime_type or params[0] or "text/plain", "data": data}


def _checked_base64(data: str, where: str) -> str:
    compact = "".join(data.split())
    if not _BASE64.fullmatch(compact):
        raise BadRequestError(f"{where}: the data is not valid base64")
    return compact


def _mime_of_format(value: Any, where: str) -> str | None:
    """`format` as a MIME type ("application/pdf") or an extension ("pdf")."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{where}: `format` must be a string such as 'application/pdf'")
    if "/" in value:
        return value
    mime_type = _MIME_BY_EXTENSION.get(value.lower().lstrip("."))
    if mime_type is None:
        raise BadRequestError(f"{where}: unknown `format` {value!r}; give a MIME type")
    return mime_type


def _mime_of_path(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _MIME_BY_EXTENSION.get(extension)


def _scheme_and_host(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower()
    except ValueError:  # e.g. an unbalanced "[" in the host; not a URL Google could read either
        return "", ""
