"""agent.swarm.delays: calls due a fixed delay from now, in order, on one timer per delay."""
from __future__ import annotations

import asyncio

import pytest

from agent.swarm.delays import Delays


def test_calls_come_in_order_after_their_delay_and_the_queues_empty() -> None:
    got: list[str] = []

    async def scenario() -> None:
        delays = Delays()
        for name in ("a", "b", "c"):
            delays.call_later(0.05, lambda n=name: got.append(n))
        delays.call_later(0.01, lambda: got.append("short"))
        assert delays.pending() == 4
        await asyncio.sleep(0.02)
        assert got == ["short"]
        await asyncio.sleep(0.06)
        assert got == ["short", "a", "b", "c"] and delays.pending() == 0
        delays.call_later(0.01, lambda: got.append("again"))  # a timer is armed anew
        await asyncio.sleep(0.03)
    asyncio.run(scenario())
    assert got[-1] == "again"


def test_a_failing_call_does_not_strand_the_rest() -> None:
    got: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        delays = Delays()
        delays.call_later(0.01, boom)
        delays.call_later(0.01, lambda: got.append("after"))
        await asyncio.sleep(0.05)
        assert got == ["after"] and delays.pending() == 0

    loop_errors: list[BaseException] = []

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        loop_errors.append(context.get("exception"))

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(handler)
        await scenario()
    asyncio.run(main())
    assert len(loop_errors) == 1 and isinstance(loop_errors[0], RuntimeError)


@pytest.mark.parametrize("n", [1, 1000])
def test_many_calls_share_one_timer(n: int) -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        delays = Delays()
        before = len(loop._scheduled)  # type: ignore[attr-defined]  # asyncio's timer heap
        for _ in range(n):
            delays.call_later(60, lambda: None)
        return len(loop._scheduled) - before  # type: ignore[attr-defined]
    assert asyncio.run(scenario()) == 1
