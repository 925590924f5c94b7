"""The Files API: resumable and multipart uploads, and get, list, delete, download of `files/{id}`.

Upload sessions follow the protocol of the google-genai SDK: a `start` POST answered with an
absolute `X-Goog-Upload-URL`, then chunk POSTs to that URL checked by `X-Goog-Upload-Offset`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemgate.emulator.auth import require_api_key
from gemgate.emulator.bodies import camel_case, read_json, record
from gemgate.emulator.google_errors import GoogleApiError, error_response, invalid_argument
from gemgate.emulator.listing import page_of, rfc3339
from gemgate.emulator.schema import check_request
from gemgate.emulator.state import EmulatorState, state_of

DEV_VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
# File ids Google accepts when the client names the file itself.
_FILE_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_DEFAULT_PAGE_SIZE = 10
_MAX_PAGE_SIZE = 100


def find_file(state: EmulatorState, reference: str) -> dict[str, Any] | None:
    """The stored, unexpired upload `{"file": File, "data": bytes}` for a name, id or file URI."""
    name = "files/" + reference.rsplit("files/", 1)[-1].split(":", 1)[0]
    entry = state.files.get(name)
    if entry is not None and entry["expires_at"] <= state.clock():
        del state.files[name]
        return None
    return entry


def missing_file_error(name: str) -> GoogleApiError:
    """What Google answers for a file that does not exist (or belongs to someone else)."""
    file_id = name.removeprefix("files/")
    return GoogleApiError(
        "PERMISSION_DENIED",
        f"You do not have permission to access the File {file_id} or it may not exist.",
    )


async def upload(request: Request) -> Response:
    """POST /upload/{v}/files: start a resumable session, take a chunk, or a multipart upload."""
    _check_version(request)
    upload_id = request.query_params.get("upload_id")
    if upload_id is not None:
        return await _receive_chunk(request, upload_id)
    state = state_of(request)
    require_api_key(request, state)
    protocol = request.headers.get("x-goog-upload-protocol") or request.query_params.get(
        "uploadType", ""
    )
    if protocol == "resumable":
        return await _start_session(request, state)
    if protocol == "multipart":
        return await _upload_multipart(request, state)
    raise invalid_argument(f"Unsupported upload protocol {protocol!r}; use resumable or multipart.")


async def get_file(request: Request) -> Response:
    entry = await _authorized_entry(request)
    return _json(entry["file"])


async def download_file(request: Request) -> Response:
    entry = await _authorized_entry(request)
    return Response(bytes(entry["data"]), media_type=entry["file"]["mimeType"])


async def delete_file(request: Request) -> Response:
    entry = await _authorized_entry(request)
    del state_of(request).files[entry["file"]["name"]]
    return _json({})


async def list_files(request: Request) -> Response:
    _check_version(request)
    state = state_of(request)
    require_api_key(request, state)
    record(request, None)
    names = [name for name in list(state.files) if find_file(state, name) is not None]
    page, token = page_of(
        names, request.query_params, default_size=_DEFAULT_PAGE_SIZE, max_size=_MAX_PAGE_SIZE
    )
    listing: dict[str, Any] = {}
    if page:
        listing["files"] = [state.files[name]["file"] for name in page]
    if token:
        listing["nextPageToken"] = token
    return _json(listing)


async def _start_session(request: Request, state: EmulatorState) -> Response:
    if request.headers.get("x-goog-upload-command", "").strip() != "start":
        raise invalid_argument("A resumable upload must begin with X-Goog-Upload-Command: start.")
    metadata = _file_metadata(state, camel_case(await read_json(request)))
    size = request.headers.get("x-goog-upload-header-content-length", metadata.get("sizeBytes"))
    mime_type = request.headers.get("x-goog-upload-header-content-type")
    draft = _draft(state, metadata, mime_type)
    upload_id = secrets.token_urlsafe(24)
    state.uploads[upload_id] = {"file": draft, "data": bytearray(), "size": _size(size)}
    version = request.path_params["version"]
    url = f"{_base_url(request)}/upload/{version}/files?upload_id={upload_id}"
    headers = {
        "X-Goog-Upload-URL": url + "&upload_protocol=resumable",
        "X-Goog-Upload-Status": "active",
        "X-Goog-Upload-Chunk-Granularity": "262144",
    }
    return Response(b"", headers=headers, media_type="text/plain; charset=utf-8")


async def _receive_chunk(request: Request, upload_id: str) -> Response:
    # Errors also carry X-Goog-Upload-Status, else the SDK retries the chunk (with sleeps).
    try:
        return await _apply_chunk(request, upload_id)
    except GoogleApiError as error:
        response = error_response(error)
        response.headers["X-Goog-Upload-Status"] = "final"
        return response


async def _apply_chunk(request: Request, upload_id: str) -> Response:
    state = state_of(request)
    data = await request.body()
    record(request, f"<{len(data)} bytes>")
    session = state.uploads.get(upload_id)
    if session is None:
        raise GoogleApiError("NOT_FOUND", f"Upload session {upload_id} was not found.")
    command = request.headers.get("x-goog-upload-command", "")
    commands = {part.strip() for part in command.split(",")}
    received: bytearray = session["data"]
    if "upload" in commands:
        offset = _size(request.headers.get("x-goog-upload-offset"))
        if offset != len(received):
            raise invalid_argument(
                f"Invalid X-Goog-Upload-Offset {offset}: the server has {len(received)} bytes."
            )
        received.extend(data)
    elif commands - {"finalize", "query"}:
        raise invalid_argument(f"Unsupported X-Goog-Upload-Command {command!r}.")
    progress = {"X-Goog-Upload-Size-Received": str(len(received))}
    if "finalize" not in commands:
        return Response(b"", headers={"X-Goog-Upload-Status": "active", **progress})
    del state.uploads[upload_id]
    if session["size"] is not None and session["size"] != len(received):
        raise invalid_argument(
            f"The upload declared {session['size']} bytes but {len(received)} were sent."
        )
    stored = _store(state, request, session["file"], bytes(received))
    return _json({"file": stored}, headers={"X-Goog-Upload-Status": "final", **progress})


async def _upload_multipart(request: Request, state: EmulatorState) -> Response:
    raw = await request.body()
    metadata_bytes, data, media_type = _split_multipart(
        request.headers.get("content-type", ""), raw
    )
    try:
        body = camel_case(orjson.loads(metadata_bytes)) if metadata_bytes.strip() else {}
    except orjson.JSONDecodeError as error:
        raise invalid_argument("Invalid JSON payload received in the metadata part.") from error
    record(request, body)
    draft = _draft(state, _file_metadata(state, body), media_type)
    return _json({"file": _store(state, request, draft, data)})


def _file_metadata(state: EmulatorState, body: Any) -> dict[str, Any]:
    """The `file` object of a CreateFileRequest body, checked as Google checks it."""
    if state.settings.strict_schema:
        check_request("CreateFileRequest", body)
    metadata = body.get("file") if isinstance(body, dict) else None
    if not isinstance(metadata or {}, dict):
        raise invalid_argument('Invalid JSON payload received. Expected {"file": {...}}.')
    return metadata or {}


def _split_multipart(content_type: str, raw: bytes) -> tuple[bytes, bytes, str | None]:
    """(metadata JSON, media bytes, media Content-Type) of a multipart/related body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/") or match is None:
        raise invalid_argument("A multipart upload needs a multipart/related body with a boundary.")
    delimiter = b"--" + match.group(1).encode()
    parts = [chunk for chunk in raw.split(delimiter)[1:] if not chunk.startswith(b"--")]
    if len(parts) != 2:
        raise invalid_argument("A multipart upload has exactly two parts: metadata and media.")
    (_, metadata), (media_headers, media) = (_part(parts[0]), _part(parts[1]))
    type_line = re.search(rb"(?im)^content-type:\s*([^\r\n;]+)", media_headers)
    return metadata, media, type_line.group(1).decode().strip() if type_line else None


def _part(chunk: bytes) -> tuple[bytes, bytes]:
    headers, _, body = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
    return headers, body.removesuffix(b"\r\n")


def _draft(state: EmulatorState, metadata: dict[str, Any], mime_type: str | None) -> dict[str, Any]:
    """The File resource as the client described it, before any byte arrives."""
    file_id = str(metadata.get("name") or secrets.token_hex(6)).removeprefix("files/")
    name = f"files/{file_id}"
    if not _FILE_ID.match(file_id):
        raise invalid_argument(f"Invalid file name {name!r}.", field="file.name")
    pending = (session["file"]["name"] for session in state.uploads.values())
    if find_file(state, name) is not None or name in pending:
        raise GoogleApiError("ALREADY_EXISTS", f"File {name} already exists.")
    draft: dict[str, Any] = {
        "name": name,
        "mimeType": mime_type or metadata.get("mimeType") or "application/octet-stream",
    }
    if metadata.get("displayName"):
        draft["displayName"] = metadata["displayName"]
    return draft


def _store(
    state: EmulatorState, request: Request, draft: dict[str, Any], data: bytes
) -> dict[str, Any]:
    """Complete the File resource, keep it with its bytes until it expires, and return it."""
    now = state.clock()
    expires_at = now + state.settings.file_ttl_seconds
    resource = {
        **draft,
        "sizeBytes": str(len(data)),
        "createTime": rfc3339(now),
        "updateTime": rfc3339(now),
        "expirationTime": rfc3339(expires_at),
        "sha256Hash": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "uri": f"{_base_url(request)}/v1beta/{draft['name']}",
        "state": "ACTIVE",
        "source": "UPLOADED",
    }
    state.files[draft["name"]] = {"file": resource, "data": data, "expires_at": expires_at}
    return resource


async def _authorized_entry(request: Request) -> dict[str, Any]:
    _check_version(request)
    state = state_of(request)
    require_api_key(request, state)
    record(request, None)
    name = "files/" + request.path_params["file_id"]
    entry = find_file(state, name)
    if entry is None:
        raise missing_file_error(name)
    return entry


def _check_version(request: Request) -> None:
    if request.path_params["version"] not in DEV_VERSIONS:
        raise GoogleApiError("NOT_FOUND", f"The requested URL {request.url.path} was not found.")


def _size(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return int(value)
    raise invalid_argument(f"Invalid byte count {value!r}.")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(body: object, *, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), headers=headers, media_type="application/json; charset=UTF-8"
    )


ROUTES: list[BaseRoute] = [
    Route("/upload/{version}/files", upload, methods=["POST"]),
    Route("/{version}/files", list_files, methods=["GET"]),
    Route("/{version}/files/{file_id}:download", download_file, methods=["GET"]),
    Route("/{version}/files/{file_id}", get_file, methods=["GET"]),
    Route("/{version}/files/{file_id}", delete_file, methods=["DELETE"]),
]
