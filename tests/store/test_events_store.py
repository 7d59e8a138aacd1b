"""The fleet's status events at rest (controller/store/events.py), on SQLite and PostgreSQL: seqs from
the database (increasing, never reused after pruning, the same sequence for a second Store on the
database: a restarted or another controller), reading past a seq, the filters, retention."""
from __future__ import annotations

import asyncio

import pytest

from controller.model import EventFilter, EventKind, StatusEvent
from controller.runtime.retention import DAY_MS, Pruner
from controller.store import Store, StoreError
from controller.store.db import Db
from plugins.sdk.host.clock import now_ms
from plugins.sdk.status import Detail
from tests.support.keys import fixed_sealer

T0 = 1_800_000_000_000


def _event(i: int, command_id: str = "c-1", node_id: str = "mi-1", detail: Detail | None = Detail.IN_PROGRESS,
           kind: EventKind = EventKind.INVOCATION, note: str = "") -> StatusEvent:
    return StatusEvent(kind, command_id, node_id, detail, T0 + i * 1000, 0, note)


def test_recorded_events_get_increasing_seqs_and_read_back_as_they_were(store: Store) -> None:
    sent = [_event(0, node_id="", kind=EventKind.COMMAND, detail=Detail.PENDING), _event(1),
            _event(2, detail=Detail.SUCCESS), _event(3, command_id="", node_id="mi-2", detail=None,
                                                     kind=EventKind.NODE, note="a second agent was refused")]
    stored = store.record_events(sent)
    seqs = [e.seq for e in stored]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] >= 1
    assert [e for e in stored] == [StatusEvent(s.kind, s.command_id, s.node_id, s.detail, s.at_ms, q, s.note)
                                   for s, q in zip(sent, seqs, strict=True)]
    assert store.events_after(EventFilter(), 100) == stored
    assert store.events_after(EventFilter(after_seq=seqs[1]), 100) == stored[2:]
    assert store.events_after(EventFilter(after_seq=seqs[0]), 2) == stored[1:3]
    assert store.last_event_seq() == seqs[-1]
    assert store.record_events([]) == []


def test_the_sequence_goes_on_in_another_store_on_the_same_database(store: Store, store_url: str) -> None:
    """A restarted controller (a new Store on the same database) never gives a seq twice."""
    first = store.record_events([_event(i) for i in range(3)])
    with Store.open(store_url, fixed_sealer()) as again:
        second = again.record_events([_event(i) for i in range(3, 5)])
    assert second[0].seq > first[-1].seq
    assert [e.seq for e in store.events_after(EventFilter(), 100)] == [e.seq for e in first + second]


def test_newest_events_and_the_filters(store: Store) -> None:
    stored = store.record_events([_event(i, command_id=f"c-{i % 2}", node_id=f"mi-{i % 3}") for i in range(12)])
    assert store.newest_events(EventFilter(), 5) == stored[-5:]
    assert store.newest_events(EventFilter(), 100) == stored
    assert store.newest_events(EventFilter(command_id="c-1"), 100) == [e for e in stored if e.command_id == "c-1"]
    assert store.newest_events(EventFilter(node_id="mi-2"), 2) == [e for e in stored if e.node_id == "mi-2"][-2:]
    both = EventFilter(command_id="c-0", node_id="mi-0")
    assert store.events_after(both, 100) == [e for e in stored if both.passes(e)] != []
    since = EventFilter(since_ms=T0 + 9 * 1000)
    assert store.newest_events(since, 100) == stored[9:]
    assert store.events_after(EventFilter(after_seq=stored[3].seq, command_id="c-1"), 100) == \
        [e for e in stored[4:] if e.command_id == "c-1"]
    assert store.newest_events(EventFilter(command_id="nothing"), 10) == []
    for bad in (0, -1, 10_001):
        with pytest.raises(StoreError, match="limit"):
            store.newest_events(EventFilter(), bad)


def test_announced_details_are_the_last_recorded_per_node_and_for_the_command(store: Store) -> None:
    store.record_events([
        _event(0, node_id="", kind=EventKind.COMMAND, detail=Detail.PENDING),
        _event(1, node_id="", kind=EventKind.COMMAND, detail=Detail.IN_PROGRESS),
        _event(2, node_id="mi-1", detail=Detail.IN_PROGRESS), _event(3, node_id="mi-2", detail=Detail.IN_PROGRESS),
        _event(4, node_id="mi-1", detail=Detail.SUCCESS), _event(5, command_id="other", detail=Detail.FAILED),
        _event(6, command_id="", node_id="mi-2", detail=None, kind=EventKind.NODE, note="noticed")])
    assert store.announced_details("c-1") == {"": Detail.IN_PROGRESS, "mi-1": Detail.SUCCESS,
                                              "mi-2": Detail.IN_PROGRESS}
    assert store.announced_details("none") == {}


def test_pruning_removes_old_events_in_batches_and_never_reuses_their_seqs(store: Store) -> None:
    stored = store.record_events([_event(i) for i in range(10)])
    cutoff = T0 + 7 * 1000  # events 0..6 are older
    assert store.prune_events(cutoff, batch=4) == 4
    assert store.prune_events(cutoff, batch=4) == 3
    assert store.prune_events(cutoff, batch=4) == 0
    assert store.events_after(EventFilter(), 100) == stored[7:]
    assert store.prune_events(T0 + 100_000) == 3  # every event gone: the sequence still goes on
    again = store.record_events([_event(20)])
    assert again[0].seq > stored[-1].seq


def test_the_controllers_pruner_removes_events_past_the_retention_period(store: Store) -> None:
    now = now_ms()
    old = store.record_events([StatusEvent(EventKind.COMMAND, "c-old", "", Detail.SUCCESS, now - 3 * DAY_MS, 0)])
    new = store.record_events([StatusEvent(EventKind.COMMAND, "c-new", "", Detail.SUCCESS, now - 1000, 0)])
    db = Db(store)
    try:
        asyncio.run(Pruner(db, retention_days=2, pause_seconds=0).prune_once())
    finally:
        db.close()
    assert old and store.events_after(EventFilter(), 100) == new
