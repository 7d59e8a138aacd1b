"""Messages from the agent to the controller.

Every message about a command (ack or refusal, output, step and invocation results) is kept
until the controller answers ResultAck for that command, and replayed in order on every new
stream: results produced while the controller was away, or restarting, are not lost. The
controller stores them idempotently (output by sequence number, statuses by state machine).

An acceptance waits a moment (``accept``) before it goes: a command that finishes within it is
reported by its result alone, which carries when it started, so a quick command costs the agent and
the controller one message each way fewer (a 10,000-node fan-out: 10,000 messages and database
updates). Any other message about the command sends the acceptance first, so the controller never
sees output or a step of a command it has not seen accepted.

What it keeps it also writes to the agent's journal (agent/journal.py) as it queues it, and forgets
there when acknowledged: an agent that dies replays, in its next life, what was not acknowledged
(``restore``).

The outbox takes typed messages (plugins/sdk/wire/messages.py) and encodes each once, as it is
queued, through ``encode`` (the connection's: to protobuf's bytes, which the journal keeps as they
are), so nothing but the connection's edge knows the wire.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence, Set
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

CallLater = Callable[[float, Callable[[], None]], object]  # run a function in so many seconds
M = TypeVar("M")  # a message as the agent holds it
E = TypeVar("E")  # a message as the stream carries it (the connection's: protobuf's bytes)


class Keeper(Protocol[M, E]):
    """Where queued messages are kept across the agent's restarts (agent/journal.py's Journal):
    each as the outbox encoded it for the stream, so it is encoded once."""

    def keep(self, command_id: str, msg: M, encoded: E) -> None: ...

    def forget(self, command_id: str) -> None: ...


class _NoKeeper:
    def keep(self, command_id: str, msg: Any, encoded: Any) -> None:
        pass

    def forget(self, command_id: str) -> None:
        pass


def loop_call_later(delay: float, fn: Callable[[], None]) -> object:
    return asyncio.get_running_loop().call_later(delay, fn)


def _as_is(msg: Any) -> Any:
    return msg


class Outbox(Generic[M, E]):
    def __init__(self, call_later: CallLater = loop_call_later, encode: Callable[[M], E] = _as_is,
                 keeper: Keeper[M, E] | None = None) -> None:
        """``call_later``: the timers of held acceptances (a swarm holds all of its agents' on one,
        agent/swarm/delays.py). ``encode``: a message as the stream carries it. ``keeper``: where
        what is queued is kept until acknowledged (default: nowhere but here)."""
        self._encode = encode
        self._keeper: Keeper[M, E] = keeper or _NoKeeper()
        self._acked = asyncio.Event()  # set at each acknowledgement (a stopping agent waits on it)
        self._log: dict[str, list[E]] = {}
        self._live: asyncio.Queue[E | None] | None = None  # None in it: the stream ended
        self._held: dict[str, M] = {}
        self._call_later = call_later

    def about(self, command_id: str, msg: M, *, final: bool = False) -> None:
        """Queue a message about ``command_id``; it is kept until the controller acknowledges.
        ``final``: the invocation's result, which stands for an acceptance still held."""
        held = self._held.pop(command_id, None)  # its timer finds nothing to release when it comes
        if held is not None and not final:
            self._queue(command_id, held)
        self._queue(command_id, msg)

    def accept(self, command_id: str, msg: M, delay_seconds: float) -> None:
        """Queue the acceptance of ``command_id`` in ``delay_seconds``, or with the next message about
        the command, or never when that message is its result."""
        self._held[command_id] = msg
        self._call_later(delay_seconds, partial(self._release, command_id, msg))

    def _release(self, command_id: str, msg: M) -> None:
        if self._held.get(command_id) is msg:  # still held (not sent with a later message meanwhile)
            del self._held[command_id]
            self._queue(command_id, msg)

    def restore(self, command_id: str, messages: Sequence[M]) -> None:
        """Messages a previous life of the agent queued and the controller did not acknowledge: they
        go first on the next stream, as if queued in this life (they are kept already)."""
        self._log.setdefault(command_id, []).extend(map(self._encode, messages))

    def _queue(self, command_id: str, msg: M) -> None:
        encoded = self._encode(msg)  # once: the keeper keeps what the stream carries
        self._keeper.keep(command_id, msg, encoded)
        self._log.setdefault(command_id, []).append(encoded)
        if self._live is not None:
            self._live.put_nowait(encoded)

    def transient(self, msg: M) -> None:
        """Queue a message worth sending only on the current stream (heartbeats)."""
        if self._live is not None:
            self._live.put_nowait(self._encode(msg))

    def acknowledged(self, command_id: str) -> None:
        if self._log.pop(command_id, None) is not None:
            self._keeper.forget(command_id)
            self._acked.set()

    async def until_acknowledged(self, command_ids: Set[str], seconds: float) -> bool:
        """Wait up to ``seconds`` for the controller to acknowledge all of ``command_ids``; whether it did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while command_ids & self._log.keys():
            self._acked.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._acked.wait(), left)
            except TimeoutError:
                return False
        return True

    def unacknowledged(self) -> frozenset[str]:
        return frozenset(self._log)

    def holds(self, command_id: str) -> bool:
        return command_id in self._log

    async def stream(self, first: M) -> AsyncIterator[E]:
        """The messages of one stream, encoded: ``first`` (Hello), then the replay, then live messages."""
        live: asyncio.Queue[E | None] = asyncio.Queue()
        self._live = live  # set together with the snapshot below: nothing falls between them
        replay = [m for msgs in self._log.values() for m in msgs]
        try:
            yield self._encode(first)
            for encoded in replay:
                yield encoded
            while (encoded := await live.get()) is not None:
                yield encoded
        finally:
            if self._live is live:
                self._live = None

    def disconnect(self) -> None:
        """The stream ended: so does its iterator. gRPC drains it from a task of its own that a call
        ended by the controller never cancels: left waiting, each one held its call, and a fleet
        reconnecting after a controller restart leaked them by the thousand (measured: 70 KB per
        agent per reconnect; once, 10,000 agents grew to 23 GB and were killed)."""
        if self._live is not None:
            self._live.put_nowait(None)
        self._live = None
