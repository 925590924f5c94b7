"""The process readings of bench/proxy_load_servers.py: how long a server waited for its core."""

from __future__ import annotations

import os
import subprocess
import time

from bench.proxy_load_servers import cpu_wait_seconds, pinned

CORE = sorted(os.sched_getaffinity(0))[-1]
BUSY_SECONDS = 0.6


def test_processes_sharing_one_core_wait_for_it_and_the_wait_is_summed_over_the_tree() -> None:
    # Two busy children of one shell on one core: each runs about half the time, waits the rest.
    script = f"timeout {BUSY_SECONDS} yes >/dev/null & timeout {BUSY_SECONDS} yes >/dev/null; wait"
    shell = subprocess.Popen(pinned(CORE, ["sh", "-c", script]))
    try:
        time.sleep(BUSY_SECONDS * 0.8)
        waited = cpu_wait_seconds(shell.pid)
    finally:
        shell.wait(timeout=10)
    assert waited > BUSY_SECONDS * 0.2


def test_a_process_that_is_gone_waited_for_nothing() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert cpu_wait_seconds(gone.pid) == 0.0
