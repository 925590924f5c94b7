"""The stream client of bench/proxy_load.py: HTTP/1.1 framing, percentiles, and the time it takes
from its write to an answer's first body byte, against raw servers on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from bench.proxy_load_ttfb_client import (
    Answer,
    Head,
    Plan,
    ProbeFailed,
    Tally,
    build_request,
    chunk_size,
    exchange,
    measure,
    parse_head,
    percentile,
    probe,
)

GAP_SECONDS = 0.2
CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
# What a raw server writes: the head and the first piece at once, each further piece GAP_SECONDS
# after the one before.
Script = list[bytes]
CHUNKED_WITH_TRAILER: Script = [
    CHUNKED_HEAD,
    b"6;note=first\r\ndata: \r\n",
    b"2\r\nhi\r\n0\r\nX-Trailer: yes\r\n\r\n",
]


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[str]:
    """A server that answers every request on a connection with `script` (and then hangs up if
    its head says so); yields its URL."""
    is_closing = bool(script) and parse_head(script[0].partition(b"\r\n\r\n")[0]).is_closing

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_head := await reader.readuntil(b"\r\n\r\n"):
                await reader.readexactly(_content_length(request_head))
                for index, piece in enumerate(script):
                    if index > 1:
                        await asyncio.sleep(GAP_SECONDS)
                    writer.write(piece)
                if is_closing:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1beta/models/m:streamGenerateContent?alt=sse"
    finally:
        server.close()
        await server.wait_closed()


def _content_length(request_head: bytes) -> int:
    for line in request_head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            return int(value)
    return 0


async def _one_answer(script: Script) -> Answer:
    async with raw_server(script) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(url).port)
        try:
            return await exchange(reader, writer, build_request(url, b"{}", []))
        finally:
            writer.close()


def _plan(url: str, is_good: Callable[[bytes], bool], connections: int = 2) -> Plan:
    return Plan(url, build_request(url, b"{}", []), is_good, connections, seconds=0.5)


# --- pure parts ----------------------------------------------------------------------------


def test_the_head_gives_the_status_and_lower_cased_headers() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Thing:  a b \r\n\r\n")
    assert head == Head(200, {"content-length": "12", "x-thing": "a b"})
    assert head.content_length == 12 and not head.is_chunked and not head.is_closing


@pytest.mark.parametrize(
    ("head", "is_closing"),
    [
        (b"HTTP/1.0 200 OK\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\n\r\n", False),
    ],
)
def test_a_connection_is_closed_after_an_answer_that_says_so(head: bytes, is_closing: bool) -> None:  # fmt: skip
    assert parse_head(head).is_closing is is_closing


def test_a_chunked_answer_has_no_content_length_whatever_it_claims() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n")
    assert head.is_chunked and head.content_length is None


@pytest.mark.parametrize(
    "head",
    [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n"],
)
def test_a_garbled_head_is_a_value_error(head: bytes) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_head(head)


@pytest.mark.parametrize(
    ("line", "size"), [(b"1a\r\n", 26), (b"5;name=value\r\n", 5), (b"0\r\n", 0)]
)
def test_the_chunk_size_is_hexadecimal_before_any_extension(line: bytes, size: int) -> None:
    assert chunk_size(line) == size


def test_a_garbled_chunk_size_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        chunk_size(b"data: {}\r\n")


@pytest.mark.parametrize(
    ("samples", "percent", "expected"),
    [
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 11)), 99, 10),
        ([7.5], 50, 7.5),
        ([], 50, None),
    ],
)
def test_percentiles_are_nearest_rank(samples: list[float], percent: float, expected: float | None) -> None:  # fmt: skip
    assert percentile(samples, percent) == expected


def test_the_request_carries_its_target_length_and_headers() -> None:
    request = build_request("http://127.0.0.1:8/a:b?alt=sse", b'{"x":1}', [("x-goog-api-key", "k")])
    assert request == (
        b"POST /a:b?alt=sse HTTP/1.1\r\nHost: 127.0.0.1:8\r\nContent-Type: application/json\r\n"
        b'Content-Length: 7\r\nx-goog-api-key: k\r\n\r\n{"x":1}'
    )


@pytest.mark.parametrize(
    ("status", "is_good", "body", "counted"),
    [
        (200, True, b"data: x", (1, 0, 0)),
        (500, True, b"data: x", (0, 1, 0)),
        (200, False, b"data: x", (0, 0, 1)),
        (200, True, b"", (0, 0, 1)),
    ],
)
def test_only_good_answers_give_a_time_to_first_byte(
    status: int, is_good: bool, body: bytes, counted: tuple[int, int, int]
) -> None:
    tally = Tally()
    tally.count(Answer(Head(status, {}), body, 0.001 if body else None), is_good=is_good)
    assert (len(tally.ttfb_seconds), tally.non_200, tally.bad_answers) == counted


def test_the_figures_are_percentiles_in_microseconds() -> None:
    tally = Tally(ttfb_seconds=[0.003, 0.001, 0.002], socket_errors=1)
    assert tally.figures(2.0) == {
        "streams": 3, "seconds": 2.0, "p50_us": 2000.0, "p99_us": 3000.0, "max_us": 3000.0,
        "non_200": 0, "bad_answers": 0, "socket_errors": 1,
    }  # fmt: skip


# --- on a socket ---------------------------------------------------------------------------


async def test_the_first_byte_is_timed_when_the_first_chunk_comes_not_the_last() -> None:
    started = time.perf_counter()
    answer = await _one_answer(CHUNKED_WITH_TRAILER)
    assert answer.ttfb_seconds is not None and answer.ttfb_seconds < GAP_SECONDS / 2
    assert time.perf_counter() - started >= GAP_SECONDS  # the whole answer was read


async def test_a_chunked_body_is_joined_past_extensions_and_trailers() -> None:
    answer = await _one_answer(CHUNKED_WITH_TRAILER)
    assert answer.head.status == 200 and answer.body == b"data: hi"


async def test_a_sized_body_is_timed_to_its_first_byte() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    answer = await _one_answer([head, b"data:", b" late"])
    assert answer.body == b"data: late"
    assert answer.ttfb_seconds is not None and answer.ttfb_seconds < GAP_SECONDS / 2


async def test_a_body_that_ends_with_the_connection_is_read_to_its_end() -> None:
    answer = await _one_answer([b"HTTP/1.0 200 OK\r\n\r\n", b"data: a", b"data: b"])
    assert answer.body == b"data: adata: b" and answer.head.is_closing


async def test_an_empty_body_has_no_first_byte() -> None:
    answer = await _one_answer([b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"])
    assert answer.ttfb_seconds is None and answer.body == b""


async def test_the_probe_fails_on_an_error_status() -> None:
    async with raw_server([b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"]) as url:
        with pytest.raises(ProbeFailed, match="HTTP 403"):
            await probe(_plan(url, lambda body: True))


async def test_the_probe_fails_on_an_unexpected_body() -> None:
    async with raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope"]) as url:
        with pytest.raises(ProbeFailed, match="unexpected body"):
            await probe(_plan(url, lambda body: body.startswith(b"data: ")))


async def test_the_probe_fails_when_nothing_listens() -> None:
    async with raw_server([]) as url:
        pass  # closed again: its port refuses connections now
    with pytest.raises(ProbeFailed, match="probe request failed"):
        await probe(_plan(url, lambda body: True))


async def test_every_connection_times_streams_until_the_window_closes() -> None:
    script = [CHUNKED_HEAD, b"7\r\ndata: a\r\n", b"0\r\n\r\n"]
    async with raw_server(script) as url:
        figures = await measure(_plan(url, lambda body: body == b"data: a", connections=3))
    # Each stream lasts one gap, so 3 of them begin in the 0.5 s window on each of 3 connections.
    streams, p50_us = figures["streams"], figures["p50_us"]
    assert isinstance(streams, int) and 6 <= streams <= 9
    assert p50_us is not None and p50_us < GAP_SECONDS / 2 * 1e6
    assert (figures["non_200"], figures["bad_answers"], figures["socket_errors"]) == (0, 0, 0)
