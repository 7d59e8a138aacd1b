from __future__ import annotations

import asyncio

from agent.pause import pause


def test_a_pause_ends_early_when_stopped_and_says_so() -> None:
    async def go() -> tuple[bool, bool, bool]:
        stop = asyncio.Event()
        slept = await pause(stop, 0.01)
        asyncio.get_running_loop().call_later(0.01, stop.set)
        cut = await asyncio.wait_for(pause(stop, 30), 5)
        return slept, cut, await pause(stop, 0)

    assert asyncio.run(go()) == (False, True, True)
