"""Rows the database refuses for good: refusals told from outages by real database errors, the
reason logged in one line, and the dead-letter file appended durably in whole lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.rejected_rows import (
    append_rejected,
    is_refusal,
    refusal_reason,
    rejected_file,
)

MISSING_MODEL = "INSERT INTO spend_logs (request_id) VALUES (:request_id)"


async def database_error(url: str, statement: str, **values: str) -> SQLAlchemyError:
    """The error the database at ``url`` raises for ``statement`` (which must fail)."""
    async with open_database(url) as engine:
        with pytest.raises(SQLAlchemyError) as caught:
            async with engine.begin() as connection:
                await connection.execute(text(statement), values)
        return caught.value


@pytest.mark.parametrize(
    ("database_url", "statement", "expected"),
    [
        ("sqlite", MISSING_MODEL, True),  # NOT NULL: IntegrityError
        ("postgres", MISSING_MODEL, True),  # 23502
        ("postgres", "SELECT 1/0", True),  # 22012: a data exception
        ("postgres", "SELECT CAST('1e400' AS numeric(28, 10))", True),  # 22003: out of range
        ("sqlite", "SELECT * FROM no_such_table", False),  # OperationalError: schema not there yet
        ("postgres", "SELECT * FROM no_such_table", False),  # 42P01: likewise
        ("postgres", "SELECT pg_terminate_backend(pg_backend_pid())", False),  # 08003: dropped
    ],
    indirect=["database_url"],
)
async def test_data_errors_are_refusals_and_the_rest_outages(
    database_url: str, statement: str, expected: bool
) -> None:
    error = await database_error(database_url, statement, request_id="req-1")
    assert is_refusal(error) is expected, refusal_reason(error)


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "Connection refused"), OSError(28, "No space left on device")],
)
def test_errors_from_outside_the_database_are_outages(error: OSError) -> None:
    assert not is_refusal(error)


async def test_the_reason_is_the_databases_first_line_without_the_statement_or_values(
    engine: AsyncEngine,
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    error = await database_error(url, MISSING_MODEL, request_id="req-private-value")
    reason = refusal_reason(error)
    assert "\n" not in reason
    assert "model" in reason  # names the column it refused
    assert "req-private-value" not in reason and "INSERT" not in reason
    if engine.dialect.name == "postgresql":
        assert " 23502: " in reason  # the SQLSTATE, for looking the refusal up


def test_a_segments_refused_rows_go_to_a_file_of_its_name_under_rejected(tmp_path: Path) -> None:
    segment = tmp_path / "slot-3-000000000042.jsonl"
    assert rejected_file(segment) == tmp_path / "rejected" / "slot-3-000000000042.jsonl"


def test_rejected_lines_are_appended_in_a_folder_made_on_first_use(tmp_path: Path) -> None:
    path = rejected_file(tmp_path / "slot-0-000000000001.jsonl")
    append_rejected(path, b'{"n": 1}\n')
    append_rejected(path, b'{"n": 2}\n')
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2}\n'
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_failed_append_leaves_only_whole_lines(tmp_path: Path) -> None:
    # A real short write: the file-size limit stops the write mid-line (EFBIG). The partial line
    # must be cut off, so the file stays readable and the row can be appended again later.
    path = tmp_path / "rejected" / "slot-0-000000000001.jsonl"
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from gemgate.proxy.storage.rejected_rows import append_rejected

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        path = Path({str(path)!r})
        append_rejected(path, b"first" * 10 + b"\\n")
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
        try:
            append_rejected(path, b"x" * 200 + b"\\n")
        except OSError as error:
            print("refused", error.errno)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        append_rejected(path, b"after\\n")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused")
    assert path.read_bytes() == b"first" * 10 + b"\n" + b"after\n"
