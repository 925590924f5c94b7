"""Generated media for image and audio replies: a small PNG and 24 kHz 16-bit PCM speech stand-in."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import zlib

PCM_MIME = "audio/L16;codec=pcm;rate=24000"
LIVE_PCM_MIME = "audio/pcm;rate=24000"
SAMPLE_RATE = 24_000


def png_image(seed: str, *, size: int = 16) -> str:
    """A ``size``x``size`` PNG in one colour derived from ``seed``, base64-encoded."""
    red, green, blue = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * size
    raw = row * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
    return base64.b64encode(png + _chunk(b"IEND", b"")).decode()


def pcm_speech(text: str) -> str:
    """Mono 16-bit little-endian PCM at 24 kHz, 60 ms per character (at most 3 s), base64."""
    seconds = min(3.0, max(0.2, 0.06 * len(text)))
    count = int(SAMPLE_RATE * seconds)
    pitch = 180 + (sum(text.encode()) % 120)
    samples = (
        int(8000 * math.sin(2 * math.pi * pitch * index / SAMPLE_RATE)) for index in range(count)
    )
    return base64.b64encode(struct.pack(f"<{count}h", *samples)).decode()


def pcm_seconds(data_base64: str) -> float:
    """Duration of base64 PCM at 24 kHz, 16-bit mono."""
    return len(base64.b64decode(data_base64)) / (2 * SAMPLE_RATE)


def _chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)
