"""Messages from the agent to the controller.

Every message about a command (ack or refusal, output, step and invocation results) is kept
until the controller answers ResultAck for that command, and replayed in order on every new
stream: results produced while the controller was away, or restarting, are not lost. The
controller stores them idempotently (output by sequence number, statuses by state machine).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from outpost.v1 import outpost_pb2 as pb


class Outbox:
    def __init__(self) -> None:
        self._log: dict[str, list[pb.AgentMessage]] = {}
        self._live: asyncio.Queue[pb.AgentMessage] | None = None

    def about(self, command_id: str, msg: pb.AgentMessage) -> None:
        """Queue a message about ``command_id``; it is kept until the controller acknowledges."""
        self._log.setdefault(command_id, []).append(msg)
        if self._live is not None:
            self._live.put_nowait(msg)

    def transient(self, msg: pb.AgentMessage) -> None:
        """Queue a message worth sending only on the current stream (heartbeats)."""
        if self._live is not None:
            self._live.put_nowait(msg)

    def acknowledged(self, command_id: str) -> None:
        self._log.pop(command_id, None)

    def unacknowledged(self) -> frozenset[str]:
        return frozenset(self._log)

    def holds(self, command_id: str) -> bool:
        return command_id in self._log

    async def stream(self, first: pb.AgentMessage) -> AsyncIterator[pb.AgentMessage]:
        """The messages of one stream: ``first`` (Hello), then the replay, then live messages."""
        live: asyncio.Queue[pb.AgentMessage] = asyncio.Queue()
        self._live = live  # set together with the snapshot below: nothing falls between them
        replay = [m for msgs in self._log.values() for m in msgs]
        try:
            yield first
            for msg in replay:
                yield msg
            while True:
                yield await live.get()
        finally:
            if self._live is live:
                self._live = None

    def disconnect(self) -> None:
        self._live = None
