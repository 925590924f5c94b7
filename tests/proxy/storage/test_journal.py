"""The spend journal: durable appends in shared fsyncs, segments, slots, torn and failed writes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gemgate.proxy.storage.journal import Journal, SegmentReader


def line(number: int) -> bytes:
    return b'{"n": %d}\n' % number


def read_all(segments: tuple[Path, ...]) -> list[bytes]:
    lines: list[bytes] = []
    for segment in segments:
        reader = SegmentReader(segment)
        lines.extend(reader.read_lines(1_000_000))
        reader.close()
    return lines


async def test_an_appended_line_is_in_the_file_when_append_returns(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as journal:
        await journal.append(line(1))
        # Read behind the journal's back, before sealing: the bytes are already there.
        [active] = list(tmp_path.glob("slot-0-*.jsonl"))
        assert active.read_bytes() == line(1)
        assert journal.active_rows == 1


async def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as journal:
        await asyncio.gather(*(journal.append(line(n)) for n in range(1000)))
        assert journal.commits <= 10
        assert sorted(read_all(await journal.seal())) == sorted(line(n) for n in range(1000))


async def test_sealing_starts_a_new_segment(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as journal:
        await journal.append(line(1))
        first = await journal.seal()
        await journal.append(line(2))
        both = await journal.seal()
        assert len(first) == 1 and both[0] == first[0] and len(both) == 2
        assert read_all(both) == [line(1), line(2)]
        await journal.remove(first[0])
        assert await journal.seal() == both[1:]


async def test_sealing_an_idle_journal_makes_no_segment(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as journal:
        assert await journal.seal() == ()


async def test_sealing_while_appends_go_on_never_hands_out_the_active_segment(
    tmp_path: Path,
) -> None:
    # As the flusher does: seal, read, remove, while appends keep starting new segments.
    read_back: list[bytes] = []
    appended: list[bytes] = []
    async with Journal.open(tmp_path) as journal:
        numbers = iter(range(10**9))
        sealing = True

        async def append() -> None:
            while sealing:
                appended.append(line(next(numbers)))
                await journal.append(appended[-1])

        async def seal() -> None:
            nonlocal sealing
            for _ in range(150):
                for segment in await journal.seal():
                    read_back.extend(read_all((segment,)))
                    await journal.remove(segment)
            sealing = False

        await asyncio.gather(seal(), *(append() for _ in range(20)))
        read_back.extend(read_all(await journal.seal()))
    assert len(appended) > 1000
    assert sorted(read_back) == sorted(appended)


async def test_processes_sharing_a_folder_get_their_own_slots(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as first, Journal.open(tmp_path) as second:
        assert (first.slot, second.slot) == (0, 1)
        await asyncio.gather(first.append(line(1)), second.append(line(2)))
        assert read_all(await first.seal()) == [line(1)]
        assert read_all(await second.seal()) == [line(2)]


async def test_a_reopened_slot_finds_its_unflushed_segments(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as journal:
        await journal.append(line(1))
    async with Journal.open(tmp_path) as journal:
        await journal.append(line(2))
        assert read_all(await journal.seal()) == [line(1), line(2)]


async def test_segments_of_a_slot_whose_process_is_gone_are_adopted(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as first, Journal.open(tmp_path) as second:
        await first.append(line(1))
        await second.append(line(2))
    async with Journal.open(tmp_path) as survivor:
        assert survivor.slot == 0
        assert sorted(read_all(await survivor.seal())) == [line(1), line(2)]
    assert not list(tmp_path.glob("slot-1-*.jsonl"))


async def test_a_live_slot_is_never_adopted(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as alive:
        await alive.append(line(1))
        async with Journal.open(tmp_path) as other:
            assert await other.seal() == ()
        assert read_all(await alive.seal()) == [line(1)]


async def test_appends_wait_for_room_when_the_buffer_is_full(tmp_path: Path) -> None:
    async with Journal.open(tmp_path, max_buffered=2) as journal:
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                most = max(most, journal.buffered)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(journal.append(line(n)) for n in range(50)))
        watcher.cancel()
        await asyncio.wait([watcher])
        assert most <= 2
        assert len(read_all(await journal.seal())) == 50


@pytest.mark.parametrize("max_buffered", [10_000, 1], ids=["room", "full buffer"])
async def test_a_caller_that_stops_waiting_still_has_its_line_written(
    tmp_path: Path, max_buffered: int
) -> None:
    async with Journal.open(tmp_path, max_buffered=max_buffered) as journal:
        appends = [asyncio.create_task(journal.append(line(n))) for n in range(20)]
        await asyncio.sleep(0)  # every append has started (some wait for room)
        for append in appends[::2]:
            append.cancel()
        await asyncio.wait(appends)
        await journal.append(line(99))  # written after every line before it
        assert sorted(read_all(await journal.seal())) == sorted(map(line, [*range(20), 99]))


async def test_appending_to_a_closed_journal_fails(tmp_path: Path) -> None:
    async with Journal.open(tmp_path) as journal:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await journal.append(line(1))


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    segment = tmp_path / "slot-0-000000000001.jsonl"
    segment.write_bytes(line(1) + line(2) + b'{"n": 3')
    reader = SegmentReader(segment)
    assert reader.read_lines(1) == [line(1)]
    assert reader.read_lines(10) == [line(2)]
    assert reader.read_lines(10) == []
    reader.close()


def test_a_failed_write_leaves_only_whole_lines(tmp_path: Path) -> None:
    # A real short write: the file-size limit stops the write mid-line (EFBIG). The failed line
    # must be cut off, so the lines appended after the limit is lifted still read back.
    script = textwrap.dedent(
        f"""
        import asyncio, resource, signal
        from pathlib import Path
        from gemgate.proxy.storage.journal import Journal

        async def main():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            async with Journal.open(Path({str(tmp_path)!r})) as journal:
                await journal.append(b"first" * 10 + b"\\n")
                soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
                resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
                try:
                    await journal.append(b"x" * 200 + b"\\n")
                except OSError as error:
                    print("refused", error.errno)
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
                await journal.append(b"after\\n")

        asyncio.run(main())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused")
    [segment] = list(tmp_path.glob("slot-0-*.jsonl"))
    assert segment.read_bytes() == b"first" * 10 + b"\n" + b"after\n"
