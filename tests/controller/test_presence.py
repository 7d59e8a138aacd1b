"""Presence: what reaches the store, in which batches and order (a recording store in place of the
database; the store's own handling of sightings is tested in tests/store/)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from controller.fleet.presence import Presence
from controller.model import PingStatus
from controller.store.presence import Sighting
from plugins.sdk.facts import Facts, Platform

HOLD = 0.05
FACTS = Facts(hostname="h", platform=Platform.LINUX, os_name="linux", os_version="1", architecture="x86_64",
              ip_addresses=(), agent_version="0")


class _Store:
    def __init__(self, registered: set[str]) -> None:
        self.registered = registered
        self.batches: list[list[tuple[str, PingStatus, bool]]] = []

    def record_sightings(self, sightings: Sequence[Sighting]) -> set[str]:
        self.batches.append([(s.node_id, s.status, s.facts is not None) for s in sightings])
        return {s.node_id for s in sightings} & self.registered


class _Db:
    def __init__(self, store: _Store) -> None:
        self.store = store

    async def run(self, fn: Callable[..., object], *args: object) -> object:
        await asyncio.sleep(0)
        return fn(*args)


def _run(registered: set[str], scenario: Callable[[Presence, _Store], Awaitable[None]]) -> _Store:
    store = _Store(registered)
    asyncio.run(scenario(Presence(_Db(store), beat_hold_seconds=HOLD), store))  # type: ignore[arg-type]
    return store


def test_heartbeats_are_held_and_stored_together_with_the_latest_per_node() -> None:
    async def scenario(p: Presence, store: _Store) -> None:
        for node in ("a", "b", "a"):
            p.heartbeat(node)
        await asyncio.sleep(HOLD / 5)
        assert not store.batches  # nothing yet: held
        await asyncio.sleep(HOLD * 3)
    store = _run({"a", "b"}, scenario)
    assert store.batches == [[("a", PingStatus.ONLINE, False), ("b", PingStatus.ONLINE, False)]]


def test_a_stream_end_supersedes_the_nodes_held_heartbeat() -> None:
    async def scenario(p: Presence, _: _Store) -> None:
        p.heartbeat("a")
        p.heartbeat("b")
        await p.gone("a")  # stored at once, and a's heartbeat is never stored after it
        await asyncio.sleep(HOLD * 3)
    store = _run({"a", "b"}, scenario)
    assert store.batches == [[("a", PingStatus.CONNECTION_LOST, False)], [("b", PingStatus.ONLINE, False)]]


def test_a_hello_is_stored_at_once_and_learns_whether_the_node_is_registered() -> None:
    seen: list[bool] = []

    async def scenario(p: Presence, _: _Store) -> None:
        p.heartbeat("a")
        seen.append(await p.hello("a", FACTS))
        seen.append(await p.hello("stranger", FACTS))
        await asyncio.sleep(HOLD * 3)
    store = _run({"a"}, scenario)
    assert seen == [True, False]
    assert store.batches == [[("a", PingStatus.ONLINE, True)], [("stranger", PingStatus.ONLINE, True)]]


def test_a_heartbeat_after_the_stream_end_is_stored_after_it() -> None:
    async def scenario(p: Presence, _: _Store) -> None:
        await p.gone("a")
        p.heartbeat("a")  # a new stream of the node, heartbeating
        await asyncio.sleep(HOLD * 3)
    store = _run({"a"}, scenario)
    assert store.batches == [[("a", PingStatus.CONNECTION_LOST, False)], [("a", PingStatus.ONLINE, False)]]
