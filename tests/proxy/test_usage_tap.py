"""UsageTap: the last usage and model version of relayed answers, in every framing and split."""

from __future__ import annotations

import gzip
import random
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest

from gemgate.proxy.usage_tap import USAGE_LIMIT, UsageTap
from gemgate.translate.usage import Usage


def _answer(prompt: int, answer: int, text: str = "Hel", **extra: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": answer,
            "totalTokenCount": prompt + answer,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-1",
        **extra,
    }


ANSWERS = [_answer(5, 1), _answer(5, 2, "lo"), _answer(5, 7, " world")]
LAST = Usage(prompt_tokens=5, completion_tokens=7)


def _sse(answers: Iterable[dict[str, Any]], line_end: bytes) -> bytes:
    return b"".join(b"data: " + orjson.dumps(a) + line_end + line_end for a in answers)


def _pretty(answer: dict[str, Any]) -> bytes:
    return orjson.dumps(answer, option=orjson.OPT_INDENT_2)


# Every framing Google uses: `alt=sse` (CRLF, as Google sends, and LF), the JSON-array stream
# (compact as the emulator writes it, pretty-printed as Google does) and a plain JSON answer.
FRAMINGS = {
    "sse-crlf": ("text/event-stream", _sse(ANSWERS, b"\r\n")),
    "sse-lf": ("text/event-stream", _sse(ANSWERS, b"\n")),
    "array": ("application/json", b"[" + b"\r\n,".join(orjson.dumps(a) for a in ANSWERS) + b"]"),
    "array-pretty": (
        "application/json; charset=UTF-8",
        b"[" + b"\n,\r\n".join(_pretty(a) for a in ANSWERS) + b"\n]",
    ),
    "json": ("application/json", _pretty(ANSWERS[-1])),
}


def _read(body: bytes | Iterable[bytes], content_type: str = "application/json") -> UsageTap:
    tap = UsageTap.for_response(content_type)
    for chunk in [body] if isinstance(body, bytes) else body:
        tap.feed(chunk)
    return tap


@pytest.mark.parametrize(("content_type", "body"), FRAMINGS.values(), ids=FRAMINGS.keys())
def test_last_usage_and_model_version_are_read_in_every_framing(
    content_type: str, body: bytes
) -> None:
    tap = _read(body, content_type)

    assert (tap.usage(), tap.model_version()) == (LAST, "gemini-2.5-flash")


@pytest.mark.parametrize(("content_type", "body"), FRAMINGS.values(), ids=FRAMINGS.keys())
def test_a_split_at_any_byte_changes_nothing(content_type: str, body: bytes) -> None:
    wrong = [
        cut
        for cut in range(len(body) + 1)
        if _read([body[:cut], body[cut:]], content_type).usage() != LAST
    ]

    assert wrong == []


@pytest.mark.parametrize(("content_type", "body"), FRAMINGS.values(), ids=FRAMINGS.keys())
def test_a_body_fed_byte_by_byte_is_read(content_type: str, body: bytes) -> None:
    tap = _read((body[index : index + 1] for index in range(len(body))), content_type)

    assert (tap.usage(), tap.model_version()) == (LAST, "gemini-2.5-flash")


def test_a_stream_cut_inside_its_last_usage_keeps_the_one_before() -> None:
    body = _sse(ANSWERS, b"\r\n")
    cut = body.rindex(b'"candidatesTokenCount"')

    tap = _read(body[:cut])

    assert tap.usage() == Usage(prompt_tokens=5, completion_tokens=2)


def test_model_version_loses_its_models_prefix() -> None:
    tap = _read(orjson.dumps({**ANSWERS[0], "modelVersion": "models/gemini-2.0-flash-001"}))

    assert tap.model_version() == "gemini-2.0-flash-001"


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}',
        b'[{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}]',
        b"",
        orjson.dumps({"candidates": [], "note": ["usageMetadata", "modelVersion"]}),
        orjson.dumps({"candidates": [], "usageMetadata": 12, "modelVersion": 7}),
        orjson.dumps({"text": '"usageMetadata": {"promptTokenCount": 999}, "modelVersion": "x"'}),
        orjson.dumps({"xusageMetadata": {"promptTokenCount": 999}}),
    ],
    ids=[
        "error",
        "array-error",
        "empty",
        "names-as-values",
        "not-objects",
        "in-text",
        "longer-key",
    ],
)
def test_answers_without_usage_read_none(body: bytes) -> None:
    tap = _read(body)

    assert (tap.usage(), tap.model_version()) == (None, None)


def test_usage_written_inside_a_text_part_is_not_taken_for_the_real_one() -> None:
    fake = '"usageMetadata": {"promptTokenCount": 999, "candidatesTokenCount": 999}'

    tap = _read(orjson.dumps(_answer(5, 7, text=fake)))

    assert tap.usage() == LAST


def test_a_usage_key_in_function_call_arguments_is_followed_by_the_real_one() -> None:
    answer = _answer(5, 7)
    call = {"functionCall": {"name": "report", "args": {"usageMetadata": {"promptTokenCount": 9}}}}
    answer["candidates"][0]["content"]["parts"] = [call]

    tap = _read(orjson.dumps(answer))

    assert tap.usage() == LAST


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_answers_are_read(encoding: str) -> None:
    plain = _sse(ANSWERS, b"\r\n")
    body = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain)
    tap = UsageTap.for_response("text/event-stream", encoding)

    for index in range(0, len(body), 7):
        tap.feed(body[index : index + 7])

    assert tap.usage() == LAST


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [("application/json", "br"), ("text/html", None), ("application/octet-stream", "identity")],
)
def test_bodies_it_cannot_read_are_left_alone(content_type: str, encoding: str | None) -> None:
    tap = UsageTap.for_response(content_type, encoding)
    tap.feed(_sse(ANSWERS, b"\r\n"))

    assert (tap.is_reading, tap.usage()) == (False, None)


def test_a_broken_compressed_body_stops_the_reading_without_raising() -> None:
    tap = UsageTap.for_response("application/json", "gzip")

    tap.feed(b"\x1f\x8b\x08\x00 not really gzip" * 10)

    assert (tap.is_reading, tap.usage()) == (False, None)


def _peak_bytes_while_reading(chunks: Iterator[bytes]) -> tuple[int, UsageTap]:
    tap = UsageTap.for_response("application/json")
    tracemalloc.start()
    try:
        for chunk in chunks:
            tap.feed(chunk)
        return tracemalloc.get_traced_memory()[1], tap
    finally:
        tracemalloc.stop()


def _huge_answer(chunk_size: int, chunks: int) -> Iterator[bytes]:
    """A 32 MiB inline image answer, made chunk by chunk, its usage at the end."""
    head, tail = orjson.dumps(_answer(5, 7, text="DATA")).split(b"DATA")
    yield head
    for _ in range(chunks):
        yield b"A" * chunk_size
    yield tail


def test_a_huge_answer_is_read_in_bounded_memory() -> None:
    peak, tap = _peak_bytes_while_reading(_huge_answer(64 * 1024, 512))

    assert tap.usage() == LAST
    # A chunk and its copy are alive at once; nothing grows with the body's 32 MiB.
    assert peak < 512 * 1024


def test_a_usage_value_that_never_ends_is_dropped_past_the_limit() -> None:
    def endless() -> Iterator[bytes]:
        yield orjson.dumps(ANSWERS[0])[:-1] + b',"usageMetadata": {'
        for _ in range(2000):
            yield b'"promptTokenCount": 1, ' * 40

    peak, tap = _peak_bytes_while_reading(endless())

    assert peak < 4 * USAGE_LIMIT
    assert tap.usage() == Usage(prompt_tokens=5, completion_tokens=1)


GARBAGE = [
    b'{"usageMetadata": {"promptTokensDetails": 5, "promptTokenCount": 3}}',
    b'{"usageMetadata": {"promptTokenCount": "many", "thoughtsTokenCount": -4}}',
    b'{"usageMetadata": {"a": {"b": {"c": {"d": 1}}}}, "modelVersion": ""}',
    b'{"usageMetadata": {"promptTokenCount": 1\xff\xfe}, "modelVersion": "\xff"}',
    b'{"usageMetadata": {"x": "\\', b'data: {"usageMetadata"::{}}\r\n\r\n', b"\x00" * 100,
]  # fmt: skip


@pytest.mark.parametrize("body", GARBAGE)
def test_malformed_usage_never_raises(body: bytes) -> None:
    tap = _read(body)

    assert isinstance(tap.usage(), Usage | None)
    assert isinstance(tap.model_version(), str | None)


def test_random_bytes_in_random_pieces_never_raise() -> None:
    rng = random.Random(20250819)
    alphabet = b'{}[]":,\\ \r\nusageMetadatmodelVrsion0123456789'
    for _ in range(300):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        body = body.replace(b"usag", b'"usageMetadata"').replace(b"mode", b'"modelVersion"')
        cuts = sorted(rng.sample(range(len(body) + 1), min(4, len(body) + 1)))
        tap = _read(body[start:end] for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True))  # fmt: skip

        assert isinstance(tap.usage(), Usage | None)
        assert isinstance(tap.model_version(), str | None)
