"""agent.swarm.groupcommit: ledger records made durable one command at a time (an agent) or many per
flush (the swarm's ledgers, one filesystem)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.ledger import Ledger, fsync_each
from agent.swarm.groupcommit import GroupCommit, filesystem_sync


def ledgers(root: Path, count: int) -> list[Ledger]:
    out = []
    for i in range(count):
        (root / f"agent-{i}").mkdir()
        out.append(Ledger(root / f"agent-{i}" / "ledger"))
    return out


def test_fsync_each_records_durably(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "ledger")
    asyncio.run(fsync_each(led, "cmd-1"))
    assert "cmd-1" in led and "cmd-1" in Ledger(tmp_path / "ledger")


def test_a_burst_of_records_is_made_durable_by_one_flush(tmp_path: Path) -> None:
    flushed: list[Path] = []
    real = filesystem_sync()

    def sync(directory: Path) -> None:
        flushed.append(directory)
        real(directory)

    group = GroupCommit(tmp_path, sync)
    leds = ledgers(tmp_path, 50)

    async def burst() -> None:
        await asyncio.gather(*(group(led, f"cmd-{i}") for i, led in enumerate(leds)))

    asyncio.run(burst())
    assert flushed == [tmp_path] and group.flushes == 1
    for i in range(50):  # on disk: a fresh ledger over the same file finds it
        assert f"cmd-{i}" in Ledger(tmp_path / f"agent-{i}" / "ledger")


def test_records_arriving_during_a_flush_wait_for_the_next(tmp_path: Path) -> None:
    order: list[str] = []
    group: GroupCommit

    def sync(directory: Path) -> None:
        order.append(f"flush {group.flushes}")

    group = GroupCommit(tmp_path, sync)
    first, second = ledgers(tmp_path, 2)

    async def scenario() -> None:
        a = asyncio.create_task(group(first, "a"))
        await asyncio.sleep(0)  # a is appended and the first flush is under way
        await asyncio.sleep(0)
        b = asyncio.create_task(group(second, "b"))
        await a
        order.append("a durable")
        await b
        order.append("b durable")

    asyncio.run(scenario())
    # flush 2 runs in a worker thread, so it may be logged before or after "a durable"
    assert group.flushes == 2 and sorted(order) == ["a durable", "b durable", "flush 1", "flush 2"]
    assert order.index("flush 1") < order.index("a durable")
    assert order.index("flush 2") < order.index("b durable")


def test_a_failed_flush_fails_every_record_waiting_on_it(tmp_path: Path) -> None:
    def sync(directory: Path) -> None:
        raise OSError(5, "Input/output error")

    group = GroupCommit(tmp_path, sync)
    leds = ledgers(tmp_path, 3)

    async def burst() -> list[BaseException | None]:
        return await asyncio.gather(*(group(led, f"cmd-{i}") for i, led in enumerate(leds)),
                                    return_exceptions=True)

    outcomes = asyncio.run(burst())
    assert [type(o) for o in outcomes] == [OSError] * 3
    assert all(o.errno == 5 for o in outcomes if isinstance(o, OSError))


def test_an_unwritable_ledger_raises_before_any_flush(tmp_path: Path) -> None:
    group = GroupCommit(tmp_path, lambda _d: pytest.fail("nothing to flush"))
    (led,) = ledgers(tmp_path, 1)
    (tmp_path / "agent-0" / "ledger").unlink()
    (tmp_path / "agent-0").rmdir()
    with pytest.raises(OSError):
        asyncio.run(group(led, "cmd-1"))
    assert group.flushes == 0


def test_a_journal_sync_rides_on_the_next_ledger_flush_and_starts_none_of_its_own(tmp_path: Path) -> None:
    group: GroupCommit
    rounds: list[int] = []

    def sync(directory: Path) -> None:
        rounds.append(group.flushes)

    group = GroupCommit(tmp_path, sync, linger_seconds=30.0)
    (led,) = ledgers(tmp_path, 1)

    async def scenario() -> None:
        journal = asyncio.create_task(group.sync_files([tmp_path / "journal"]))
        await asyncio.sleep(0.05)
        assert rounds == [] and not journal.done()  # no flush for the journal alone within the linger
        await group(led, "cmd-1")  # a ledger record: one flush, for both
        await asyncio.wait_for(journal, 1.0)

    asyncio.run(scenario())
    assert rounds == [1] and group.flushes == 1


def test_a_journal_sync_alone_gets_a_flush_after_the_linger(tmp_path: Path) -> None:
    group = GroupCommit(tmp_path, lambda _d: None, linger_seconds=0.05)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(group.sync_files([tmp_path / "journal"]), 2.0)
        return loop.time() - started

    assert asyncio.run(scenario()) >= 0.04 and group.flushes == 1  # not at once


def test_a_ledger_record_never_waits_for_the_linger(tmp_path: Path) -> None:
    group = GroupCommit(tmp_path, lambda _d: None, linger_seconds=30.0)
    (led,) = ledgers(tmp_path, 1)

    async def scenario() -> None:
        journal = asyncio.create_task(group.sync_files([tmp_path / "journal"]))
        await asyncio.sleep(0)  # the flusher is lingering for the journal
        await asyncio.wait_for(group(led, "cmd-1"), 1.0)  # not 30 s
        await asyncio.wait_for(journal, 1.0)

    asyncio.run(scenario())
    assert group.flushes == 1
