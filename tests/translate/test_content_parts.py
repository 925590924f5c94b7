"""OpenAI content parts (text, images, audio, files) → Gemini Parts, checked as whole requests."""

from __future__ import annotations

from typing import Any

import pytest

from gemgate.errors import BadRequestError
from gemgate.translate.content_parts import (
    ASSISTANT_PARTS,
    USER_PARTS,
    content_to_parts,
    needs_fetch,
)
from gemgate.types.gemini import Blob, Part
from tests.translate.test_messages import assert_google_accepts

PNG = "iVBORw0KGgoAAAANSUhEUg=="
FETCHED_URL = "https://example.com/photo?id=7&sig=secret"
MEDIA: dict[str, Blob] = {
    FETCHED_URL: {"mimeType": "image/jpeg", "data": "/9j/4AAQ"},
    "https://example.com/report.pdf": {"mimeType": "application/pdf", "data": "JVBERi0x"},
}


def user_parts(*items: Any) -> list[Part]:
    parts = content_to_parts(list(items), where="messages[0]", allowed=USER_PARTS, media=MEDIA)
    if parts:
        assert_google_accepts([{"role": "user", "parts": parts}], None)
    return parts


def _image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def _file(**file: Any) -> dict[str, Any]:
    return {"type": "file", "file": file}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Hello", [{"text": "Hello"}]),
        ("", []),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": ""}], [{"text": "a"}]),
        ([], []),
    ],
)
def test_text_content_becomes_text_parts_without_empty_ones(
    content: Any, expected: list[Part]
) -> None:
    assert content_to_parts(content, where="m", allowed=USER_PARTS, media={}) == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            _image(f"data:image/png;base64,{PNG}"),
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
        ),
        (
            {"type": "image_url", "image_url": f"data:image/png;base64,{PNG}"},
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
        ),
        (
            _image(f"data:image/png;base64,{PNG[:8]}\n{PNG[8:]}"),
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
        ),
        (
            _image(f"data:application/octet-stream;base64,{PNG}", format="image/png"),
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
        ),
        (
            _image("data:,Hello%2C%20World"),
            {"inlineData": {"mimeType": "text/plain", "data": "SGVsbG8sIFdvcmxk"}},
        ),
        (
            _image("data:text/plain;charset=utf-8,hi"),
            {"inlineData": {"mimeType": "text/plain", "data": "aGk="}},
        ),
        (
            _image(FETCHED_URL, detail="high"),
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        ),
        (
            _image(FETCHED_URL, format="image/webp"),
            {"inlineData": {"mimeType": "image/webp", "data": "/9j/4AAQ"}},
        ),
        (
            _image("gs://bucket/cats/cat.JPG"),
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cats/cat.JPG"}},
        ),
        (
            _image("gs://bucket/scan", format="application/pdf"),
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/scan"}},
        ),
        (_image("gs://bucket/blob"), {"fileData": {"fileUri": "gs://bucket/blob"}}),
        (
            _image("https://generativelanguage.googleapis.com/v1beta/files/abc-123"),
            {
                "fileData": {
                    "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc-123"
                }
            },
        ),
        (
            _image("http://127.0.0.1:8000/v1beta/files/abc"),
            {"fileData": {"fileUri": "http://127.0.0.1:8000/v1beta/files/abc"}},
        ),
        (
            _image("https://www.youtube.com/watch?v=9hE5-98ZeCg"),
            {
                "fileData": {
                    "mimeType": "video/mp4",
                    "fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg",
                }
            },
        ),
    ],
)
def test_images_become_inline_data_or_file_references(item: dict[str, Any], expected: Part) -> None:
    assert user_parts(item) == [expected]


@pytest.mark.parametrize(
    ("audio_format", "mime_type"),
    [("wav", "audio/wav"), ("mp3", "audio/mp3"), ("MP3", "audio/mp3"), ("audio/ogg", "audio/ogg")],
)
def test_input_audio_becomes_inline_audio(audio_format: str, mime_type: str) -> None:
    item = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": audio_format}}
    assert user_parts(item) == [{"inlineData": {"mimeType": mime_type, "data": "UklGRg=="}}]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            _file(file_data="data:audio/mp3;base64,SUQz", filename="talk.mp3"),
            {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
        ),
        (
            _file(file_data="JVBERi0x", format="application/pdf"),
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        ),
        (
            _file(file_data="JVBERi0x", filename="report.pdf"),
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        ),
        (
            _file(file_id="gs://bucket/report.pdf"),
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report.pdf"}},
        ),
        (
            _file(file_id="gs://bucket/clip", format="video/mp4"),
            {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://bucket/clip"}},
        ),
        (
            _file(file_id="gs://bucket/notes", format="txt"),
            {"fileData": {"mimeType": "text/plain", "fileUri": "gs://bucket/notes"}},
        ),
        (
            _file(file_id="https://storage.example.com/doc", format="application/pdf"),
            {
                "fileData": {
                    "mimeType": "application/pdf",
                    "fileUri": "https://storage.example.com/doc",
                }
            },
        ),
        (
            _file(file_id="files/abc123"),
            {
                "fileData": {
                    "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"
                }
            },
        ),
        (
            _file(file_id="https://example.com/report.pdf"),
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        ),
    ],
)
def test_files_become_inline_data_or_file_references(item: dict[str, Any], expected: Part) -> None:
    assert user_parts(item) == [expected]


def test_parts_keep_their_order() -> None:
    parts = user_parts(
        {"type": "text", "text": "Compare"},
        _image(f"data:image/png;base64,{PNG}"),
        {"type": "text", "text": "with"},
        _file(file_id="gs://b/x.png"),
    )
    assert [next(iter(part)) for part in parts] == ["text", "inlineData", "text", "fileData"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/cat.png", True),
        ("http://example.com/cat.png", True),
        ("HTTPS://EXAMPLE.COM/x", True),
        ("https://generativelanguage.googleapis.com/v1beta/files/abc", False),
        ("http://localhost:9000/v1/files/abc", False),
        ("https://youtu.be/9hE5-98ZeCg", False),
        ("gs://bucket/cat.png", False),
        ("data:image/png;base64,AAAA", False),
        ("files/abc", False),
        ("http://[::1", False),
    ],
)
def test_only_plain_web_urls_need_fetching(url: str, expected: bool) -> None:
    assert needs_fetch(url) is expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("hello", r"messages\[0\]\.content\[0\] must be an object with a `type`"),
        ({"text": "no type"}, "content part type None"),
        ({"type": "text", "text": 5}, r"content\[0\]\.text must be a string"),
        ({"type": "image_url"}, "image_url must be an object with a `url` string"),
        ({"type": "image_url", "image_url": {"detail": "low"}}, "with a `url` string"),
        (
            _image("https://example.com/unfetched.png?token=secret"),
            r"https://example\.com/unfetched\.png was not fetched",
        ),
        (_image("ftp://example.com/cat.png"), "is not a gs://, https://"),
        (_image("cat.png"), "is not a gs://, https://"),
        (_image("data:image/png;base64"), "malformed data: URL"),
        (_image("data:image/png;base64,not base64!"), "not valid base64"),
        (_image("gs://b/x", format=5), "`format` must be a string"),
        (_image("gs://b/x", format="docx"), "unknown `format` 'docx'"),
        ({"type": "input_audio", "input_audio": "UklGRg=="}, "input_audio must be an object"),
        ({"type": "input_audio", "input_audio": {"data": "UklGRg=="}}, "needs `data`"),
        ({"type": "file", "file": "files/abc"}, r"file must be an object"),
        (_file(filename="x.pdf"), "needs a `file_data` data URL or a `file_id`"),
        (_file(file_data="JVBERi0x"), "bare base64; give a data: URL or a `format`"),
        (_file(file_id="file-abc123"), "'file-abc123' is not a gs://"),
    ],
)
def test_bad_content_parts_raise_bad_request(item: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        content_to_parts([item], where="messages[0]", allowed=USER_PARTS, media=MEDIA)


def test_error_for_an_unfetched_url_does_not_show_its_query() -> None:
    with pytest.raises(BadRequestError) as caught:
        user_parts(_image("https://example.com/a.png?X-Amz-Signature=secret"))
    assert "secret" not in caught.value.message


@pytest.mark.parametrize("kind", ["image_url", "input_audio", "file"])
def test_assistant_content_takes_only_text_and_refusals(kind: str) -> None:
    with pytest.raises(BadRequestError, match="expected one of: refusal, text"):
        content_to_parts([{"type": kind}], where="m", allowed=ASSISTANT_PARTS, media={})
