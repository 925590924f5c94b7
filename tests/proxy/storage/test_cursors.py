"""Page cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gemgate.proxy.storage.cursors import Cursor


def test_cursor_survives_encoding() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "req-1/ü")
    assert Cursor.decode(cursor.encode()) == cursor


def test_encoded_cursor_is_url_safe() -> None:
    encoded = Cursor(datetime(2026, 1, 1, tzinfo=UTC), "a?b&c=d+e/f").encode()
    assert all(character.isalnum() or character in "-_" for character in encoded)


@pytest.mark.parametrize(
    "text",
    ["", "!!!", "bm90IGpzb24", "WzEsMl0", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwiYSJd"],
)
def test_foreign_cursors_are_refused(text: str) -> None:
    # The last one is a naive time: cursors made here always carry their zone.
    with pytest.raises(ValueError, match="not a page cursor"):
        Cursor.decode(text)
