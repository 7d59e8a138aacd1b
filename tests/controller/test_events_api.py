"""ListEvents and WatchEvents through AdminService over a real (SQLite) store and the journal, an
operator's real certificate in a stand-in gRPC context: the newest events or a page from a seq; a
watch from a seq replays the stored events, then the live ones, none twice; a watcher the bus
dropped events for (its queue full) has the gap filled from the store."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from controller.events.bus import EventBus, EventKind, StatusEvent
from controller.events.journal import EventJournal
from controller.fleet.capacity import StreamCapacity
from controller.server.admin_service import AdminService
from controller.store import Store
from controller.store.db import Db
from controller.trust.pki import CertificateAuthority, create_ca
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.status import Detail
from tests.controller.test_auth import Aborted, FakeContext
from tests.support.access import admin_access
from tests.support.keys import fixed_sealer


@dataclass
class Context(FakeContext):
    async def send_initial_metadata(self, _metadata: object) -> None:
        return None


@pytest.fixture(scope="module")
def pem() -> bytes:
    return CertificateAuthority(create_ca()).issue_operator("alice").cert_pem


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def make_rig(store: Store) -> Iterator[Callable[..., Rig]]:
    """Rigs over ``store``; their database threads closed at the end."""
    made: list[Rig] = []

    def make(queue_limit: int = 10_000) -> Rig:
        made.append(_rig(store, queue_limit))
        return made[-1]
    yield make
    for rig in made:
        rig.db.close()


@dataclass
class Rig:
    service: AdminService
    db: Db
    bus: EventBus
    journal: EventJournal

    def announce(self, *node_ids: str) -> None:
        for n in node_ids:
            self.bus.announce(EventKind.INVOCATION, "c-1", n, Detail.SUCCESS)


def _rig(store: Store, queue_limit: int = 10_000) -> Rig:
    db = Db(store)
    bus = EventBus(queue_limit)
    journal = EventJournal(bus, functools.partial(db.run, store.record_events), gather_seconds=0)
    service = AdminService(db, SimpleNamespace(), bus, "", SimpleNamespace(validate=None, describe=None),  # type: ignore[arg-type]
                           StreamCapacity(10, 1024), admin_access(db, "alice"))  # type: ignore[arg-type]
    return Rig(service, db, bus, journal)


async def _take(stream: AsyncIterator[pb.StatusEvent], n: int) -> list[tuple[int, str]]:
    out = []
    async for e in stream:
        out.append((e.seq, e.node_id))
        if len(out) == n:
            break
    return out


def test_list_events_newest_or_from_a_seq(make_rig: Callable[..., Rig], pem: bytes) -> None:
    rig = make_rig()

    async def go() -> tuple[pb.ListEventsResponse, pb.ListEventsResponse, pb.ListEventsResponse, list[str]]:
        rig.announce(*(f"mi-{i}" for i in range(1, 8)))
        await rig.journal.close()
        newest = await rig.service.ListEvents(pb.ListEventsRequest(limit=3), Context(pem))
        page = await rig.service.ListEvents(pb.ListEventsRequest(after_seq=2, limit=3), Context(pem))
        last = await rig.service.ListEvents(pb.ListEventsRequest(after_seq=5, node_id="mi-7"), Context(pem))
        refused = Context(pem)
        with pytest.raises(Aborted):
            await rig.service.ListEvents(pb.ListEventsRequest(limit=10_001), refused)
        return newest, page, last, [d for _, d in refused.aborted]
    newest, page, last, refused = asyncio.run(go())
    assert [e.seq for e in newest.events] == [5, 6, 7] and not newest.more
    assert [e.seq for e in page.events] == [3, 4, 5] and page.more
    assert [(e.seq, e.node_id, e.kind) for e in last.events] == [(7, "mi-7", "invocation")] and not last.more
    assert refused == ["limit: at most 10000, got 10001"]


def test_a_watch_from_a_seq_replays_then_follows_each_event_once(store: Store, make_rig: Callable[..., Rig],
                                                                pem: bytes) -> None:
    rig = make_rig()

    async def go() -> list[tuple[int, str]]:
        rig.announce("mi-1", "mi-2", "mi-3")
        await asyncio.sleep(0.1)  # stored and published before the watch begins
        (both,) = store.record_events([StatusEvent(EventKind.INVOCATION, "c-1", "mi-4", Detail.SUCCESS, 1, 0)])
        stream = rig.service.WatchEvents(pb.WatchEventsRequest(after_seq=1), Context(pem))
        taking = asyncio.create_task(_take(stream, 4))
        await asyncio.sleep(0.1)  # subscribed, and the store read (2, 3, 4)
        rig.bus.deliver(both)  # seq 4 published after the watch subscribed: in the store and the queue
        rig.announce("mi-5")
        got = await asyncio.wait_for(taking, 10)
        await rig.journal.close()
        return got
    assert asyncio.run(go()) == [(2, "mi-2"), (3, "mi-3"), (4, "mi-4"), (5, "mi-5")]


def test_a_watcher_the_bus_dropped_events_for_has_the_gap_filled_from_the_store(make_rig: Callable[..., Rig],
                                                                                 pem: bytes) -> None:
    rig = make_rig(queue_limit=2)  # the bus keeps two events a watcher has not read

    async def go() -> list[tuple[int, str]]:
        stream = rig.service.WatchEvents(pb.WatchEventsRequest(), Context(pem))
        first = asyncio.create_task(_take(stream, 1))
        await asyncio.sleep(0.05)
        rig.announce("mi-1")
        got = await asyncio.wait_for(first, 10)
        rig.announce(*(f"mi-{i}" for i in range(2, 7)))  # five while the watcher does not read: 3 dropped
        await rig.journal.close()
        got += await asyncio.wait_for(_take(stream, 5), 10)
        return got
    assert asyncio.run(go()) == [(i, f"mi-{i}") for i in range(1, 7)]
