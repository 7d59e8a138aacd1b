"""The executed ledger: every command id the agent accepted, fsynced before its first step runs,
so a redelivered or replayed command never runs twice (also across agent restarts).

Each record is open-append-write-fsync-close: no file stays open between records. A record costs
one open and close more than with a held descriptor (noise next to the fsync), and in return an
agent holds no descriptor and no write buffer for its ledger while idle — which matters when one
process holds thousands of agents (``outpost swarm``: with 10,000 agents a held ledger would double
the descriptors the connections need, and the 8 KiB buffer of each open file adds up)."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.durable import fsync_dir, write_all

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class Ledger:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._ids: set[str] = set()
        exists = path.exists()
        data = path.read_bytes() if exists else b""
        for line in data.decode("ascii", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                self._ids.add(parts[1])
        if not exists:  # created here (and its directory fsynced), so no record ever has to create it
            self._append(b"")
            fsync_dir(self._path.parent)
        elif data and not data.endswith(b"\n"):  # a crash cut the last line short: never glue the next
            self._append(b"\n")                   # record onto it
        # else nothing to write: an agent (or 10,000 of a swarm) starts without an fsync

    def _append(self, data: bytes, fsync: bool = True) -> None:
        fd = os.open(self._path, _APPEND, 0o600)
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def record(self, command_id: str, *, fsync: bool = True) -> None:
        """Record ``command_id``: durably when ``fsync`` (returns after fsync); without it the caller
        makes the file durable itself (agent/swarm/groupcommit.py, for many ledgers on one filesystem)."""
        if any(c.isspace() for c in command_id):
            raise ValueError(f"command id with white space: {command_id!r}")
        self._append(f"{int(time.time())} {command_id}\n".encode("ascii"), fsync)
        self._ids.add(command_id)

    def close(self) -> None:
        """Nothing is held open between records; kept for callers that close what they open."""


LedgerWrite = Callable[[Ledger, str], Awaitable[None]]  # how a record reaches the disk before it counts


async def fsync_each(ledger: Ledger, command_id: str) -> None:
    """Record and fsync off the event loop (an agent's own way; a swarm's: agent/swarm/groupcommit.py)."""
    await asyncio.to_thread(ledger.record, command_id)
