"""Opaque pagination cursors: the (time, id) of the last row a page showed.

Pages are cut by keyset (rows strictly after the cursor in the listing's order), so rows that
arrive while someone pages never shift or repeat what they see, and deep pages cost no OFFSET scan.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the time and id of its last row."""

    time: datetime
    record_id: str

    def encode(self) -> str:
        """The cursor as a URL-safe string."""
        text = json.dumps([self.time.isoformat(), self.record_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read a cursor made by `encode`; raises ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            time, record_id = json.loads(raw)
            moment = datetime.fromisoformat(time)
        except (binascii.Error, ValueError, TypeError) as error:
            raise ValueError("not a page cursor from this listing") from error
        if not isinstance(record_id, str) or moment.tzinfo is None:
            raise ValueError("not a page cursor from this listing")
        return cls(time=moment, record_id=record_id)


def older_than(
    time: ColumnElement[Any], record_id: ColumnElement[Any], cursor: Cursor
) -> ColumnElement[bool]:
    """The rows after ``cursor`` in a newest-first listing ordered by (time, id) descending."""
    return or_(time < cursor.time, and_(time == cursor.time, record_id < cursor.record_id))
