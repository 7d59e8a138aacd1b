"""plugins.sdk.host.gcfreeze: survivors frozen out of the collector's walks, cycles still reclaimed at
each refresh, nothing left frozen once the freezer stops."""
from __future__ import annotations

import asyncio
import gc
import weakref

from plugins.sdk.host.gcfreeze import Freezer


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """A two-object garbage cycle, only reachable through the returned weak reference."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_survivors_are_frozen_and_all_is_restored_when_the_freezer_stops() -> None:
    before = gc.get_threshold()

    async def scenario() -> tuple[int, int, int]:
        task = asyncio.create_task(Freezer(interval_seconds=0.01, refresh_seconds=3600, young_threshold=12345).run())
        await asyncio.sleep(0.1)
        frozen, young = gc.get_freeze_count(), gc.get_threshold()[0]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return frozen, young, gc.get_freeze_count()

    try:
        frozen, young, after = asyncio.run(scenario())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert frozen > 1000  # the whole interpreter's objects, at least
    assert young == 12345
    assert after == 0 and gc.get_threshold() == before


def test_a_frozen_garbage_cycle_waits_for_the_refresh() -> None:
    try:
        ref = cycle()
        gc.freeze()
        gc.collect()
        assert ref() is not None  # frozen: the collector does not look at it
        assert Freezer.refresh() >= 2
        assert ref() is None
        assert gc.get_freeze_count() > 0  # what survived the refresh is frozen again
    finally:
        gc.unfreeze()


def test_the_loop_refreshes_once_its_refresh_period_is_over() -> None:
    async def scenario() -> weakref.ref[Node]:
        ref = cycle()
        gc.freeze()
        task = asyncio.create_task(Freezer(interval_seconds=0.01, refresh_seconds=0.05).run())
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return ref

    try:
        ref = asyncio.run(scenario())
    finally:
        gc.unfreeze()
    assert ref() is None
