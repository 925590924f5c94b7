"""The database: which one (URL resolution and driver translation), its engine (SQLite in WAL
mode, one writer at a time) and its schema (Alembic migrations, run at start-up when behind)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, column, event, inspect, make_url, select, table, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gemgate.proxy.storage.tables import VERSION_TABLE

DATABASE_URL_VARIABLE = "DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///gemgate.db"
DEFAULT_JOURNAL_NAME = "gemgate-spend.journal"
MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration in `migrations/versions/` (a test asks Alembic): a database already here
# is opened without loading Alembic at all.
HEAD_REVISION = "0002"
# Seconds an SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
# Seconds asyncpg waits for PostgreSQL to answer a new connection (its own default is 60).
POSTGRES_CONNECT_TIMEOUT = 10.0
# Query parameters that override it: libpq's name, then asyncpg's.
_CONNECT_TIMEOUT_PARAMETERS = ("connect_timeout", "timeout")
# Execution option of an engine whose transactions only read (see `reading`).
_READS_ONLY = "gemgate_reads_only"
# Any fixed number: instances starting together on one PostgreSQL migrate one at a time.
_MIGRATION_LOCK_ID = 0x67656D67617465  # "gemgate"
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def resolve_database_url(configured: str | None, environ: Mapping[str, str]) -> str:
    """The URL to use: config's `database_url`, else $DATABASE_URL, else ./gemgate.db."""
    return configured or environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def async_database_url(url: str) -> URL:
    """``url`` with its async driver: postgresql:// → asyncpg, sqlite:///path → aiosqlite.

    Raises ValueError (whose message never repeats the URL: it may hold a password).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("database URL is not a URL (expected postgresql://… or sqlite:///path)") from None  # fmt: skip
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use postgresql://user:password@host/name or sqlite:///path/to/file.db"
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("an SQLite database needs a file path: sqlite:///gemgate.db")
        return parsed
    postgres_connect_timeout(parsed)  # a mistyped timeout is a config error before connecting
    return _asyncpg_ssl(parsed)


def _asyncpg_ssl(url: URL) -> URL:
    # libpq spells it sslmode; asyncpg takes the same values as `ssl`.
    mode = url.query.get("sslmode")
    if mode is None:
        return url
    return url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})


def postgres_connect_timeout(url: URL) -> float | None:
    """Seconds to wait for a new PostgreSQL connection: ``?connect_timeout=`` (libpq's name) or
    ``?timeout=`` (asyncpg's) from ``url``, else `POSTGRES_CONNECT_TIMEOUT`. Zero or less waits
    for ever, as in libpq (None). Raises ValueError for a value that is not a number."""
    for name in _CONNECT_TIMEOUT_PARAMETERS:
        value = url.query.get(name)
        if value is None:
            continue
        try:
            seconds = float(value if isinstance(value, str) else value[-1])
            if math.isnan(seconds):
                raise ValueError
        except ValueError:
            raise ValueError(f"database URL parameter {name} is not a number of seconds") from None  # fmt: skip
        return seconds if seconds > 0 else None
    return POSTGRES_CONNECT_TIMEOUT


def is_sqlite(url: URL) -> bool:
    """Whether ``url`` names an SQLite file."""
    return url.get_backend_name() == "sqlite"


def default_journal_path(url: URL) -> Path:
    """Where the spend journal lives unless configured: beside the SQLite file, else in ./."""
    if is_sqlite(url) and url.database:
        return Path(url.database).parent / DEFAULT_JOURNAL_NAME
    return Path(DEFAULT_JOURNAL_NAME)


def create_engine(url: URL) -> AsyncEngine:
    """An engine for ``url`` (already translated by `async_database_url`)."""
    if not is_sqlite(url):
        # A host that drops packets would hold start-up (and each reconnect) for asyncpg's 60 s.
        timeout = {"timeout": postgres_connect_timeout(url)}
        without = url.difference_update_query(_CONNECT_TIMEOUT_PARAMETERS)
        # A connection that PostgreSQL dropped (restart, failover) is noticed before use.
        return create_async_engine(without, pool_pre_ping=True, connect_args=timeout)
    connect_args: dict[str, Any] = {}
    if "timeout" not in url.query:
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT
    engine = create_async_engine(url, connect_args=connect_args)
    event.listen(engine.sync_engine, "connect", _prepare_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


def _prepare_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is turned off: `_begin_sqlite_transaction` says when.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # FULL: a commit survives power loss, so a journal segment removed after its commit is never
    # the only copy of its rows. (WAL mode is the file's own setting: see `use_wal`.)
    for pragma in ("synchronous=FULL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def use_wal(path: str, *, attempts: int = 200) -> None:
    """Put the SQLite file at ``path`` in WAL mode (readers never block the writer), once per
    open. Switching needs an exclusive lock and does not wait for one, so instances opening a new
    file together retry here, in a thread, until one of them has switched it."""
    for _ in range(attempts):
        try:
            with contextlib.closing(
                sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
            ) as connection:
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
        time.sleep(0.025)
    raise sqlite3.OperationalError(f"could not switch {path} to WAL mode: it stayed locked")


def reading(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for transactions that only read (same pool). On SQLite they begin deferred:
    in WAL mode they read the last commit at once, even while another process writes."""
    return engine.execution_options(**{_READS_ONLY: True})


def _begin_sqlite_transaction(connection: Connection) -> None:
    if connection.get_execution_options().get(_READS_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE takes the write lock up front, where the busy timeout applies; a deferred
    # transaction that reads first and writes later can fail at once with SQLITE_BUSY.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


async def upgrade_database(engine: AsyncEngine) -> str:
    """Apply every pending migration; returns the revision the database is now at."""
    async with engine.begin() as connection:
        revision = await connection.run_sync(current_revision)
        if revision == HEAD_REVISION:
            return revision
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _MIGRATION_LOCK_ID}
            )
        return await connection.run_sync(_upgrade_to_head)


def current_revision(connection: Connection) -> str | None:
    """The revision the schema is at (None: not made yet, or several heads), read without
    Alembic."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(select(table(VERSION_TABLE, column("version_num")))).scalars()
    found = list(versions)
    return found[0] if len(found) == 1 else None


def _upgrade_to_head(connection: Connection) -> str:
    from alembic import command  # deferred: Alembic and Mako cost ~7 MB, needed only to upgrade
    from alembic.config import Config  # deferred: Alembic is loaded only to upgrade

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # env.py runs the migrations on this connection, inside the transaction begun above.
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return current_revision(connection) or ""


@asynccontextmanager
async def open_database(url: str | URL, *, migrate: bool = True) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url``, its schema brought up to date first; disposed on exit."""
    database_url = url if isinstance(url, URL) else async_database_url(url)
    if is_sqlite(database_url) and database_url.database:
        folder = Path(database_url.database).parent
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(use_wal, database_url.database)
    engine = create_engine(database_url)
    try:
        if migrate:
            await upgrade_database(engine)
        yield engine
    finally:
        await engine.dispose()
