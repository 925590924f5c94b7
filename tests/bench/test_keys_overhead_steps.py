"""The in-process step timer of bench/keys_overhead_steps.py: its timing and its table."""

from __future__ import annotations

from bench.keys_overhead_steps import Timing, report, timed


async def test_each_request_of_a_step_is_done_and_timed() -> None:
    done: list[int] = []

    async def work() -> None:
        done.append(1)

    timing = await timed("count", work, requests=100, concurrency=8)
    assert len(done) == 96  # whole rounds of 8 tasks only
    assert timing.concurrency == 8 and timing.wall_us > 0 and timing.cpu_us >= 0


def test_the_table_has_one_row_per_step() -> None:
    text = report(
        [Timing("identify: virtual key", 1, 2.54, 1.91), Timing("flusher", 1, 1234.5, 42.8)]
    )
    assert text.splitlines()[2:] == [
        "| identify: virtual key | 1 | 2.5 | 1.9 |",
        "| flusher | 1 | 1,234.5 | 42.8 |",
    ]
