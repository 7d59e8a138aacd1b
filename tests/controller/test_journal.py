"""controller/events/journal.py: the bus's fleet events are published only once stored, with the
seq the store gave them, in the order announced, a batch per write; a failed write is tried again
(nothing lost, nothing twice); close stores what waits. The store here is a stand-in that numbers
what it is given (the real one: tests/store/test_events_store.py, and end to end
tests/e2e/test_follow_resume.py)."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest

from controller.events.bus import EventBus, EventKind, StatusEvent
from controller.events.journal import EventJournal
from plugins.sdk.status import Detail


class Store:
    def __init__(self, fail_first: int = 0) -> None:
        self.seq = 100  # a database whose sequence is past what this controller's bus ever counted
        self.batches: list[int] = []
        self._fail = fail_first

    async def __call__(self, events: Sequence[StatusEvent]) -> list[StatusEvent]:
        await asyncio.sleep(0.01)
        if self._fail:
            self._fail -= 1
            raise OSError("database is locked")
        self.batches.append(len(events))
        out = []
        for e in events:
            self.seq += 1
            out.append(replace(e, seq=self.seq))
        return out


def _announce(bus: EventBus, n: int) -> list[StatusEvent]:
    return [bus.announce(EventKind.INVOCATION, "c-1", f"mi-{i}", Detail.SUCCESS, 1_000 + i) for i in range(n)]


@pytest.mark.parametrize(("gather", "batches"), [(0.0, [5, 3]), (0.05, [8])])
def test_events_are_published_once_stored_with_the_stores_seq_in_order(gather: float, batches: list[int]) -> None:
    """Without gathering, what comes while a write is under way is the next batch; with it, one."""
    async def go() -> tuple[list[StatusEvent], list[StatusEvent], list[StatusEvent], Store]:
        bus, store = EventBus(), Store()
        journal = EventJournal(bus, store, gather_seconds=gather)
        sunk: list[StatusEvent] = []
        bus.add_sink(sunk.append)
        q = bus.subscribe_fleet()
        announced = _announce(bus, 5)
        assert sunk == [] and q.empty()  # nothing goes out before it is stored
        await asyncio.sleep(0.005)
        announced += _announce(bus, 3)  # while the first write is under way: the next batch
        await journal.close()
        return announced, sunk, [q.get_nowait() for _ in range(q.qsize())], store
    announced, sunk, queued, store = asyncio.run(go())
    assert all(e.seq == 0 for e in announced)
    assert [e.seq for e in sunk] == list(range(101, 109)) and queued == sunk
    assert [(e.node_id, e.at_ms) for e in sunk] == [(e.node_id, e.at_ms) for e in announced]
    assert store.batches == batches


def test_a_failed_write_is_tried_again_and_nothing_is_lost_or_told_twice() -> None:
    async def go() -> tuple[list[StatusEvent], EventJournal]:
        bus = EventBus()
        journal = EventJournal(bus, Store(fail_first=2))
        sunk: list[StatusEvent] = []
        bus.add_sink(sunk.append)
        _announce(bus, 4)
        await asyncio.sleep(0.05)
        _announce(bus, 2)
        await journal.close()
        return sunk, journal
    sunk, journal = asyncio.run(go())
    assert [e.seq for e in sunk] == list(range(101, 107))
    assert [e.node_id for e in sunk] == [f"mi-{i}" for i in (0, 1, 2, 3, 0, 1)]
    assert journal.failures == 2 and journal.dropped == 0 and journal.pending == 0


def test_past_its_bound_the_journal_drops_and_counts() -> None:
    async def go() -> tuple[list[StatusEvent], EventJournal]:
        bus = EventBus()
        journal = EventJournal(bus, Store(), max_pending=3)
        sunk: list[StatusEvent] = []
        bus.add_sink(sunk.append)
        _announce(bus, 5)
        await journal.close()
        return sunk, journal
    sunk, journal = asyncio.run(go())
    assert [e.node_id for e in sunk] == ["mi-0", "mi-1", "mi-2"] and journal.dropped == 2
