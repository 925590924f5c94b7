"""Budget durations and reset times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gemgate.proxy.storage.budget_periods import BudgetDuration, first_reset, next_reset


def at(day: int, hour: int = 0, month: int = 1, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_fixed_durations_add_their_length(text: str, expected: timedelta) -> None:
    assert first_reset(BudgetDuration.parse(text), at(1)) == at(1) + expected


@pytest.mark.parametrize("text", ["", "d", "0d", "-1d", "1y", "1.5h", "30 d", "1D", "mo"])
def test_unreadable_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a budget duration"):
        BudgetDuration.parse(text)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(15), 1, at(15, month=2)),
        (at(31), 1, at(28, month=2)),
        (at(31), 2, at(31, month=3)),
        (at(30, month=11), 3, at(28, month=2, year=2027)),
        (at(31, month=12), 1, at(31, month=1, year=2027)),
    ],
)
def test_months_are_calendar_months_clamped_to_their_last_day(
    start: datetime, months: int, expected: datetime
) -> None:
    assert BudgetDuration(1, "mo").periods_after(start, months) == expected


@pytest.mark.parametrize(
    ("duration", "previous", "now", "expected"),
    [
        ("1d", at(1), at(1, 1), at(2)),
        ("1d", at(1), at(2), at(3)),  # a reset due exactly now moves on one period
        ("1d", at(1), at(5, 13), at(6)),  # missed periods are skipped, the schedule kept
        ("1h", at(1), at(1), at(1, 1)),
        ("1mo", at(31), at(1, month=3), at(31, month=3)),
        ("1mo", at(31), at(10, month=2), at(28, month=2)),
    ],
)
def test_next_reset_is_the_first_on_schedule_after_now(
    duration: str, previous: datetime, now: datetime, expected: datetime
) -> None:
    assert next_reset(BudgetDuration.parse(duration), previous, now) == expected


def test_duration_prints_as_it_was_written() -> None:
    assert str(BudgetDuration.parse("30d")) == "30d"
