"""The spend writer: durable record(), batched flushing, exact totals under concurrency, crash
replay, a database that is down or locked, and rows it refuses for good (set aside, replayable)."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sqlite3
import sys
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gemgate.proxy.storage.database import open_database
from gemgate.proxy.storage.key_store import KeySettings, KeyStore
from gemgate.proxy.storage.spend_batches import insert_spend_rows
from gemgate.proxy.storage.spend_logs import SpendFilter, SpendLogs
from gemgate.proxy.storage.spend_rows import SpendRow, decode_spend_row, encode_spend_row
from gemgate.proxy.storage.spend_writer import SpendWriter, SpendWriterSettings
from gemgate.proxy.storage.tables import spend_logs
from gemgate.proxy.storage.team_store import TeamSettings, TeamStore
from tests.databases import running_postgres, wait_until_accepting
from tests.proxy.storage.conftest import NOW, make_spend_row

RECORDER = Path(__file__).with_name("spend_recorder.py")
# Quick retries, so tests of an outage see several failures in well under a second.
IMPATIENT = SpendWriterSettings(retry_initial=0.02, retry_max=0.1, final_flush_timeout=1.0)


async def stored_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(select(func.count()).select_from(spend_logs))
        count: int = result.scalar_one()
        return count


async def eventually(check: object, *, timeout: float = 10.0) -> None:
    """Poll ``check`` (an async callable returning bool) until it holds."""
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def test_recorded_rows_reach_the_database(engine: AsyncEngine, tmp_path: Path) -> None:
    rows = [make_spend_row(number) for number in range(3)]
    async with SpendWriter.open(engine, tmp_path) as writer:
        for row in rows:
            await writer.record(row)
        await writer.flush()
        stats = writer.stats()
    page = await SpendLogs(engine).logs(SpendFilter())
    assert sorted(page.rows, key=lambda row: row.request_id) == rows
    assert (stats.recorded, stats.stored, stats.duplicates) == (3, 3, 0)
    assert list(tmp_path.glob("*.jsonl")) == []


async def test_rows_are_flushed_without_being_asked(engine: AsyncEngine, tmp_path: Path) -> None:
    settings = SpendWriterSettings(flush_interval=0.05)
    async with SpendWriter.open(engine, tmp_path, settings) as writer:
        await writer.record(make_spend_row(1))
        await eventually(lambda: _has_rows(engine, 1))


async def test_a_full_batch_wakes_the_flusher_early(engine: AsyncEngine, tmp_path: Path) -> None:
    settings = SpendWriterSettings(flush_interval=3600, batch_size=10)
    async with SpendWriter.open(engine, tmp_path, settings) as writer:
        await asyncio.gather(*(writer.record(make_spend_row(n)) for n in range(10)))
        await eventually(lambda: _has_rows(engine, 10))


async def _has_rows(engine: AsyncEngine, count: int) -> bool:
    return await stored_count(engine) == count


async def test_totals_are_exact_under_500_concurrent_records(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    keys, teams = KeyStore(engine), TeamStore(engine)
    for number in range(5):
        await keys.create(f"key-{number}", KeySettings(team_id=f"team-{number % 2}"), NOW)
    for number in range(2):
        await teams.create(f"team-{number}", TeamSettings(), NOW)
    rng = random.Random(7)
    rows = []
    for number in range(500):
        key = rng.randrange(5)
        cost = Decimal(rng.randrange(1, 10**9)).scaleb(-10)
        tags = tuple(rng.sample(["a", "b", "c"], rng.randrange(4)))
        rows.append(make_spend_row(number, key_hash=f"key-{key}", team_id=f"team-{key % 2}", cost=cost, tags=tags))  # fmt: skip
    expected: defaultdict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        expected[row.key_hash or ""] += row.cost
        expected[row.team_id or ""] += row.cost
        for tag in row.tags:
            expected[f"tag:{tag}"] += row.cost

    async with SpendWriter.open(engine, tmp_path, SpendWriterSettings(batch_size=64)) as writer:
        await asyncio.gather(*(writer.record(row) for row in rows))
        assert writer.journal.commits < 100  # group commit: far fewer fsyncs than rows
        await writer.flush()

    found: dict[str, Decimal] = {}
    for number in range(5):
        record = await keys.get(f"key-{number}")
        assert record is not None
        found[record.key_hash] = record.spend
    for number in range(2):
        team = await teams.get(f"team-{number}")
        assert team is not None
        found[team.team_id] = team.spend
    for total in await SpendLogs(engine).tag_totals():
        found[f"tag:{total.group}"] = total.spend
    assert found == expected
    assert await stored_count(engine) == 500


async def test_rows_acknowledged_before_a_kill_are_replayed(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    acknowledged = await _record_then_kill(database_url, tmp_path, at_least=300)
    assert await stored_count(engine) == 0  # nothing was flushed: only the journal has them

    async with SpendWriter.open(engine, tmp_path) as writer:
        await writer.flush()
    async with engine.connect() as connection:
        stored = set((await connection.execute(select(spend_logs.c.request_id))).scalars())
    assert acknowledged <= stored
    assert len(acknowledged) >= 300


async def _record_then_kill(database_url: str, journal: Path, *, at_least: int) -> set[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(RECORDER), database_url, str(journal),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    acknowledged: set[str] = set()
    async with asyncio.timeout(60):
        while len(acknowledged) < at_least:
            line = await process.stdout.readline()
            assert line, (await process.communicate())[1].decode()
            acknowledged.add(line.decode().strip())
        process.send_signal(signal.SIGKILL)
        rest, _ = await process.communicate()
    acknowledged.update(rest.decode().split())
    return acknowledged


async def test_a_replay_of_stored_rows_counts_nothing_twice(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # A crash after a batch committed and before its segment was removed: the segment is still
    # there (here as the journal of a process that is gone), and its rows are in the database.
    await KeyStore(engine).create("key", KeySettings(), NOW)
    rows = [make_spend_row(n, key_hash="key", cost=Decimal("0.5")) for n in range(4)]
    async with engine.begin() as connection:
        await insert_spend_rows(connection, rows[:3])
    orphan = tmp_path / "slot-7-000000000001.jsonl"
    orphan.write_bytes(b"".join(encode_spend_row(row) for row in rows))

    async with SpendWriter.open(engine, tmp_path) as writer:
        await writer.flush()
        stats = writer.stats()
    assert (stats.stored, stats.duplicates) == (1, 3)
    key = await KeyStore(engine).get("key")
    assert key is not None and key.spend == Decimal(2)
    assert not orphan.exists()


async def test_lines_that_are_not_rows_are_skipped_and_counted(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    segment = tmp_path / "slot-3-000000000001.jsonl"
    good = [encode_spend_row(make_spend_row(n)) for n in range(2)]
    segment.write_bytes(good[0] + b"garbage\n" + good[1] + b'{"torn": ')
    async with SpendWriter.open(engine, tmp_path) as writer:
        await writer.flush()
        stats = writer.stats()
    assert (stats.stored, stats.unreadable) == (2, 1)


async def test_rows_recorded_before_a_clean_shutdown_are_stored(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with SpendWriter.open(
        engine, tmp_path, SpendWriterSettings(flush_interval=3600)
    ) as writer:
        await writer.flush()
        await asyncio.gather(*(writer.record(make_spend_row(n)) for n in range(5)))
    assert await stored_count(engine) == 5


async def test_an_unreadable_segment_does_not_hold_up_the_others(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    (tmp_path / "slot-4-000000000001.jsonl").mkdir()  # not a file: opening it fails
    (tmp_path / "slot-4-000000000002.jsonl").write_bytes(encode_spend_row(make_spend_row(1)))
    async with SpendWriter.open(engine, tmp_path) as writer:
        async with asyncio.timeout(10):
            await writer.flush()
    assert await stored_count(engine) == 1


async def test_record_after_close_fails(engine: AsyncEngine, tmp_path: Path) -> None:
    async with SpendWriter.open(engine, tmp_path) as writer:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await writer.record(make_spend_row(1))
    with pytest.raises(RuntimeError, match="closed"):
        await writer.flush()


@contextmanager
def sqlite_locked(database_url: str) -> Iterator[None]:
    """Another process's write lock on the SQLite file: every writer waits, then fails."""
    path = make_url(database_url).database or ""
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@asynccontextmanager
async def measured_memory() -> AsyncIterator[list[int]]:
    """Yields a list that gets the growth of traced memory (bytes) at exit."""
    growth: list[int] = []
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        yield growth
        growth.append(tracemalloc.get_traced_memory()[0] - start)
    finally:
        tracemalloc.stop()


ROWS_DURING_OUTAGE = 20_000


async def test_a_locked_sqlite_database_loses_nothing_and_holds_no_rows_in_memory(
    sqlite_url: str, tmp_path: Path
) -> None:
    url = sqlite_url + "?timeout=0.05"
    journal = tmp_path / "journal"
    async with open_database(url) as engine:
        async with SpendWriter.open(engine, journal, IMPATIENT) as writer:
            with sqlite_locked(url):
                await _record_during_outage(writer)
            await writer.flush()
        assert await stored_count(engine) == ROWS_DURING_OUTAGE


async def test_a_stopped_postgresql_loses_nothing_and_holds_no_rows_in_memory(
    tmp_path: Path,
) -> None:
    with running_postgres() as cluster:
        url = cluster.admin_url.render_as_string(hide_password=False)
        async with open_database(url) as engine:
            async with SpendWriter.open(engine, tmp_path, IMPATIENT) as writer:
                await writer.record(make_spend_row(-1))
                await writer.flush()  # connections are open in the pool when the server stops
                cluster.stop()
                await _record_during_outage(writer)
                cluster.start()
                await wait_until_accepting(url)
                await writer.flush()
            assert await stored_count(engine) == ROWS_DURING_OUTAGE + 1
            assert not (tmp_path / "rejected").exists()


async def _record_during_outage(writer: SpendWriter) -> None:
    """Record many rows while the database refuses them: all are acknowledged, none kept in memory."""
    failures_before = writer.stats().failures
    async with measured_memory() as growth:
        for start in range(0, ROWS_DURING_OUTAGE, 1000):
            await asyncio.gather(*(writer.record(make_spend_row(n)) for n in range(start, start + 1000)))  # fmt: skip
            await asyncio.sleep(0.01)  # let the flusher try (and fail) meanwhile
            assert writer.stats().buffered == 0
    assert writer.stats().failures > failures_before
    assert writer.stats().rejected == 0  # an outage is waited out, never taken for a refusal
    assert writer.stats().recorded >= ROWS_DURING_OUTAGE
    assert await writer.journal.size_on_disk() > ROWS_DURING_OUTAGE * 300
    # 20 000 rows as objects would take well over 20 MB; the journal holds them instead.
    assert growth[0] < 4_000_000, growth


# Long enough that an uncapped doubling of the retry wait would sleep well past the outage.
LONG_OUTAGE_SECONDS = 8.5
# The promise: once the database is back, rows are in it within a few seconds.
LANDING_SECONDS = 3.5


async def test_rows_land_within_seconds_once_a_long_outage_ends(
    sqlite_url: str, tmp_path: Path
) -> None:
    url = sqlite_url + "?timeout=0.05"
    async with open_database(url) as engine:
        async with SpendWriter.open(engine, tmp_path) as writer:  # the default retry policy
            with sqlite_locked(url):
                await asyncio.gather(*(writer.record(make_spend_row(n)) for n in range(50)))
                await asyncio.sleep(LONG_OUTAGE_SECONDS)
                assert writer.stats().failures >= 3
            ended = asyncio.get_running_loop().time()
            await eventually(lambda: _has_rows(engine, 50), timeout=30)
            lag = asyncio.get_running_loop().time() - ended
    assert lag <= LANDING_SECONDS, lag


async def test_rows_left_by_a_shutdown_during_an_outage_land_at_the_next_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    url = sqlite_url + "?timeout=0.05"
    async with open_database(url) as engine:
        with sqlite_locked(url):
            async with SpendWriter.open(engine, tmp_path, IMPATIENT) as writer:
                await asyncio.gather(*(writer.record(make_spend_row(n)) for n in range(50)))
        assert await stored_count(engine) == 0
        async with SpendWriter.open(engine, tmp_path, IMPATIENT) as writer:
            await writer.flush()
        assert await stored_count(engine) == 50


KEY = "5e" * 32  # a key hash, to be sure no log line repeats it
REFUSAL = "refused_in_test"


async def refuse(engine: AsyncEngine, *request_ids: str) -> None:
    """Make the database refuse these spend rows for good, as a constraint added by hand would."""
    listed = ", ".join(f"'{request_id}'" for request_id in request_ids)
    if engine.dialect.name == "postgresql":
        statement = f"ALTER TABLE spend_logs ADD CONSTRAINT {REFUSAL} CHECK (request_id NOT IN ({listed}))"  # fmt: skip
    else:
        # SQLite adds no CHECK to a table; a trigger's RAISE(ABORT) is its constraint failure.
        statement = (
            f"CREATE TRIGGER {REFUSAL} BEFORE INSERT ON spend_logs WHEN NEW.request_id IN ({listed}) "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    async with engine.begin() as connection:
        await connection.exec_driver_sql(statement)


async def stop_refusing(engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        statement = f"ALTER TABLE spend_logs DROP CONSTRAINT {REFUSAL}"
    else:
        statement = f"DROP TRIGGER {REFUSAL}"
    async with engine.begin() as connection:
        await connection.exec_driver_sql(statement)


def set_aside(journal: Path) -> list[SpendRow]:
    """The rows in the journal's dead-letter files."""
    return [
        decode_spend_row(line)
        for path in sorted((journal / "rejected").glob("*.jsonl"))
        for line in path.read_bytes().splitlines(keepends=True)
    ]


async def flush_soon(writer: SpendWriter) -> None:
    """Flush, failing (not hanging) if the rows never get through, as a refused batch once did."""
    async with asyncio.timeout(30):
        await writer.flush()


async def stored_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.execute(select(spend_logs.c.request_id))).scalars())


async def key_spend(engine: AsyncEngine) -> Decimal:
    record = await KeyStore(engine).get(KEY)
    assert record is not None
    return record.spend


async def test_a_row_the_database_refuses_is_set_aside_and_the_rows_behind_it_flow(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await KeyStore(engine).create(KEY, KeySettings(), NOW)
    rows = [make_spend_row(n, key_hash=KEY, cost=Decimal(n + 1).scaleb(-7)) for n in range(510)]
    refused = rows[250]
    await refuse(engine, refused.request_id)
    settings = SpendWriterSettings(flush_interval=3600)  # one batch of 500, then a later segment
    observed: Counter[str] = Counter()  # what the metrics are told

    def observe(outcome: str, rows: int) -> None:
        observed[outcome] += rows

    with caplog.at_level(logging.ERROR, logger="gemgate.proxy.storage.spend_writer"):
        async with SpendWriter.open(engine, tmp_path, settings, observe) as writer:
            await flush_soon(writer)  # the start-up replay, before the rows come
            await asyncio.gather(*(writer.record(row) for row in rows[:500]))
            await flush_soon(writer)
            await asyncio.gather(*(writer.record(row) for row in rows[500:]))
            await flush_soon(writer)
            stats = writer.stats()

    assert await stored_ids(engine) == {row.request_id for row in rows} - {refused.request_id}
    assert (stats.stored, stats.rejected, stats.duplicates, stats.failures) == (509, 1, 0, 0)
    assert observed == {"stored": 509, "rejected": 1}
    assert await key_spend(engine) == sum((row.cost for row in rows if row is not refused), Decimal(0))  # fmt: skip
    assert set_aside(tmp_path) == [refused]
    assert list(tmp_path.glob("*.jsonl")) == []  # every segment done and removed
    [logged] = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert refused.request_id in logged
    assert "refused by the test" in logged or REFUSAL in logged  # the database's own reason
    assert KEY not in logged and refused.model not in logged  # the id and the reason, not the row


async def test_refused_rows_of_one_segment_are_appended_to_one_file(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    rows = [make_spend_row(n) for n in range(6)]
    await refuse(engine, rows[1].request_id, rows[4].request_id)
    # A dead process's segment, read three rows at a time: two batches, each with a refused row.
    segment = tmp_path / "slot-5-000000000001.jsonl"
    segment.write_bytes(b"".join(encode_spend_row(row) for row in rows))
    async with SpendWriter.open(engine, tmp_path, SpendWriterSettings(batch_size=3)) as writer:
        await flush_soon(writer)
        stats = writer.stats()
    assert (stats.stored, stats.rejected) == (4, 2)
    assert set_aside(tmp_path) == [rows[1], rows[4]]
    assert len(list((tmp_path / "rejected").iterdir())) == 1


async def _has_failed(writer: SpendWriter, times: int) -> bool:
    return writer.stats().failures >= times


async def test_an_outage_is_waited_out_even_with_a_refused_row_in_the_batch(
    sqlite_url: str, tmp_path: Path
) -> None:
    url = sqlite_url + "?timeout=0.05"
    journal = tmp_path / "journal"
    rows = [make_spend_row(n) for n in range(20)]
    async with open_database(url) as engine:
        await refuse(engine, rows[7].request_id)
        async with SpendWriter.open(engine, journal, IMPATIENT) as writer:
            with sqlite_locked(url):
                await asyncio.gather(*(writer.record(row) for row in rows))
                await eventually(lambda: _has_failed(writer, 3))
                assert writer.stats().rejected == 0
                assert not (journal / "rejected").exists()
            await flush_soon(writer)
            stats = writer.stats()
        assert (stats.stored, stats.rejected) == (19, 1)
        assert set_aside(journal) == [rows[7]]


async def refuse_then_fail(engine: AsyncEngine, refused: str, failing: str) -> None:
    """Refuse ``refused`` for good; once it has been refused, fail the next insert of
    ``failing`` as a full disk would (sequences are not rolled back: they remember)."""
    statements = (
        "CREATE SEQUENCE refusals",
        "CREATE SEQUENCE outages",
        f"""CREATE FUNCTION refuse_then_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.request_id = '{refused}' THEN
                PERFORM nextval('refusals');
                RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.request_id = '{failing}' THEN
                IF (SELECT is_called FROM refusals) THEN
                    IF nextval('outages') = 1 THEN
                        RAISE EXCEPTION 'disk full in the test' USING ERRCODE = 'disk_full';
                    END IF;
                END IF;
            END IF;
            RETURN NEW;
        END $$""",
        "CREATE TRIGGER refuse_then_fail BEFORE INSERT ON spend_logs "
        "FOR EACH ROW EXECUTE FUNCTION refuse_then_fail()",
    )
    async with engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)


async def test_an_outage_while_halving_a_refused_batch_retries_the_rest_whole(
    postgres_url: str, tmp_path: Path
) -> None:
    rows = [make_spend_row(n, key_hash=KEY, cost=Decimal("0.5")) for n in range(8)]
    async with open_database(postgres_url) as engine:
        await KeyStore(engine).create(KEY, KeySettings(), NOW)
        # Halving 0-7 stores 0, 2 and 3 and sets 1 aside; then 4-7 meets the full disk.
        await refuse_then_fail(engine, refused=rows[1].request_id, failing=rows[5].request_id)
        segment = tmp_path / "slot-5-000000000001.jsonl"
        segment.write_bytes(b"".join(encode_spend_row(row) for row in rows))
        async with SpendWriter.open(engine, tmp_path, IMPATIENT) as writer:
            await flush_soon(writer)
            stats = writer.stats()
        # Nothing stored twice (no duplicates), nothing set aside twice, the failing row kept.
        assert (stats.stored, stats.duplicates, stats.rejected, stats.failures) == (7, 0, 1, 1)
        assert set_aside(tmp_path) == [rows[1]]
        assert await key_spend(engine) == Decimal("3.5")


@pytest.mark.parametrize("text_field", [{"end_user": "user\x00name"}, {"tags": ("tag\x00",)}])
async def test_a_row_postgresql_cannot_hold_is_set_aside(
    postgres_url: str, tmp_path: Path, text_field: dict[str, object]
) -> None:
    # A NUL in text: SQLite keeps it, PostgreSQL refuses it (22021, 22P05) whatever the schema.
    rows = [make_spend_row(n) for n in range(10)]
    rows[4] = make_spend_row(4, **text_field)
    async with open_database(postgres_url) as engine:
        async with SpendWriter.open(engine, tmp_path) as writer:
            await asyncio.gather(*(writer.record(row) for row in rows))
            await flush_soon(writer)
            stats = writer.stats()
        assert await stored_count(engine) == 9
    assert (stats.stored, stats.rejected) == (9, 1)
    assert set_aside(tmp_path) == [rows[4]]


@pytest.mark.parametrize("moved_to", ["the same name", "slot-999-000000000001.jsonl"])
async def test_set_aside_rows_are_stored_once_moved_back_and_the_gateway_restarts(
    engine: AsyncEngine, tmp_path: Path, moved_to: str
) -> None:
    await KeyStore(engine).create(KEY, KeySettings(), NOW)
    rows = [make_spend_row(n, key_hash=KEY, cost=Decimal("0.25")) for n in range(5)]
    await refuse(engine, rows[2].request_id)
    async with SpendWriter.open(engine, tmp_path) as writer:
        await asyncio.gather(*(writer.record(row) for row in rows))
        await flush_soon(writer)
    [dead_letters] = list((tmp_path / "rejected").iterdir())

    await stop_refusing(engine)  # the operator fixed the cause
    dead_letters.rename(tmp_path / (dead_letters.name if moved_to == "the same name" else moved_to))
    async with SpendWriter.open(engine, tmp_path) as writer:
        await flush_soon(writer)
        stats = writer.stats()
    assert (stats.stored, stats.duplicates, stats.rejected) == (1, 0, 0)
    assert await stored_ids(engine) == {row.request_id for row in rows}
    assert await key_spend(engine) == Decimal("1.25")
    assert list(tmp_path.glob("*.jsonl")) == []
