"""Budget periods (pure): durations such as "30d" or "1mo", and when a budget resets next."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_DURATION = re.compile(r"(\d+)(mo|s|m|h|d|w)")
_FIXED_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
MONTHS = "mo"


@dataclass(frozen=True, slots=True)
class BudgetDuration:
    """How often a budget starts over: `count` seconds/minutes/hours/days/weeks/months."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> BudgetDuration:
        """Read "30s", "10m", "1h", "30d", "2w" or "1mo"; raises ValueError otherwise."""
        match = _DURATION.fullmatch(text.strip())
        if match is None or int(match.group(1)) == 0:
            raise ValueError(
                f"not a budget duration: {text!r} (a positive count and one of s, m, h, d, w, mo)"
            )
        return cls(count=int(match.group(1)), unit=match.group(2))

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def periods_after(self, start: datetime, periods: int) -> datetime:
        """``start`` moved on by ``periods`` of this duration."""
        if self.unit == MONTHS:
            return _add_months(start, self.count * periods)
        return start + _FIXED_UNITS[self.unit] * (self.count * periods)


def first_reset(duration: BudgetDuration, now: datetime) -> datetime:
    """When a budget that starts ``now`` first resets."""
    return duration.periods_after(now, 1)


def next_reset(duration: BudgetDuration, previous: datetime, now: datetime) -> datetime:
    """The first reset strictly after ``now`` on the schedule that ``previous`` was part of."""
    if duration.unit == MONTHS:
        periods = 1
        while duration.periods_after(previous, periods) <= now:
            periods += 1
        return duration.periods_after(previous, periods)
    step = _FIXED_UNITS[duration.unit] * duration.count
    elapsed = max(now - previous, timedelta(0))
    return previous + step * (elapsed // step + 1)


def _add_months(start: datetime, months: int) -> datetime:
    # Counted from the same start each time, so the 31st stays the 31st where a month has one.
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
