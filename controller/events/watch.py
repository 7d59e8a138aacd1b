"""Live events per command, for `playbook apply` and `command` watchers (WatchCommand)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from controller.model import CommandRecord, InvocationRecord
from plugins.sdk.wire.results import OutputChunk


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


class EventBus:
    def __init__(self, queue_limit: int = 10_000) -> None:
        self._subs: dict[str, set[asyncio.Queue[CommandEvent | None]]] = {}
        self._limit = queue_limit

    def subscribe(self, command_id: str) -> asyncio.Queue[CommandEvent | None]:
        """A queue of the command's events; ``None`` in it means the bus closed (shutdown)."""
        q: asyncio.Queue[CommandEvent | None] = asyncio.Queue(self._limit)
        self._subs.setdefault(command_id, set()).add(q)
        return q

    def unsubscribe(self, command_id: str, q: asyncio.Queue[CommandEvent | None]) -> None:
        subs = self._subs.get(command_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                del self._subs[command_id]

    def watched(self, command_id: str) -> bool:
        """Whether anyone watches the command (else its invocations need not be read to announce them)."""
        return bool(self._subs.get(command_id))

    def publish(self, command_id: str, event: CommandEvent) -> None:
        """A watcher too slow to keep up loses events (dispatch never waits for it), but never the
        command's end, which takes the place of the oldest: a watcher ends when the command does."""
        for q in self._subs.get(command_id, ()):
            if q.full():
                if not (isinstance(event, CommandChanged) and event.command.detail.terminal):
                    continue
                q.get_nowait()
            q.put_nowait(event)

    def close(self) -> None:
        """Wake every watcher with the end marker."""
        for subs in self._subs.values():
            for q in subs:
                if q.full():
                    q.get_nowait()
                q.put_nowait(None)
