"""The controller's one event bus: typed events on two kinds of topic.

- **A command's topic** (``subscribe(command_id)``): its output as it arrives, its invocations and its
  record as they change. ``WatchCommand`` and ``RunCommand`` follow it. A watcher too slow to keep
  up loses events (dispatch never waits for it), but never the command's end, which takes the place
  of the oldest: a watcher ends when the command does.
- **The fleet's topic** (``subscribe_fleet()``, and sinks): every status change of every command and
  invocation, as a ``StatusEvent`` stamped with an increasing ``seq``. In a controller the seq is the
  store's: ``announce`` hands the event to the journal (``record_with``; controller/events/journal.py),
  which stores it and then ``deliver``s it with its seq, so a follower can resume past the last seq it
  saw, across restarts; without a journal (tests) the bus stamps it in memory and delivers at once.
  ``outpost events --follow`` (``WatchEvents``) and the webhooks (a sink) follow it. A subscriber
  that falls behind loses its *oldest* events, counted (``dropped_for``, ``dropped``); the gap in
  ``seq`` tells it (WatchEvents fills it from the store). A sink is a synchronous callable that must
  return at once (``WebhookSender.submit``); one that raises is logged and disturbs nobody.

Publishing never blocks and never awaits; the bus is not thread-safe (the event loop's thread only).
``close`` ends every subscriber of both kinds with ``None``; a closed bus still hands the fleet's
events to its sinks, which have a lifecycle of their own (the webhooks drain at shutdown).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from controller.model import CommandRecord, EventKind, InvocationRecord, StatusEvent, iso_utc_ms
from plugins.sdk.host.clock import now_ms
from plugins.sdk.status import Detail
from plugins.sdk.wire.results import OutputChunk

log = logging.getLogger(__name__)

__all__ = ["EventKind", "StatusEvent", "iso_utc_ms"]  # their home is controller/model.py

DEFAULT_QUEUE_LIMIT = 10_000


# ---------------------------------------------------------------- a command's events

@dataclass(frozen=True)
class OutputArrived:
    node_id: str
    chunk: OutputChunk


@dataclass(frozen=True)
class InvocationChanged:
    invocation: InvocationRecord


@dataclass(frozen=True)
class CommandChanged:
    command: CommandRecord


CommandEvent = OutputArrived | InvocationChanged | CommandChanged


# ---------------------------------------------------------------- the fleet's events

StatusSink = Callable[[StatusEvent], None]
StatusRecorder = Callable[[StatusEvent], None]
CommandQueue = asyncio.Queue[CommandEvent | None]
StatusQueue = asyncio.Queue[StatusEvent | None]


class EventBus:
    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        self._limit = queue_limit
        self._commands: dict[str, set[CommandQueue]] = {}
        self._lost: dict[CommandQueue, int] = {}  # command watcher -> events it lost to overflow
        self._fleet: dict[StatusQueue, int] = {}  # subscriber -> events it lost to overflow
        self._sinks: list[StatusSink] = []
        self._recorder: StatusRecorder | None = None
        self._seq = 0
        self._dropped_gone = 0  # drops of fleet subscribers that have since unsubscribed
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # -- a command's topic -------------------------------------------------------------------------

    def subscribe(self, command_id: str) -> CommandQueue:
        """A queue of the command's events; ``None`` in it means the bus closed (shutdown)."""
        q: CommandQueue = asyncio.Queue(self._limit)
        self._commands.setdefault(command_id, set()).add(q)
        self._lost[q] = 0
        return q

    def unsubscribe(self, command_id: str, q: CommandQueue) -> None:
        self._lost.pop(q, None)
        subs = self._commands.get(command_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                del self._commands[command_id]

    def watched(self, command_id: str) -> bool:
        """Whether anyone watches the command (else its invocations need not be read to announce them)."""
        return bool(self._commands.get(command_id))

    def publish(self, command_id: str, event: CommandEvent) -> None:
        for q in self._commands.get(command_id, ()):
            if q.full():
                self._lost[q] += 1  # this event, or the oldest that makes room for the end
                if not (isinstance(event, CommandChanged) and event.command.detail.terminal):
                    continue
                q.get_nowait()
            q.put_nowait(event)

    def lost(self, q: CommandQueue) -> int:
        """How many of its command's events this watcher lost because its queue was full."""
        return self._lost.get(q, 0)

    # -- the fleet's topic -------------------------------------------------------------------------

    def subscribe_fleet(self, queue_limit: int | None = None) -> StatusQueue:
        """A queue of every status change from now on; ``None`` in it means the bus closed."""
        q: StatusQueue = asyncio.Queue(queue_limit or self._limit)
        self._fleet[q] = 0
        if self._closed:
            q.put_nowait(None)
        return q

    def unsubscribe_fleet(self, q: StatusQueue) -> None:
        self._dropped_gone += self._fleet.pop(q, 0)

    def dropped_for(self, q: StatusQueue) -> int:
        """How many events this fleet subscriber lost because its queue was full."""
        return self._fleet.get(q, 0)

    @property
    def dropped(self) -> int:
        """Fleet events lost to overflow, over all subscribers past and present."""
        return self._dropped_gone + sum(self._fleet.values())

    @property
    def fleet_subscribers(self) -> int:
        return len(self._fleet)

    @property
    def last_seq(self) -> int:
        return self._seq

    def add_sink(self, sink: StatusSink) -> None:
        """Call ``sink(event)`` for every status change. It must return quickly and never block."""
        self._sinks.append(sink)

    def remove_sink(self, sink: StatusSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def notice(self, node_id: str, note: str) -> StatusEvent:
        """A node event: what the controller noticed of the node's connections."""
        return self.announce(EventKind.NODE, "", node_id, None, note=note)

    def record_with(self, recorder: StatusRecorder | None) -> None:
        """Hand every announced event to ``recorder`` (unstamped), which stores it and ``deliver``s it."""
        self._recorder = recorder

    def announce(self, kind: EventKind, command_id: str, node_id: str, detail: Detail | None,
                 at_ms: int | None = None, note: str = "") -> StatusEvent:
        """A status change for the fleet's subscribers and sinks: to the recorder (returned with seq 0,
        delivered once stored), or stamped here and delivered at once (returned stamped)."""
        event = StatusEvent(kind, command_id, node_id, detail, now_ms() if at_ms is None else at_ms, 0, note)
        if self._recorder is not None:
            self._recorder(event)
            return event
        event = StatusEvent(kind, command_id, node_id, detail, event.at_ms, self._seq + 1, note)
        self.deliver(event)
        return event

    def deliver(self, event: StatusEvent) -> None:
        """Hand a stamped event to the fleet's subscribers and sinks."""
        self._seq = max(self._seq, event.seq)
        if not self._closed:
            for q in self._fleet:
                if q.full():
                    q.get_nowait()  # the oldest goes; the subscriber sees a gap in seq
                    self._fleet[q] += 1
                q.put_nowait(event)
        for sink in tuple(self._sinks):
            try:
                sink(event)
            except Exception:
                log.exception("status sink %r failed on event seq=%d; continuing", sink, event.seq)

    # -- the end -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Wake every subscriber of both kinds with the end marker. Idempotent."""
        if self._closed:
            return
        self._closed = True
        queues: list[asyncio.Queue] = [*self._fleet, *(q for subs in self._commands.values() for q in subs)]
        for q in queues:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)
