"""The fleet's events made durable: the bus hands every StatusEvent here (``EventBus.record_with``)
instead of stamping it in memory; the journal stores what has gathered in one transaction (the
database gives each its ``seq``) and only then publishes them, with that seq, to the fleet's
subscribers and sinks. So a follower that saw seq N can read everything after N from the store, and
no seq restarts with the controller.

Announcing never waits: events gather for ``GATHER_SECONDS`` (and while a write is under way: the
database runs one job at a time), so that a fan-out's thousands of status changes, or a stream of
small commands' few each, cost a transaction now and then, not one each; a follower sees them that
much later. At most
``MAX_PENDING`` wait; beyond that they are counted, dropped and logged (a database that stopped
answering). A write that fails is tried again, with a pause, until ``close``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from controller.events.bus import EventBus
from controller.model import StatusEvent

log = logging.getLogger(__name__)

MAX_PENDING = 100_000
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)  # pauses after failed writes, the last repeated
CLOSE_SECONDS = 10.0
GATHER_SECONDS = 0.05  # how long events gather before they are stored (and published)

StoreEvents = Callable[[Sequence[StatusEvent]], Awaitable[Sequence[StatusEvent]]]


class EventJournal:
    def __init__(self, bus: EventBus, store: StoreEvents, max_pending: int = MAX_PENDING,
                 gather_seconds: float = GATHER_SECONDS) -> None:
        """``store``: writes events in one transaction and returns them with their seqs."""
        self._bus = bus
        self._gather = gather_seconds
        self._store = store
        self._max_pending = max_pending
        self._pending: list[StatusEvent] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failures = 0
        bus.record_with(self.submit)

    def submit(self, event: StatusEvent) -> None:
        """Store ``event`` with the next batch, then publish it; never waits."""
        if self._closing and (self._writer is None or self._writer.done()):
            self.dropped += 1  # announced as the controller stops, after the last write
            log.warning("status event not recorded (the journal is closed): %s %s %s", event.kind.value,
                        event.command_id or "-", event.node_id or "-")
            return
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("the event journal is %d events behind its database; %d dropped so far",
                          self._max_pending, self.dropped)
            return
        if self._writer is None:  # on the first event: in the loop that serves
            self._writer = asyncio.create_task(self._write_forever(), name="event-journal")
        self._pending.append(event)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def close(self, timeout_seconds: float = CLOSE_SECONDS) -> None:
        """Store and publish what waits (within ``timeout_seconds``), then stop."""
        self._closing = True
        self._wake.set()
        if self._writer is None:
            return
        await asyncio.wait({self._writer}, timeout=timeout_seconds)
        if not self._writer.done():
            self._writer.cancel()
            log.error("the event journal could not store %d event(s) within %g s; not recorded",
                      len(self._pending), timeout_seconds)

    async def _write_forever(self) -> None:
        failed = 0
        while True:
            await self._wake.wait()
            if not self._closing and self._gather > 0:
                await asyncio.sleep(self._gather)
            self._wake.clear()
            if self._pending:
                batch = self._pending
                self._pending = []
                try:
                    stored = await self._store(batch)
                except Exception as exc:  # noqa: BLE001 - the events wait for the next try, in order
                    self.failures += 1
                    self._pending[:0] = batch
                    pause = RETRY_SECONDS[min(failed, len(RETRY_SECONDS) - 1)]
                    failed += 1
                    if failed == 1 or failed % 20 == 0:
                        log.error("the event journal could not store %d event(s) (%s); trying again in %g s",
                                  len(batch), exc, pause)
                    if self._closing:
                        pause = min(pause, 0.5)
                    await asyncio.sleep(pause)
                    self._wake.set()
                    continue
                failed = 0
                for event in stored:
                    self._bus.deliver(event)
            if self._closing and not self._pending:
                return
