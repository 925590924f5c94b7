"""A clock tests set by hand, injected into the emulator as `create_emulator_app(..., clock=)`."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field


def _real_now() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


@dataclass
class FakeClock:
    """Returns `now` until a test moves it; starts at real time unless told otherwise."""

    now: float = field(default_factory=_real_now)

    def __call__(self) -> float:
        return self.now
