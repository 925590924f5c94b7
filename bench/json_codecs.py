"""Encode and decode a typical streamed GenerateContentResponse chunk with each JSON library.

Run: python -m bench.json_codecs   (needs the `bench` extra for msgspec)
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

CHUNK: dict[str, Any] = {
    "candidates": [{
        "content": {"parts": [{"text": "The lighthouse keeper watched the sea " * 4}], "role": "model"},
        "finishReason": "STOP", "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}] * 4,
    }],
    "usageMetadata": {"promptTokenCount": 41, "candidatesTokenCount": 17, "totalTokenCount": 178,
                      "thoughtsTokenCount": 120, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 41}]},
    "modelVersion": "gemini-2.5-flash", "responseId": "mD0hafK-abcdef",
}  # fmt: skip


def codecs() -> dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]]:
    found: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
        "json": (lambda value: json.dumps(value).encode(), json.loads),
        "orjson": (orjson.dumps, orjson.loads),
    }
    try:
        import msgspec
    except ImportError:
        return found
    found["msgspec"] = (msgspec.json.encode, msgspec.json.decode)
    return found


def main() -> None:
    number = 20_000
    encoded = orjson.dumps(CHUNK)
    print(f"{'codec':8} {'encode µs':>10} {'decode µs':>10}")
    for name, (encode, decode) in codecs().items():
        encode_time = min(timeit.repeat(partial(encode, CHUNK), number=number, repeat=3)) / number
        decode_time = min(timeit.repeat(partial(decode, encoded), number=number, repeat=3)) / number
        print(f"{name:8} {encode_time * 1e6:10.2f} {decode_time * 1e6:10.2f}")


if __name__ == "__main__":
    main()
