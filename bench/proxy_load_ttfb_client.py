"""The stream client of bench/proxy_load.py: N keep-alive HTTP/1.1 connections post one request
over and over, and time each answer from sending the request to its first body byte (TTFB).

It speaks HTTP/1.1 over bare asyncio streams so that its own cost per request is small and the same
whether it talks to the upstream or to a gateway. Prints one line, `TTFB_JSON {...}`:

    python -m bench.proxy_load_ttfb_client URL --body FILE --answer sse [--connections 32]
        [--seconds 10] [--warmup 3] [--spread 0.08] [--header "Name: value" ...]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import uvloop

from bench.proxy_load_scenarios import ANSWER_CHECKS

EXCHANGE_TIMEOUT_SECONDS = 30.0
# After a failed exchange: long enough that a refused connection does not spin the core.
ERROR_PAUSE_SECONDS = 0.05
READ_SIZE = 1 << 16
# What a broken or garbled answer raises while it is read.
_EXCHANGE_ERRORS = (
    OSError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
)


class ProbeFailed(Exception):
    """The first request did not get a good answer; nothing was measured."""


@dataclass(frozen=True, slots=True)
class Head:
    """A response's status line and headers (names lower-cased)."""

    status: int
    headers: dict[str, str]

    @property
    def is_chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and not self.is_chunked else None

    @property
    def is_closing(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


def parse_head(head: bytes) -> Head:
    """The status and headers of `head` (status line to the empty line); ValueError if garbled."""
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"not a header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    if version == "HTTP/1.0" and "keep-alive" not in headers.get("connection", "").lower():
        headers["connection"] = "close"
    return Head(int(rest[:3]), headers)


def chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (RFC 9112 §7.1), extensions ignored; ValueError if garbled."""
    return int(line.split(b";", 1)[0].strip(), 16)


def percentile(ordered: Sequence[float], percent: float) -> float | None:
    """The nearest-rank `percent` percentile of ascending `ordered`; None when it is empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def build_request(url: str, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    """The bytes of one POST of `body` to `url` with `headers`, on a keep-alive connection."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- one exchange --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    head: Head
    body: bytes
    ttfb_seconds: float | None  # None when the body was empty


async def _first_bytes(reader: asyncio.StreamReader, most: int) -> tuple[float, bytes]:
    """Whatever part of the next `most` bytes has come, as soon as any has, and when."""
    first = await reader.read(min(most, READ_SIZE))
    if not first:
        raise asyncio.IncompleteReadError(first, most)
    return time.perf_counter(), first


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, float | None]:
    parts, first_at = [], None
    while size := chunk_size(await reader.readuntil(b"\r\n")):
        if first_at is None:
            first_at, first = await _first_bytes(reader, size)
            parts.append(first)
            size -= len(first)
        parts.append((await reader.readexactly(size + 2))[:-2])
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailer fields, up to the empty line
    return b"".join(parts), first_at


async def _read_sized(reader: asyncio.StreamReader, length: int) -> tuple[bytes, float | None]:
    if not length:
        return b"", None
    first_at, first = await _first_bytes(reader, length)
    return first + await reader.readexactly(length - len(first)), first_at


async def _read_to_close(reader: asyncio.StreamReader) -> tuple[bytes, float | None]:
    first = await reader.read(READ_SIZE)
    if not first:
        return b"", None
    first_at = time.perf_counter()
    return first + await reader.read(), first_at


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> Answer:
    """Send `request`, read the whole answer; its TTFB runs from the write to the first body
    byte (chunk framing aside)."""
    sent_at = time.perf_counter()
    writer.write(request)
    head = parse_head(await reader.readuntil(b"\r\n\r\n"))
    if head.is_chunked:
        body, first_at = await _read_chunked(reader)
    elif head.content_length is not None:
        body, first_at = await _read_sized(reader, head.content_length)
    else:
        body, first_at = await _read_to_close(reader)
    return Answer(head, body, None if first_at is None else first_at - sent_at)


# --- many connections ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send, how to judge the answer, how many connections and for how long."""

    url: str
    request: bytes
    is_good: Callable[[bytes], bool]
    connections: int
    seconds: float
    warmup: float = 0.0
    # Connection i starts i/N of this later, so that requests do not reach the server in step.
    spread: float = 0.0


@dataclass(slots=True)
class Tally:
    """What the measured window saw; answers begun during the warm-up are not counted."""

    ttfb_seconds: list[float] = field(default_factory=list)
    non_200: int = 0
    bad_answers: int = 0
    socket_errors: int = 0

    def count(self, answer: Answer, *, is_good: bool) -> None:
        if answer.head.status != 200:
            self.non_200 += 1
        elif not is_good or answer.ttfb_seconds is None:
            self.bad_answers += 1
        else:
            self.ttfb_seconds.append(answer.ttfb_seconds)

    def figures(self, seconds: float) -> dict[str, float | int | None]:
        """The tally as the client prints it: TTFB percentiles in µs, counts of what went wrong."""
        ordered = sorted(self.ttfb_seconds)
        return {
            "streams": len(ordered),
            "seconds": seconds,
            "p50_us": _microseconds(percentile(ordered, 50)),
            "p99_us": _microseconds(percentile(ordered, 99)),
            "max_us": _microseconds(ordered[-1] if ordered else None),
            "non_200": self.non_200,
            "bad_answers": self.bad_answers,
            "socket_errors": self.socket_errors,
        }


def _microseconds(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e6, 1)


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(url: str) -> Streams:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


def _close(streams: Streams | None) -> None:
    if streams is not None:
        streams[1].close()


async def _connection(plan: Plan, index: int, window: tuple[float, float], tally: Tally) -> None:
    """One keep-alive connection sending `plan.request` until the window closes."""
    await asyncio.sleep(index * plan.spread / plan.connections)
    streams: Streams | None = None
    start, end = window
    while (began := time.perf_counter()) < end:
        try:
            async with asyncio.timeout(EXCHANGE_TIMEOUT_SECONDS):
                streams = streams or await _connect(plan.url)
                answer = await exchange(*streams, plan.request)
        except _EXCHANGE_ERRORS:
            if began >= start:
                tally.socket_errors += 1
            _close(streams)
            streams = None
            await asyncio.sleep(ERROR_PAUSE_SECONDS)
            continue
        if began >= start:
            tally.count(answer, is_good=plan.is_good(answer.body))
        if answer.head.is_closing:
            _close(streams)
            streams = None
    _close(streams)


async def probe(plan: Plan) -> None:
    """Send the request once on a connection of its own; ProbeFailed unless the answer is good."""
    streams = None
    try:
        async with asyncio.timeout(EXCHANGE_TIMEOUT_SECONDS):
            streams = await _connect(plan.url)
            answer = await exchange(*streams, plan.request)
    except _EXCHANGE_ERRORS as error:
        raise ProbeFailed(f"probe request failed: {error!r}") from error
    finally:
        _close(streams)
    if answer.head.status != 200:
        raise ProbeFailed(f"probe answered HTTP {answer.head.status}: {answer.body[:300]!r}")
    if not plan.is_good(answer.body) or answer.ttfb_seconds is None:
        raise ProbeFailed(f"probe answered an unexpected body: {answer.body[:300]!r}")


async def measure(plan: Plan) -> dict[str, float | int | None]:
    """Probe, then run every connection through the warm-up and the measured window."""
    await probe(plan)
    start = time.perf_counter() + plan.warmup
    window, tally = (start, start + plan.seconds), Tally()
    await asyncio.gather(*(_connection(plan, i, window, tally) for i in range(plan.connections)))
    return tally.figures(plan.seconds)


# --- command line --------------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"not a 'Name: value' header: {text!r}")
    return name.strip(), value.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.proxy_load_ttfb_client",
        description="Time the first body byte of answers on N keep-alive connections.",
    )
    parser.add_argument("url")
    parser.add_argument("--body", type=Path, required=True, help="file with the POST body")
    parser.add_argument("--answer", choices=sorted(ANSWER_CHECKS), required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds to stagger starts over")
    parser.add_argument("--header", type=_header, action="append", default=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print `TTFB_JSON {...}`; 1 (`TTFB_ERROR reason` on stderr) if the probe fails."""
    args = _parser().parse_args(argv)
    request = build_request(args.url, args.body.read_bytes(), args.header)
    plan = Plan(
        args.url, request, ANSWER_CHECKS[args.answer], args.connections, args.seconds,
        args.warmup, args.spread,
    )  # fmt: skip
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            figures = runner.run(measure(plan))
        except ProbeFailed as error:
            print(f"TTFB_ERROR {error}", file=sys.stderr)
            return 1
    print("TTFB_JSON " + orjson.dumps(figures).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
