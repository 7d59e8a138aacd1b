"""agent.stop: waits and pauses end when stopped, and thousands of waiters cost each other nothing."""
from __future__ import annotations

import asyncio

from agent.stop import Stop


def test_a_pause_ends_early_when_stopped_and_says_so() -> None:
    async def go() -> tuple[bool, bool, bool]:
        stop = Stop()
        slept = await stop.pause(0.01)
        asyncio.get_running_loop().call_later(0.01, stop.set)
        cut = await asyncio.wait_for(stop.pause(30), 5)
        return slept, cut, await stop.pause(0)

    assert asyncio.run(go()) == (False, True, True)


def test_every_waiter_ends_when_stopped_and_a_later_wait_returns_at_once() -> None:
    async def go() -> tuple[int, bool]:
        stop = Stop()
        waits = [asyncio.create_task(stop.wait()) for _ in range(100)]
        pauses = [asyncio.create_task(stop.pause(60)) for _ in range(100)]
        await asyncio.sleep(0)
        stop.set()
        stop.set()  # twice is once
        await asyncio.wait_for(asyncio.gather(*waits), 5)
        cut = await asyncio.wait_for(asyncio.gather(*pauses), 5)
        await asyncio.wait_for(stop.wait(), 1)
        return sum(cut), stop.is_set()

    assert asyncio.run(go()) == (100, True)


def test_waits_that_end_otherwise_leave_nothing_behind() -> None:
    """A cancelled wait and a pause that slept its time both take their waiter with them."""
    async def go() -> int:
        stop = Stop()
        waits = [asyncio.create_task(stop.wait()) for _ in range(1000)]
        naps = [asyncio.create_task(stop.pause(0.001)) for _ in range(1000)]
        await asyncio.sleep(0)
        for w in waits:
            w.cancel()
        assert await asyncio.gather(*naps) == [False] * 1000
        await asyncio.gather(*waits, return_exceptions=True)
        return len(stop._callbacks)

    assert asyncio.run(go()) == 0


def test_callbacks_run_once_when_stopped_unless_forgotten_and_at_once_when_already_stopped() -> None:
    stop = Stop()
    calls: list[str] = []
    stop.on_set(lambda: calls.append("a"))
    forgotten = stop.on_set(lambda: calls.append("b"))
    stop.forget(forgotten)
    stop.set()
    stop.set()
    stop.on_set(lambda: calls.append("late"))
    assert calls == ["a", "late"]
