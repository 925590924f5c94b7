"""Serving the gateway: a gateway that cannot start (its database unreachable, its app's start-up
failing in one worker or all) says why in one line and exits non-zero, without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port

MASTER_KEY = "sk-serving-master"


def run_gateway(
    folder: Path, config: dict[str, Any], *flags: str
) -> subprocess.CompletedProcess[str]:
    """`gemgate --config` in ``folder`` until it exits by itself (bounded: a hang fails)."""
    path = folder / "config.yaml"
    path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "gemgate", "--config", str(path), "--port", str(free_port())]
    return subprocess.run(
        [*command, "--log-level", "warning", *flags],
        capture_output=True, text=True, timeout=30, cwd=folder,
    )  # fmt: skip


def test_an_unreachable_database_at_start_exits_1_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql://gemgate:secret-password@127.0.0.1:{free_port()}/gemgate"
    settings = {"database_url": url, "master_key": MASTER_KEY}
    result = run_gateway(tmp_path, {"general_settings": settings})

    assert result.returncode == 1
    assert result.stderr.startswith("gemgate: cannot open the database postgresql://gemgate:")
    assert result.stderr.count("\n") == 1
    assert "secret-password" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_worker_that_cannot_start_makes_the_gateway_exit_1_with_one_line_each(
    tmp_path: Path, workers: str
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    settings = {"spend_journal": "not-a-folder/journal", "gemini_api_key": "unused",
                "master_key": MASTER_KEY}  # fmt: skip
    result = run_gateway(tmp_path, {"general_settings": settings}, "--workers", workers)

    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= int(workers), result.stderr
    assert all("cannot start the gateway: not a directory" in line for line in lines), result.stderr
