"""The one error the stores raise on purpose: a record whose id or alias is already taken."""

from __future__ import annotations


class RecordExists(Exception):
    """A key, key alias or team that already exists; the message names which, never a secret."""
