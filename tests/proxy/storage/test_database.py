"""Which database, its engine (connect timeout), and migrations: up from empty, idempotent,
concurrent, via the CLI, and Alembic loaded only when the schema is behind."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.database import (
    HEAD_REVISION,
    MIGRATIONS,
    POSTGRES_CONNECT_TIMEOUT,
    async_database_url,
    default_journal_path,
    open_database,
    postgres_connect_timeout,
    resolve_database_url,
    upgrade_database,
)
from gemgate.proxy.storage.key_store import KeySettings, KeyStore
from gemgate.proxy.storage.spend_logs import SpendFilter, SpendLogs
from gemgate.proxy.storage.tables import VERSION_TABLE, metadata
from tests.module_probes import loaded_after

HEAD = "0002"
TABLES = {
    "virtual_keys", "teams", "spend_logs", "spend_log_tags", "tag_spend", "revisions",
    "tombstones", VERSION_TABLE,
}  # fmt: skip


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        ("postgresql://db/a", {"DATABASE_URL": "postgresql://db/b"}, "postgresql://db/a"),
        (None, {"DATABASE_URL": "postgresql://db/b"}, "postgresql://db/b"),
        (None, {}, "sqlite:///gemgate.db"),
        ("", {"DATABASE_URL": ""}, "sqlite:///gemgate.db"),
    ],
)
def test_config_beats_environment_beats_default(
    configured: str | None, environ: dict[str, str], expected: str
) -> None:
    assert resolve_database_url(configured, environ) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5433/d", "postgresql+asyncpg://u:p@h:5433/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+asyncpg://u@h/d?ssl=require"),
        ("sqlite:///gemgate.db", "sqlite+aiosqlite:///gemgate.db"),
        ("sqlite:////var/lib/gemgate/g.db", "sqlite+aiosqlite:////var/lib/gemgate/g.db"),
    ],
)
def test_urls_get_their_async_driver(url: str, expected: str) -> None:
    assert async_database_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:secret@h/d", "unsupported database URL scheme 'mysql'"),
        ("postgresql+psycopg2://u:secret@h/d", "unsupported database URL scheme"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///:memory:", "needs a file path"),
        ("not a url :secret", "is not a URL"),
    ],
)
def test_unusable_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        async_database_url(url)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////data/gemgate/gemgate.db", Path("/data/gemgate/gemgate-spend.journal")),
        ("sqlite:///gemgate.db", Path("gemgate-spend.journal")),
        ("postgresql://h/d", Path("gemgate-spend.journal")),
    ],
)
def test_journal_lives_beside_the_sqlite_file_or_here(url: str, expected: Path) -> None:
    assert default_journal_path(async_database_url(url)) == expected


async def test_migrations_build_the_schema_from_empty(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        version = await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        assert version.scalar_one() == HEAD
    assert tables == TABLES


async def test_tables_module_matches_the_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)
    assert differences == []


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
    )
    found: list[object] = compare_metadata(context, metadata)
    return found


async def test_upgrading_an_up_to_date_database_changes_nothing(engine: AsyncEngine) -> None:
    assert await upgrade_database(engine) == HEAD
    assert await upgrade_database(engine) == HEAD


async def test_instances_starting_together_migrate_once(database_url: str) -> None:
    async def start() -> None:
        async with open_database(database_url):
            pass

    await asyncio.gather(*(start() for _ in range(4)))
    async with open_database(database_url, migrate=False) as engine:
        async with engine.connect() as connection:
            versions = await connection.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}"))
            assert versions.scalar_one() == 1


async def test_sqlite_file_is_made_in_wal_mode_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "gemgate.db"
    async with open_database(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_sqlite_reads_do_not_wait_for_another_processes_writer(tmp_path: Path) -> None:
    path = tmp_path / "gemgate.db"
    async with open_database(f"sqlite:///{path}?timeout=2") as engine:
        keys = KeyStore(engine)
        await keys.create("kept", KeySettings(), datetime(2026, 1, 1, tzinfo=UTC))
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # a backup or an admin's shell, say
            async with asyncio.timeout(1):  # well inside the busy timeout
                assert await keys.get("kept") is not None
                assert (await keys.changed_since(0)).changed
                assert not (await SpendLogs(engine).logs(SpendFilter())).rows
            with pytest.raises(OperationalError, match="locked"):  # writes still wait, then fail
                await keys.delete("kept")
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert await keys.delete("kept")


def test_db_upgrade_command_migrates_the_named_database(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    result = subprocess.run(
        [sys.executable, "-m", "gemgate", "db", "upgrade", "--database-url", f"sqlite:///{path}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"at revision {HEAD}" in result.stdout
    with sqlite3.connect(path) as connection:
        version = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    assert version == (HEAD,)


async def test_db_upgrade_command_reads_database_url_from_the_environment(
    postgres_url: str,
) -> None:
    environment = {"PATH": "/usr/bin:/bin", "DATABASE_URL": postgres_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gemgate", "db", "upgrade", env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert f"/{make_url(postgres_url).database} is at revision {HEAD}" in stdout.decode()
    async with open_database(postgres_url, migrate=False) as engine:
        async with engine.connect() as connection:
            version = await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            assert version.scalar_one() == HEAD


def test_db_upgrade_command_reports_an_unreachable_database_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gemgate", "db", "upgrade", "--database-url",
         "postgresql://gemgate:hunter2@127.0.0.1:1/none"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("gemgate: cannot upgrade the database")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stderr


def test_head_revision_is_the_newest_migration() -> None:
    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD_REVISION == HEAD


def test_importing_the_database_and_the_app_loads_no_alembic() -> None:
    imports = "gemgate.proxy.storage.database, gemgate.proxy.app"
    assert loaded_after(imports, {"alembic", "mako"}) == []


_OPEN_PROBE = """
import asyncio, sys
from gemgate.proxy.storage.database import current_revision, open_database

async def main() -> None:
    async with open_database(sys.argv[1]) as engine:
        async with engine.connect() as connection:
            print(await connection.run_sync(current_revision), "alembic" in sys.modules)

asyncio.run(main())
"""


def _open_in_a_new_process(url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_PROBE, url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_alembic_is_loaded_to_migrate_and_not_to_open_an_up_to_date_database(
    database_url: str,
) -> None:
    assert _open_in_a_new_process(database_url) == f"{HEAD} True"
    assert _open_in_a_new_process(database_url) == f"{HEAD} False"


async def test_a_database_behind_head_is_upgraded(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE spend_logs DROP COLUMN client_request_id"))
        await connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0001'"))
    assert await upgrade_database(engine) == HEAD
    async with engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {column["name"] for column in inspect(sync).get_columns("spend_logs")}
        )
    assert "client_request_id" in columns


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", POSTGRES_CONNECT_TIMEOUT),
        ("?connect_timeout=3", 3.0),
        ("?timeout=2.5", 2.5),
        ("?connect_timeout=4&timeout=9", 4.0),
        ("?connect_timeout=0", None),
        ("?connect_timeout=-1", None),
        ("?sslmode=require&connect_timeout=7", 7.0),
    ],
)
def test_postgres_connect_timeout_comes_from_the_url_like_libpq(
    query: str, expected: float | None
) -> None:
    url = async_database_url(f"postgresql://u:secret@h/d{query}")
    assert postgres_connect_timeout(url) == expected


@pytest.mark.parametrize("query", ["?connect_timeout=soon", "?timeout=nan", "?timeout=10s"])
def test_a_connect_timeout_that_is_not_seconds_is_refused_without_echoing_the_url(
    query: str,
) -> None:
    with pytest.raises(ValueError, match="is not a number of seconds") as raised:
        async_database_url(f"postgresql://u:secret@h/d{query}")
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", POSTGRES_CONNECT_TIMEOUT), ("?connect_timeout=5", 5.0), ("?timeout=6", 6.0)],
)
async def test_asyncpg_is_given_the_connect_timeout_and_not_the_url_parameter(
    postgres_url: str, query: str, expected: float
) -> None:
    given: list[dict[str, Any]] = []
    async with open_database(postgres_url + query, migrate=False) as engine:
        event.listen(engine.sync_engine, "do_connect", lambda *args: given.append(dict(args[3])))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    assert given[0]["timeout"] == expected
    assert "connect_timeout" not in given[0]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port whose listener never accepts nor answers: a connect to it hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        yield listener.getsockname()[1]


async def test_a_postgres_host_that_never_answers_fails_after_the_connect_timeout(
    black_hole: int,
) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):  # asyncpg alone would wait 60 s
            async with open_database(f"postgresql://u@127.0.0.1:{black_hole}/d?connect_timeout=0.5"):  # fmt: skip
                pass
    assert 0.4 < time.monotonic() - started < 5


def test_db_upgrade_command_gives_up_on_a_silent_host_after_the_connect_timeout(
    black_hole: int,
) -> None:
    url = f"postgresql://gemgate:hunter2@127.0.0.1:{black_hole}/none?connect_timeout=0.5"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gemgate", "db", "upgrade", "--database-url", url],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert result.stderr.strip() == "gemgate: cannot upgrade the database: TimeoutError"
