"""The pure parts of bench/keys_overhead.py's process sampling."""

from __future__ import annotations

from bench.keys_overhead import cpu_seconds

# /proc/PID/stat of a process whose name holds a space and a parenthesis (utime 250, stime 50).
STAT = "4242 (python -m (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 100 0"


def test_cpu_seconds_add_user_and_system_time_past_an_awkward_process_name() -> None:
    assert cpu_seconds(STAT, 100) == 3.0
