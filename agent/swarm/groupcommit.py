"""How the ledgers and journals of many agents on one filesystem reach the disk (``outpost swarm``).

One agent appends and fsyncs its ledger on a worker thread, per command (agent/ledger.py,
``fsync_each``). Many agents on one filesystem (``GroupCommit``): each record is appended at once
and made durable by one syncfs(2) shared with every record appended meanwhile. On real nodes every
agent has its own disk and fsyncs in parallel; a swarm's thousands of ledgers share one disk, where
one fsync per agent would serialize (about 0.6 ms each here: 6 s for a 10,000-node fan-out) and turn
the simulator's disk into the thing measured. The guarantee is the same: the record is on disk
before the call returns, and the command is refused (``ledger_unwritable``) when it cannot be.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.ledger import Ledger


def filesystem_sync() -> Callable[[Path], None]:
    """syncfs(2) of the filesystem holding a directory where the C library has it (Linux), else
    sync(2) of every filesystem."""
    import ctypes  # here: a single agent never needs it (its idle memory counts)

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return lambda _directory: os.sync()
    syncfs.argtypes = (ctypes.c_int,)
    syncfs.restype = ctypes.c_int

    def sync(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs {directory}: {os.strerror(err)}")
        finally:
            os.close(fd)
    return sync


class GroupCommit:
    """A ``LedgerWrite`` for many ledgers under ``directory``: one flush per burst of records."""

    def __init__(self, directory: Path, sync: Callable[[Path], None] | None = None) -> None:
        self._directory = directory
        self._sync = sync or filesystem_sync()
        self._waiting: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.flushes = 0

    async def __call__(self, ledger: Ledger, command_id: str) -> None:
        ledger.record(command_id, fsync=False)  # appended (OSError: the agent refuses the command)
        await self._next_flush()

    async def sync_files(self, paths: Sequence[Path]) -> None:
        """A ``SyncFiles`` for the agents' journal file (agent/journal_file.py): written already, made durable
        by the next flush, with the ledgers' records."""
        await self._next_flush()

    async def _next_flush(self) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        """Every record appended before a flush starts is durable when it ends; those appended
        during it wait for the next one."""
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.flushes += 1
            failed: OSError | None = None
            try:
                await asyncio.to_thread(self._sync, self._directory)
            except OSError as exc:
                failed = exc
            for waiter in (w for w in batch if not w.done()):
                if failed is None:
                    waiter.set_result(None)
                else:  # each waiter raises its own copy
                    waiter.set_exception(OSError(failed.errno, failed.strerror))
