"""Spend queries: each filter, pages, tag totals and grouped reports."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.spend_batches import insert_spend_rows
from gemgate.proxy.storage.spend_logs import SpendFilter, SpendGrouping, SpendLogs, SpendTotal
from tests.proxy.storage.conftest import NOW, make_spend_row

DAY = timedelta(days=1)
# Request n: key k{n%3}, user u{n%2}, team t{n%2}, model by n%4, day n//4, tags by n%5.
ROWS = [
    make_spend_row(
        number,
        start_time=NOW + DAY * (number // 4) + timedelta(minutes=number),
        end_time=NOW + DAY * (number // 4) + timedelta(minutes=number, seconds=1),
        key_hash=f"k{number % 3}",
        user_id=f"u{number % 2}",
        team_id=f"t{number % 2}",
        model="gemini-2.5-pro" if number % 4 == 0 else "gemini-2.5-flash",
        tags=(("batch",) if number % 5 == 0 else ()) + ("all",),
        cost=Decimal(number) / 100,
        prompt_tokens=number,
        completion_tokens=2 * number,
    )
    for number in range(12)
]


def matching(**where: object) -> list[str]:
    """Request ids of ROWS whose fields equal ``where``, newest first."""
    found = [row for row in ROWS if all(getattr(row, name) == value for name, value in where.items())]  # fmt: skip
    return [row.request_id for row in sorted(found, key=lambda row: row.start_time, reverse=True)]


@pytest.fixture
async def spend(engine: AsyncEngine) -> SpendLogs:
    async with engine.begin() as connection:
        await insert_spend_rows(connection, ROWS)
    return SpendLogs(engine)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (SpendFilter(), matching()),
        (SpendFilter(key_hash="k1"), matching(key_hash="k1")),
        (SpendFilter(user_id="u0"), matching(user_id="u0")),
        (SpendFilter(team_id="t1"), matching(team_id="t1")),
        (SpendFilter(model="gemini-2.5-pro"), matching(model="gemini-2.5-pro")),
        (SpendFilter(tag="batch"), ["req-00010", "req-00005", "req-00000"]),
        (SpendFilter(start=NOW + DAY * 2), ["req-00011", "req-00010", "req-00009", "req-00008"]),
        (SpendFilter(end=NOW + DAY), ["req-00003", "req-00002", "req-00001", "req-00000"]),
        (SpendFilter(key_hash="k0", user_id="u1", start=NOW + DAY), ["req-00009"]),
        (SpendFilter(tag="none"), []),
    ],
)
async def test_each_filter_selects_its_rows_newest_first(
    spend: SpendLogs, where: SpendFilter, expected: list[str]
) -> None:
    page = await spend.logs(where, limit=100)
    assert [row.request_id for row in page.rows] == expected
    assert page.next_cursor is None


async def test_stored_rows_read_back_whole(spend: SpendLogs) -> None:
    assert await spend.get("req-00007") == ROWS[7]
    assert await spend.get("req-99999") is None


@pytest.mark.parametrize("size", [1, 5, 11, 12])
async def test_pages_cover_every_row_once(spend: SpendLogs, size: int) -> None:
    seen: list[str] = []
    page = await spend.logs(SpendFilter(), limit=size)
    seen.extend(row.request_id for row in page.rows)
    while page.next_cursor is not None:
        page = await spend.logs(SpendFilter(), limit=size, cursor=page.next_cursor)
        seen.extend(row.request_id for row in page.rows)
    assert seen == matching()


async def test_pages_keep_their_filter(spend: SpendLogs) -> None:
    where = SpendFilter(user_id="u1")
    first = await spend.logs(where, limit=2)
    assert first.next_cursor is not None
    second = await spend.logs(where, limit=10, cursor=first.next_cursor)
    assert [row.request_id for row in (*first.rows, *second.rows)] == matching(user_id="u1")


async def test_a_foreign_cursor_is_refused(spend: SpendLogs) -> None:
    with pytest.raises(ValueError, match="cursor"):
        await spend.logs(SpendFilter(), cursor="garbage")


async def test_tag_totals_are_all_time_and_highest_first(spend: SpendLogs) -> None:
    assert await spend.tag_totals() == (
        SpendTotal("all", Decimal("0.66"), 12),
        SpendTotal("batch", Decimal("0.15"), 3),
    )


def expected_report(group_of: dict[int, str]) -> dict[str, tuple[Decimal, int, int, int]]:
    report: dict[str, tuple[Decimal, int, int, int]] = {}
    for number, group in group_of.items():
        spend, requests, prompt, completion = report.get(group, (Decimal(0), 0, 0, 0))
        report[group] = (spend + Decimal(number) / 100, requests + 1, prompt + number, completion + 2 * number)  # fmt: skip
    return report


@pytest.mark.parametrize(
    ("group_by", "group_of"),
    [
        ("key", {n: f"k{n % 3}" for n in range(12)}),
        ("team", {n: f"t{n % 2}" for n in range(12)}),
        ("user", {n: f"u{n % 2}" for n in range(12)}),
        ("model", {n: "gemini-2.5-pro" if n % 4 == 0 else "gemini-2.5-flash" for n in range(12)}),
        ("day", {n: f"2026-03-{15 + n // 4}" for n in range(12)}),
    ],
)
async def test_report_totals_each_group(
    spend: SpendLogs, group_by: SpendGrouping, group_of: dict[int, str]
) -> None:
    report = await spend.report(group_by, SpendFilter())
    found = {t.group: (t.spend, t.requests, t.prompt_tokens, t.completion_tokens) for t in report}
    assert found == expected_report(group_of)


async def test_report_by_tag_counts_a_row_under_each_of_its_tags(spend: SpendLogs) -> None:
    report = await spend.report("tag", SpendFilter(start=NOW + DAY))
    assert [(t.group, t.spend, t.requests) for t in report] == [
        ("all", Decimal("0.60"), 8),
        ("batch", Decimal("0.15"), 2),
    ]


async def test_report_by_day_is_in_date_order_and_filtered(spend: SpendLogs) -> None:
    report = await spend.report("day", SpendFilter(key_hash="k0"))
    assert [(t.group, t.requests) for t in report] == [
        ("2026-03-15", 2), ("2026-03-16", 1), ("2026-03-17", 1),
    ]  # fmt: skip


async def test_report_by_day_uses_utc_days(engine: AsyncEngine) -> None:
    late = NOW.replace(hour=23, minute=59, second=59)
    async with engine.begin() as connection:
        await insert_spend_rows(
            connection,
            [make_spend_row(1, start_time=late, end_time=late + timedelta(seconds=2))],
        )
    report = await SpendLogs(engine).report("day", SpendFilter())
    assert [t.group for t in report] == ["2026-03-15"]
