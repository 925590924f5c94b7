"""The emulator's Files API, driven by the google-genai SDK and by raw HTTP on a loopback port."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors, types
from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, create_emulator_app
from tests.clock import FakeClock

START = 1_790_000_000.0
START_HEADERS = {
    "x-goog-api-key": "test-key",
    "X-Goog-Upload-Protocol": "resumable",
    "X-Goog-Upload-Command": "start",
    "X-Goog-Upload-Header-Content-Length": "5",
    "X-Goog-Upload-Header-Content-Type": "text/plain",
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emulator_app(emulator_settings: EmulatorSettings, clock: FakeClock) -> Starlette:
    return create_emulator_app(emulator_settings, clock=clock)


@pytest.fixture
def client(emulator_url: str) -> genai.Client:
    return genai.Client(api_key="test-key", http_options={"base_url": emulator_url})


def upload_text(client: genai.Client, text: bytes = b"hello", **config: str) -> types.File:
    settings = types.UploadFileConfig.model_validate({"mime_type": "text/plain", **config})
    return client.files.upload(file=io.BytesIO(text), config=settings)


def start_session(http: httpx.Client, size: int = 5) -> str:
    headers = {**START_HEADERS, "X-Goog-Upload-Header-Content-Length": str(size)}
    started = http.post("/upload/v1beta/files", headers=headers, json={"file": {}})
    assert started.status_code == 200
    return started.headers["x-goog-upload-url"]


def test_upload_from_a_path_returns_an_active_file_with_hash_and_size(
    client: genai.Client, tmp_path: Path, emulator_url: str
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world")

    uploaded = client.files.upload(file=path)

    assert uploaded.name is not None and uploaded.name.startswith("files/")
    assert uploaded.size_bytes == 11
    assert uploaded.mime_type == "text/plain"
    assert uploaded.state == types.FileState.ACTIVE
    assert (
        uploaded.sha256_hash == base64.b64encode(hashlib.sha256(b"hello world").digest()).decode()
    )
    assert uploaded.uri == f"{emulator_url}/v1beta/{uploaded.name}"


def test_upload_from_a_stream_keeps_display_name_and_mime_type(client: genai.Client) -> None:
    uploaded = client.files.upload(
        file=io.BytesIO(b"\x89PNG fake"), config={"mime_type": "image/png", "display_name": "pic"}
    )

    assert uploaded.display_name == "pic"
    assert uploaded.mime_type == "image/png"
    assert uploaded.size_bytes == 9


def test_upload_times_follow_the_clock_and_file_ttl(
    client: genai.Client, emulator_settings: EmulatorSettings
) -> None:
    uploaded = upload_text(client)

    assert uploaded.create_time is not None and uploaded.expiration_time is not None
    assert uploaded.create_time.timestamp() == START
    lifetime = uploaded.expiration_time - uploaded.create_time
    assert lifetime.total_seconds() == emulator_settings.file_ttl_seconds


def test_upload_larger_than_one_chunk_arrives_intact(client: genai.Client) -> None:
    data = bytes(range(256)) * (9 * 4096)  # 9 MiB: the SDK sends two 8 MiB-bounded chunks

    uploaded = upload_text(client, data)

    assert uploaded.size_bytes == len(data)
    assert uploaded.sha256_hash == base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_upload_and_get_work_on_every_developer_api_version(
    emulator_url: str, version: str
) -> None:
    client = genai.Client(
        api_key="test-key", http_options={"base_url": emulator_url, "api_version": version}
    )

    uploaded = upload_text(client)

    assert uploaded.name is not None
    assert client.files.get(name=uploaded.name).sha256_hash == uploaded.sha256_hash


def test_get_returns_the_uploaded_file(client: genai.Client) -> None:
    uploaded = upload_text(client, display_name="greeting")
    assert uploaded.name is not None

    fetched = client.files.get(name=uploaded.name)

    assert fetched.name == uploaded.name
    assert fetched.display_name == "greeting"
    assert fetched.size_bytes == 5


def test_list_pages_through_every_file(client: genai.Client) -> None:
    names = {upload_text(client).name for _ in range(3)}

    listed = {file.name for file in client.files.list(config={"page_size": 2})}

    assert listed == names


def test_list_page_carries_a_next_page_token(client: genai.Client, http: httpx.Client) -> None:
    for _ in range(3):
        upload_text(client)
    auth = {"x-goog-api-key": "test-key"}

    first = http.get("/v1beta/files", params={"pageSize": 2}, headers=auth).json()
    second = http.get(
        "/v1beta/files", params={"pageSize": 2, "pageToken": first["nextPageToken"]}, headers=auth
    ).json()

    assert len(first["files"]) == 2
    assert len(second["files"]) == 1
    assert "nextPageToken" not in second


def test_list_with_a_forged_page_token_is_rejected(http: httpx.Client) -> None:
    response = http.get(
        "/v1beta/files", params={"pageToken": "!!"}, headers={"x-goog-api-key": "test-key"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_delete_removes_the_file(client: genai.Client) -> None:
    uploaded = upload_text(client)
    assert uploaded.name is not None

    client.files.delete(name=uploaded.name)

    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name=uploaded.name)
    assert caught.value.code == 403


def test_download_returns_the_uploaded_bytes(client: genai.Client) -> None:
    uploaded = upload_text(client, b"some bytes")
    assert uploaded.name is not None

    assert client.files.download(file=uploaded.name) == b"some bytes"


def test_unknown_file_is_permission_denied_in_google_shape(http: httpx.Client) -> None:
    response = http.get("/v1beta/files/nosuchfile", headers={"x-goog-api-key": "test-key"})

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": 403,
            "message": "You do not have permission to access the File nosuchfile or it may "
            "not exist.",
            "status": "PERMISSION_DENIED",
        }
    }


def test_file_vanishes_once_expired(
    client: genai.Client, clock: FakeClock, emulator_settings: EmulatorSettings
) -> None:
    uploaded = upload_text(client)
    assert uploaded.name is not None

    clock.now += emulator_settings.file_ttl_seconds + 1

    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name=uploaded.name)
    assert caught.value.code == 403
    assert list(client.files.list()) == []


def test_upload_url_is_absolute_and_points_back_at_the_server(
    http: httpx.Client, emulator_url: str
) -> None:
    started = http.post("/upload/v1beta/files", headers=START_HEADERS, json={"file": {}})

    assert started.headers["x-goog-upload-status"] == "active"
    assert started.headers["x-goog-upload-url"].startswith(f"{emulator_url}/upload/v1beta/files?")


def test_chunks_accumulate_until_finalize(http: httpx.Client) -> None:
    url = start_session(http, size=5)

    first = http.post(url, content=b"hel", headers={"X-Goog-Upload-Command": "upload",
                                                    "X-Goog-Upload-Offset": "0"})  # fmt: skip
    last = http.post(url, content=b"lo", headers={"X-Goog-Upload-Command": "upload, finalize",
                                                  "X-Goog-Upload-Offset": "3"})  # fmt: skip

    assert first.headers["x-goog-upload-status"] == "active"
    assert last.headers["x-goog-upload-status"] == "final"
    assert last.json()["file"]["sizeBytes"] == "5"


def test_chunk_at_the_wrong_offset_is_rejected(http: httpx.Client) -> None:
    url = start_session(http)

    response = http.post(url, content=b"lo", headers={"X-Goog-Upload-Command": "upload",
                                                      "X-Goog-Upload-Offset": "3"})  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.headers["x-goog-upload-status"] == "final"


def test_finalize_with_fewer_bytes_than_declared_is_rejected(http: httpx.Client) -> None:
    url = start_session(http, size=5)

    response = http.post(url, content=b"hel", headers={"X-Goog-Upload-Command": "upload, finalize",
                                                       "X-Goog-Upload-Offset": "0"})  # fmt: skip

    assert response.status_code == 400


def test_chunk_for_an_unknown_session_is_not_found(http: httpx.Client) -> None:
    response = http.post(
        "/upload/v1beta/files",
        params={"upload_id": "nope", "upload_protocol": "resumable"},
        content=b"hello",
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
    )

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_unknown_field_in_file_metadata_is_rejected(http: httpx.Client) -> None:
    response = http.post(
        "/upload/v1beta/files", headers=START_HEADERS, json={"file": {"colour": "red"}}
    )

    assert response.status_code == 400
    assert 'Unknown name "colour"' in response.json()["error"]["message"]


def test_multipart_upload_stores_the_media(client: genai.Client, http: httpx.Client) -> None:
    body = (
        b"--b\r\nContent-Type: application/json\r\n\r\n"
        b'{"file": {"display_name": "mp"}}\r\n'
        b"--b\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2\r\n--b--\r\n"
    )
    response = http.post(
        "/upload/v1beta/files",
        content=body,
        headers={"x-goog-api-key": "test-key", "X-Goog-Upload-Protocol": "multipart",
                 "Content-Type": "multipart/related; boundary=b"},
    )  # fmt: skip

    stored = response.json()["file"]
    assert (stored["displayName"], stored["mimeType"], stored["sizeBytes"]) == (
        "mp",
        "text/csv",
        "8",
    )
    assert client.files.download(file=stored["name"]) == b"a,b\r\n1,2"


def test_upload_without_a_known_protocol_is_rejected(http: httpx.Client) -> None:
    headers = {**START_HEADERS, "X-Goog-Upload-Protocol": "carrier-pigeon"}

    response = http.post("/upload/v1beta/files", headers=headers, json={"file": {}})

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_upload_keeps_a_name_the_client_chose(client: genai.Client) -> None:
    assert upload_text(client, name="my-notes").name == "files/my-notes"


def test_upload_under_a_taken_name_conflicts(client: genai.Client) -> None:
    upload_text(client, name="my-notes")

    with pytest.raises(errors.ClientError) as caught:
        upload_text(client, name="my-notes")
    assert caught.value.code == 409


def test_upload_with_a_wrong_api_key_is_rejected(emulator_url: str) -> None:
    client = genai.Client(api_key="wrong-key", http_options={"base_url": emulator_url})

    with pytest.raises(errors.ClientError) as caught:
        upload_text(client)
    assert caught.value.code == 400
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_listing_without_an_api_key_is_denied(http: httpx.Client) -> None:
    response = http.get("/v1beta/files")

    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_unknown_api_version_is_not_found(http: httpx.Client) -> None:
    response = http.get("/v1beta1/files", headers={"x-goog-api-key": "test-key"})

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
