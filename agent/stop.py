"""The stop signal an agent's tasks wait on: its session, its reconnect backoff, the idle-memory
trimmer and, in ``outpost swarm``, the status lines and every one of its agents.

``asyncio.Event`` keeps its waiters in a deque and removes each one, when its wait ends, with a
linear scan. One agent has a handful of waiters; a swarm of 10,000 has two per agent (the session's
watch and the backoff's sleep), and every reconnect ends both. Measured in a controller restart
under 10,000 swarm agents: 40 % of the swarm's event loop went to those scans, the loop fell tens of
seconds behind, and no agent got through to the restarted controller for 25 s. Here the waiters are
a set, and a pause is one future that either the timer or the stop resolves (no task per sleep);
an agent's session has its call cancelled by a callback instead of a task watching the stop.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Stop:
    def __init__(self) -> None:
        self._set = False
        self._callbacks: set[Callable[[], None]] = set()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        """Stop: every wait and pause ends now and every callback runs; later ones end at once."""
        if self._set:
            return
        self._set = True
        callbacks, self._callbacks = self._callbacks, set()
        for fn in callbacks:
            fn()

    def on_set(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` when stopped (at once if already); returns the handle to ``forget`` it by."""
        handle = functools.partial(fn)  # a handle of its own, even for a function registered twice
        if self._set:
            fn()
        else:
            self._callbacks.add(handle)
        return handle

    def forget(self, handle: Callable[[], None]) -> None:
        self._callbacks.discard(handle)

    async def wait(self) -> None:
        """Until stopped."""
        await self.pause(None)

    async def pause(self, seconds: float | None) -> bool:
        """Sleep ``seconds`` (None: for good) unless stopped first; True when stopped (the caller
        should end)."""
        if self._set:  # even for 0 s
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        timer = None if seconds is None else loop.call_later(seconds, _wake, fut)
        handle = self.on_set(functools.partial(_wake, fut))
        try:
            await fut
        finally:
            if timer is not None:
                timer.cancel()
            self.forget(handle)
        return self._set
