"""Server-Sent Events framing (bytes <-> events) and Google's JSON-array stream framing; pure."""

from __future__ import annotations

from collections.abc import Iterator

# Google ends every SSE line with CRLF; SDKs accept LF, CR and CRLF alike.
GOOGLE_EVENT_END = b"\r\n\r\n"


def encode_event(data: bytes, *, line_end: bytes = b"\r\n") -> bytes:
    """Frame one SSE event whose payload is ``data`` (one ``data:`` line per payload line)."""
    lines = data.split(b"\n")
    return b"".join(b"data: " + line + line_end for line in lines) + line_end


def encode_array_element(data: bytes, *, is_first: bool) -> bytes:
    """Frame one element of a JSON array that is streamed element by element."""
    return (b"[" if is_first else b"\r\n,") + data


def close_array(*, is_empty: bool) -> bytes:
    """Bytes that end a streamed JSON array."""
    return b"[]" if is_empty else b"]"


class SSEDecoder:
    """Incremental SSE decoder: feed bytes, get the ``data`` payload of each complete event."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """Yield the payload of every event completed by ``chunk``."""
        self._buffer += chunk
        while True:
            line, separator = self._next_line()
            if separator is None:
                return
            event = self._take_line(line)
            if event is not None:
                yield event

    def flush(self) -> Iterator[bytes]:
        """Yield a last event left open when the stream ended without a blank line."""
        if self._buffer:
            event = self._take_line(self._buffer)
            self._buffer = b""
            if event is not None:
                yield event
        if self._data:
            yield b"\n".join(self._data)
            self._data = []

    def _next_line(self) -> tuple[bytes, bytes | None]:
        for index, byte in enumerate(self._buffer):
            if byte == 0x0A or byte == 0x0D:
                if byte == 0x0D and index + 1 == len(self._buffer):
                    return b"", None  # a CR at the end may be the first half of CRLF
                width = 2 if self._buffer[index : index + 2] == b"\r\n" else 1
                line = self._buffer[:index]
                self._buffer = self._buffer[index + width :]
                return line, b"\n"
        return b"", None

    def _take_line(self, line: bytes) -> bytes | None:
        if not line:
            if not self._data:
                return None
            event = b"\n".join(self._data)
            self._data = []
            return event
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        # Other fields (event:, id:, retry:) and comments carry nothing Gemini uses.
        return None
