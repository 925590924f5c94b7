"""SSE framing: what Google sends and every line ending SDKs accept."""

from __future__ import annotations

import pytest

from gemgate.sse import SSEDecoder, close_array, encode_array_element, encode_event


def test_encode_event_uses_crlf_like_google() -> None:
    assert encode_event(b'{"a":1}') == b'data: {"a":1}\r\n\r\n'


@pytest.mark.parametrize("separator", [b"\r\n", b"\n", b"\r"])
def test_decoder_accepts_every_line_ending(separator: bytes) -> None:
    decoder = SSEDecoder()
    stream = b"data: one" + separator * 2 + b"data:two" + separator * 2
    assert [*decoder.feed(stream), *decoder.flush()] == [b"one", b"two"]


def test_decoder_reassembles_events_split_across_chunks() -> None:
    decoder = SSEDecoder()
    stream = encode_event(b'{"x":"hello"}') + encode_event(b'{"y":2}')
    events = [event for index in range(len(stream)) for event in decoder.feed(stream[index : index + 1])]  # fmt: skip
    assert events == [b'{"x":"hello"}', b'{"y":2}']


def test_decoder_joins_multiline_data_and_ignores_other_fields() -> None:
    stream = b": comment\nevent: message\nid: 7\ndata: a\ndata: b\n\n"
    assert list(SSEDecoder().feed(stream)) == [b"a\nb"]


def test_flush_returns_an_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert list(decoder.feed(b"data: tail")) == []
    assert list(decoder.flush()) == [b"tail"]


def test_json_array_framing_round_trips() -> None:
    body = encode_array_element(b"{}", is_first=True) + encode_array_element(b"[]", is_first=False) + close_array(is_empty=False)  # fmt: skip
    assert body == b"[{}\r\n,[]]"
    assert close_array(is_empty=True) == b"[]"
