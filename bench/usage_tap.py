"""Microseconds per relayed chunk spent reading usage: UsageTap against framing every event and
parsing it with orjson, for a typical `alt=sse` event, and per 64 KiB of a large JSON answer.

Run: python -m bench.usage_tap
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import orjson

from gemgate.proxy.usage_tap import UsageTap
from gemgate.sse import SSEDecoder

ANSWER: dict[str, Any] = {
    "candidates": [{"content": {"parts": [{"text": "The lighthouse keeper watched the sea. "}],
                                "role": "model"}, "index": 0}],
    "usageMetadata": {"promptTokenCount": 41, "candidatesTokenCount": 17, "totalTokenCount": 178,
                      "thoughtsTokenCount": 120,
                      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 41}]},
    "modelVersion": "gemini-2.5-flash", "responseId": "mD0hafK-abcdef",
}  # fmt: skip
EVENT = b"data: " + orjson.dumps(ANSWER) + b"\r\n\r\n"
BIG_PIECE = b"A" * (64 * 1024)
ROUNDS = 200_000


def _tap() -> Callable[[bytes], None]:
    return UsageTap.for_response("text/event-stream").feed


def _decode_every_event() -> Callable[[bytes], None]:
    decoder = SSEDecoder()

    def feed(chunk: bytes) -> None:
        for data in decoder.feed(chunk):
            orjson.loads(data).get("usageMetadata")

    return feed


def _microseconds(feed: Callable[[bytes], None], chunk: bytes, rounds: int) -> float:
    best = min(timeit.repeat(lambda: feed(chunk), number=rounds, repeat=5))
    return best / rounds * 1e6


def main() -> None:
    print(f"one alt=sse event of {len(EVENT)} bytes per chunk")
    print(f"  UsageTap.feed                     {_microseconds(_tap(), EVENT, ROUNDS):6.2f} µs")
    decode = _microseconds(_decode_every_event(), EVENT, ROUNDS // 10)
    print(f"  SSEDecoder + orjson.loads         {decode:6.2f} µs")
    print("a 64 KiB piece of a large JSON answer (inline image data)")
    big = _microseconds(_tap(), BIG_PIECE, 2000)
    print(f"  UsageTap.feed                     {big:6.2f} µs")


if __name__ == "__main__":
    main()
