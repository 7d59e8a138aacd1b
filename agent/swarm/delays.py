"""Calls due a fixed delay from now, many on one timer.

An agent holds each command's acceptance for a moment (agent/outbox.py); a swarm holds 10,000 at
once. asyncio keeps its timers in a heap ordered by Python-level comparisons, and a cancelled timer
stays in it: measured in a 10,000-agent fan-out, the acceptance timers and their cancels were about
5 % of the swarm's event loop. With one delay for all of them, the calls are due in the order they
were made, so a queue per delay and a timer for its head do: appending is O(1), and nothing is
cancelled (a call that is no longer wanted finds nothing to do when it comes).
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class Delays:
    def __init__(self) -> None:
        self._queues: dict[float, deque[tuple[float, Callable[[], None]]]] = {}
        self._timers: dict[float, asyncio.TimerHandle] = {}

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` ``delay`` seconds from now (on the running loop)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(delay, deque())
        queue.append((loop.time() + delay, fn))
        if delay not in self._timers:
            self._timers[delay] = loop.call_at(queue[0][0], self._fire, delay)

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def _fire(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queues[delay]
        now = loop.time()
        try:
            while queue and queue[0][0] <= now:
                queue.popleft()[1]()
        finally:
            if queue:
                self._timers[delay] = loop.call_at(queue[0][0], self._fire, delay)
            else:
                del self._timers[delay], self._queues[delay]
