"""Databases for tests: a throwaway PostgreSQL cluster (initdb + pg_ctl on loopback, or the
server named by $GEMGATE_TEST_DATABASE_URL) and fresh databases on it; SQLite files in tmp dirs.

A missing PostgreSQL is a test failure with a message saying what to install, never a skip.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import URL, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gemgate.proxy.storage.database import async_database_url
from tests.servers import free_port

TEST_DATABASE_VARIABLE = "GEMGATE_TEST_DATABASE_URL"
POSTGRES_USER = "postgres"
_MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under "
    "/usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql) or set "
    f"{TEST_DATABASE_VARIABLE}=postgresql://user:password@host:port/database"
)


def postgres_binaries() -> Path:
    """The folder holding initdb and pg_ctl (PATH first, then Debian's versioned folders)."""
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for folder in reversed(versions):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    pytest.fail(_MISSING, pytrace=False)


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own in a temporary folder, listening on 127.0.0.1:port."""

    folder: Path
    port: int = field(default_factory=free_port)
    binaries: Path = field(default_factory=postgres_binaries)

    @property
    def admin_url(self) -> URL:
        return make_url(f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/postgres")

    def init(self) -> None:
        """initdb as the `postgres` OS user when we are root (initdb refuses root)."""
        self._run(
            "initdb", "-D", str(self.folder / "data"), "-U", POSTGRES_USER, "-A", "trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        # A zone far from UTC: a query that leans on the session's zone gets wrong days here.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c timezone=Pacific/Kiritimati"
        )
        self._run(
            "pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l",
            str(self.folder / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.binaries / program), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{program} failed: {result.stderr.strip()}\n{tail}", pytrace=False)


@contextmanager
def running_postgres() -> Iterator[PostgresCluster]:
    """A fresh cluster, started; stopped and deleted afterwards."""
    # Not under pytest's tmp dirs: those are private to root and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="gemgate-pg-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            pytest.fail(f"running as root and there is no `{POSTGRES_USER}` OS user to run PostgreSQL as", pytrace=False)  # fmt: skip
        os.chown(folder, account.pw_uid, account.pw_gid)
    cluster = PostgresCluster(folder)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if (folder / "data" / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PostgresServer:
    """Where tests make their databases: our cluster or $GEMGATE_TEST_DATABASE_URL's server."""

    admin_url: URL
    _names: Iterator[int] = field(default_factory=itertools.count)

    async def create_database(self) -> str:
        """A new empty database; returns its plain postgresql:// URL."""
        name = f"gemgate_test_{os.getpid()}_{next(self._names)}"
        await self._administer(f'CREATE DATABASE "{name}"')
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    async def drop_database(self, url: str) -> None:
        await self._administer(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    async def _administer(self, statement: str) -> None:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        engine = create_async_engine(
            async_database_url(self.admin_url.render_as_string(hide_password=False)),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """PostgreSQL for the whole session: $GEMGATE_TEST_DATABASE_URL, else a throwaway cluster."""
    given = os.environ.get(TEST_DATABASE_VARIABLE)
    if given:
        yield PostgresServer(make_url(given))
        return
    with running_postgres() as cluster:
        yield PostgresServer(cluster.admin_url)


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = await postgres_server.create_database()
    yield url
    await postgres_server.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A not yet existing SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'gemgate.db'}"


async def wait_until_accepting(url: str, *, timeout: float = 10.0) -> None:
    """Wait until the database server at ``url`` accepts connections."""
    engine = create_async_engine(async_database_url(url), poolclass=NullPool)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            try:
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                return
            except (OSError, DBAPIError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def stoppable_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the test module's own: its tests may stop and restart it."""
    with running_postgres() as running:
        yield running


@pytest.fixture
async def stoppable_cluster_url(stoppable_cluster: PostgresCluster) -> AsyncIterator[str]:
    """The stoppable cluster's database URL, the cluster running again when the test ends
    (whatever the test did to it)."""
    url = stoppable_cluster.admin_url.render_as_string(hide_password=False)
    yield url
    if not (stoppable_cluster.folder / "data" / "postmaster.pid").exists():
        await asyncio.to_thread(stoppable_cluster.start)
        await wait_until_accepting(url)
