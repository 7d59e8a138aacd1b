"""What the machine did while the chaos runs ran: the moments the harness itself could not run
(stalls), and the load average.

A bound is about Outpost, on a machine that runs it. When the whole machine stops (it happened on
the shared machine these figures come from: another job used 21 GB and the kernel's OOM killer
froze everything for 40 s), every process stops together, the harness with them, and the time an
invocation took says nothing about Outpost. So a thread here sleeps a quarter of a second at a time
and notes every gap of more than ``STALL_SECONDS``; the checks add the stalls that overlap an
invocation's window to its bound, and the table reports them (how many, how long in all, the
longest), so that an extension is never silent. A stall of the controller alone (a blocked event
loop) is not seen here and excuses nothing.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

TICK_SECONDS = 0.25
STALL_SECONDS = 2.0  # a gap this long is no GIL contention or scheduling noise of this process
LOAD_EVERY = 5.0


@dataclass(frozen=True)
class Stall:
    started: float
    seconds: float


class MachineWatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stalls: list[Stall] = []
        self._loads: list[float] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="chaos-machine", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        last = time.time()
        next_load = last
        while not self._stopping.wait(TICK_SECONDS):
            now = time.time()
            if now - last > STALL_SECONDS:
                with self._lock:
                    self._stalls.append(Stall(last + TICK_SECONDS, now - last - TICK_SECONDS))
            if now >= next_load:
                with self._lock:
                    self._loads.append(os.getloadavg()[0])
                next_load = now + LOAD_EVERY
            last = now

    def stalled(self, start: float, end: float) -> float:
        """Seconds of stall within [start, end]."""
        with self._lock:
            return sum(max(0.0, min(end, s.started + s.seconds) - max(start, s.started)) for s in self._stalls)

    def stalls(self, start: float = 0.0, end: float = float("inf")) -> list[Stall]:
        with self._lock:
            return [s for s in self._stalls if start <= s.started < end]

    def loads(self) -> list[float]:
        with self._lock:
            return list(self._loads)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
