"""How the ledgers and journals of many agents on one filesystem reach the disk (``outpost swarm``).

One agent appends and fsyncs its ledger on a worker thread, per command (agent/ledger.py,
``fsync_each``). Many agents on one filesystem (``GroupCommit``): each record is appended at once
and made durable by one syncfs(2) shared with every record appended meanwhile. On real nodes every
agent has its own disk and fsyncs in parallel; a swarm's thousands of ledgers share one disk, where
one fsync per agent would serialize (about 0.6 ms each here: 6 s for a 10,000-node fan-out) and turn
the simulator's disk into the thing measured. The guarantee is the same: the record is on disk
before the call returns, and the command is refused (``ledger_unwritable``) when it cannot be.

The agents' shared journal file (agent/journal_file.py) asks for a sync after results; nothing waits
for it (its records are written already: a kill -9 of the swarm loses none). It rides on the
ledgers' next flush, and starts one of its own only after ``JOURNAL_LINGER_SECONDS`` without one: a
flush after every batch of results, back to back once the commands stopped coming, cost about a
tenth of a 10,000-node fan-out here (each syncfs walks the inodes of 10,000 agents' files; the
simulator's shared disk again, where real nodes each fsync their own file).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.ledger import Ledger

# How long the journal's syncs wait for the ledgers' next flush before starting one (the swarm's
# agents' results are written to the page cache at once: only a crash of the machine could lose them).
JOURNAL_LINGER_SECONDS = 1.0


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

    def __init__(self, directory: Path, sync: Callable[[Path], None] | None = None,
                 linger_seconds: float = JOURNAL_LINGER_SECONDS) -> None:
        """``linger_seconds``: how long a journal sync waits for a ledger's flush to ride on before
        it starts one of its own."""
        self._directory = directory
        self._sync = sync or filesystem_sync()
        self._linger = linger_seconds
        self._waiting: list[asyncio.Future[None]] = []  # ledger records: a command waits for them
        self._riders: list[asyncio.Future[None]] = []  # journal syncs: no command waits for them
        self._ledger_came = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.flushes = 0

    async def __call__(self, ledger: Ledger, command_id: str) -> None:
        ledger.record(command_id, fsync=False)  # appended (OSError: the agent refuses the command)
        await self._next_flush()

    async def sync_files(self, paths: Sequence[Path]) -> None:
        """A ``SyncFiles`` for the agents' journal file (agent/journal_file.py): written already, made
        durable by the next flush that starts after the call, with the ledgers' records. It starts no
        flush of its own before the linger is over: while commands come, it rides on their ledgers'
        flushes, and once they stop it costs one syncfs per linger instead of one after every batch
        of results (each walks the filesystem's inodes: 10,000 agents' files)."""
        await self._next_flush(ride=True)

    async def _next_flush(self, ride: bool = False) -> None:
        """Until the next flush ends: ``ride``, a journal sync's (it starts none within the linger)."""
        done = asyncio.get_running_loop().create_future()
        if ride:
            self._riders.append(done)
        else:
            self._waiting.append(done)
            self._ledger_came.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        """Every record appended before a flush starts is durable when it ends; those appended
        during it wait for the next one."""
        while self._waiting or self._riders:
            if not self._waiting:  # journal syncs alone: they wait for a ledger record, or the linger
                self._ledger_came.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ledger_came.wait(), self._linger)
            batch = self._waiting + self._riders
            self._waiting, self._riders = [], []
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
