"""Status changes of commands and invocations, fanned out in-process to watchers and webhooks.

A :class:`StatusFeed` is owned by the controller (no module-level state). Dispatch code calls
:meth:`StatusFeed.publish` whenever a command or an invocation changes SSM status; the feed stamps
the event with an increasing ``seq`` and hands it to

* every **subscriber** (an ``asyncio.Queue`` from :meth:`StatusFeed.subscribe`), bounded: a
  subscriber that falls behind loses its *oldest* events, counted in :meth:`StatusFeed.dropped_for`
  and :attr:`StatusFeed.dropped`; a gap in ``seq`` tells the subscriber it lost some;
* every **sink** (:meth:`StatusFeed.add_sink`), a synchronous callable that must not block, e.g.
  ``WebhookDispatcher.submit``. A sink that raises is logged and never disturbs the publisher.

``publish`` never blocks and never awaits. The feed is not thread-safe: call it from the event
loop's thread. :meth:`StatusFeed.close` ends every subscriber with ``None``; a closed feed still
forwards to its sinks (they have their own lifecycle, e.g. a dispatcher drained at shutdown).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

KIND_COMMAND = "command"
KIND_INVOCATION = "invocation"
KINDS = frozenset({KIND_COMMAND, KIND_INVOCATION})
DEFAULT_QUEUE_LIMIT = 10_000

StatusSink = Callable[["StatusEvent"], None]


def iso_utc_ms(at_ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with milliseconds: ``2026-11-28T08:22:14.123Z``."""
    seconds, millis = divmod(at_ms, 1000)  # integer maths: no float rounding of the milliseconds
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


@dataclass(frozen=True)
class StatusEvent:
    """One status change. ``node_id`` is ``""`` for command events; ``status`` and ``detail`` are
    the SSM ``Status`` and ``StatusDetails`` values (``"InProgress"``, ``"DeliveryTimedOut"``)."""

    kind: str
    command_id: str
    node_id: str
    status: str
    detail: str
    at_ms: int
    seq: int

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "commandId": self.command_id,
            "nodeId": self.node_id,
            "status": self.status,
            "statusDetails": self.detail,
            "time": iso_utc_ms(self.at_ms),
            "seq": self.seq,
        }


StatusQueue = asyncio.Queue[StatusEvent | None]


class StatusFeed:
    """Fan-out of :class:`StatusEvent` to bounded async subscribers and synchronous sinks."""

    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        self._limit = queue_limit
        self._subs: dict[StatusQueue, int] = {}  # subscriber -> events it lost to overflow
        self._sinks: list[StatusSink] = []
        self._seq = 0
        self._dropped_gone = 0  # drops of subscribers that have since unsubscribed
        self._closed = False

    # -- subscribers -------------------------------------------------------------------------------

    def subscribe(self, queue_limit: int | None = None) -> StatusQueue:
        """A queue of every event published from now on; ``None`` in it means the feed closed."""
        q: StatusQueue = asyncio.Queue(queue_limit or self._limit)
        self._subs[q] = 0
        if self._closed:
            q.put_nowait(None)
        return q

    def unsubscribe(self, q: StatusQueue) -> None:
        self._dropped_gone += self._subs.pop(q, 0)

    def dropped_for(self, q: StatusQueue) -> int:
        """How many events this subscriber lost because its queue was full."""
        return self._subs.get(q, 0)

    @property
    def dropped(self) -> int:
        """Events lost to overflow, over all subscribers past and present."""
        return self._dropped_gone + sum(self._subs.values())

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def closed(self) -> bool:
        return self._closed

    # -- sinks -------------------------------------------------------------------------------------

    def add_sink(self, sink: StatusSink) -> None:
        """Call ``sink(event)`` for every event. It must return quickly and never block."""
        self._sinks.append(sink)

    def remove_sink(self, sink: StatusSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    # -- publishing --------------------------------------------------------------------------------

    def publish(self, kind: str, command_id: str, node_id: str, status: str, detail: str,
                at_ms: int | None = None) -> StatusEvent:
        """Stamp, fan out and return one event. Never blocks; ``at_ms`` defaults to now."""
        if kind not in KINDS:
            raise ValueError(f"unknown status event kind {kind!r}")
        self._seq += 1
        event = StatusEvent(kind=kind, command_id=command_id, node_id=node_id, status=status,
                            detail=detail, at_ms=now_ms() if at_ms is None else at_ms,
                            seq=self._seq)
        if not self._closed:
            for q in self._subs:
                self._offer(q, event)
        for sink in tuple(self._sinks):
            try:
                sink(event)
            except Exception:
                log.exception("status sink %r failed on event seq=%d; continuing", sink, event.seq)
        return event

    def _offer(self, q: StatusQueue, item: StatusEvent | None) -> None:
        if q.full():
            q.get_nowait()  # the oldest goes; the watcher sees a gap in seq
            self._subs[q] += 1
        q.put_nowait(item)

    def close(self) -> None:
        """Wake every subscriber with ``None``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for q in self._subs:
            self._offer(q, None)
