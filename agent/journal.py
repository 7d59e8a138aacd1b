"""The agent's journal: what it must not forget about each command it holds, on disk in its state
directory, from the moment it takes the command until the controller acknowledges its result.

One file per command, ``DIR/commands/<command id>``, removed when the controller acknowledges the
command's result (a file per command needs no compaction, and what an agent holds is a directory
listing away). Records, appended as things happen:

- ``T`` taken: the command was verified and goes into the ledger (when, in unix ms);
- ``S`` a step starts (its index, name and action, when);
- ``P`` a process group of the step starts (its leader's pid, the leader's start time and the
  machine's boot time, so that a later life of the agent never mistakes another process for it);
- ``M`` a message about the command for the controller (an agent message as its stream carries
  it, converted at the connection's edge).

Each record is framed (length, CRC-32, kind): a record cut short by a crash, or garbage, ends the
reading of its file, and nothing after it is trusted.

Records go to the file in the event loop's turn that makes them: what one turn records about a
command is appended in one write at the end of that turn (open, append, close: no descriptor held
between writes, as with the ledger, agent/ledger.py), before any callback queued after the record
runs, so before the stream can carry a message it records; a process group's record is written at
once. A kill -9 of the agent loses nothing written: the page cache keeps it. (One write per turn
rather than per record: a quick command's records cost one or two writes, not four or more.)

What only a crash of the machine could lose is made durable a batch at a time: after a step's or
the command's result, the file (and the directory, for a new file) is synced with
everything else due, off the event loop (``SyncFiles``). A machine crash that loses records also
ended what they described; the agent then reports the command interrupted (agent/recovery.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import psutil

from plugins.sdk.wire.envelope import is_command_id

log = logging.getLogger(__name__)

M = TypeVar("M")  # a message as the agent holds it
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_FRAME = struct.Struct(">IIc")  # payload length, CRC-32 of kind and payload, kind
_TAKEN = struct.Struct(">q")
_STEP = struct.Struct(">Iq")  # index, started at (ms); then name NUL action, UTF-8 (no action holds a NUL)
_PROCESS = struct.Struct(">idd")  # pid, its start time, the boot time (seconds since the epoch)
MAX_RECORD = 64 * 1024 * 1024  # a longer length is garbage, never a record this agent wrote

SyncFiles = Callable[[Sequence[Path]], Awaitable[None]]  # make these files (and their entries) durable


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    started: float  # the leader's start time (psutil's create_time)
    boot: float  # the machine's boot time when it started


@dataclass(frozen=True)
class StepStart:
    index: int
    name: str
    action: str
    started_at_ms: int


@dataclass
class JournalEntry(Generic[M]):
    """One command's journal as read back at start."""
    command_id: str
    taken_at_ms: int = 0
    steps: list[StepStart] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    messages: list[M] = field(default_factory=list)
    damaged: bool = False  # reading stopped at a record cut short or garbled


def _frame(kind: bytes, payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(kind + payload), kind) + payload


def fsync_files(paths: Sequence[Path]) -> None:
    """fsync each file, then each directory holding one (new files' entries)."""
    for path in [*paths, *{p.parent for p in paths}]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # acknowledged and removed meanwhile: nothing left to keep
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


async def fsync_in_thread(paths: Sequence[Path]) -> None:
    """An agent's own ``SyncFiles``: its files fsynced on a worker thread (a swarm's: one syncfs for
    all its agents, agent/swarm/groupcommit.py)."""
    await asyncio.to_thread(fsync_files, paths)


class Journal(Generic[M]):
    def __init__(self, directory: Path, to_bytes: Callable[[M], bytes], from_bytes: Callable[[bytes], M],
                 settles: Callable[[M], bool] = lambda _msg: False, sync: SyncFiles = fsync_in_thread) -> None:
        """``to_bytes`` / ``from_bytes``: a message as the journal keeps it (the connection's edge
        gives protobuf's). ``settles``: whether a message is a step's or the command's result, after
        which the file is made durable with the next batch."""
        self._dir = directory
        self._settles = settles
        self._to_bytes = to_bytes
        self._from_bytes = from_bytes
        self._sync = sync
        self._pending: dict[str, bytearray] = {}  # records of this turn, by command, not yet written
        self._due: set[Path] = set()
        self._syncing: asyncio.Task[None] | None = None
        self._failed: set[str] = set()  # commands whose journal could not be written (told once each)
        self._boot: float | None = None  # the machine's boot time (read once: an agent outlives no boot)

    def path(self, command_id: str) -> Path:
        if not is_command_id(command_id):  # never a path outside the directory
            raise ValueError(f"not a command id: {command_id!r}")
        return self._dir / command_id

    # ------------------------------------------------------------------ writing

    def taken(self, command_id: str, at_ms: int) -> None:
        self._append(command_id, b"T", _TAKEN.pack(at_ms))

    def step_started(self, command_id: str, step: StepStart) -> None:
        self._append(command_id, b"S", _STEP.pack(step.index, step.started_at_ms)
                     + f"{step.name}\0{step.action}".encode())

    def process_started(self, command_id: str, pid: int) -> None:
        """Record a process group the command's step leads (its leader is ``pid``)."""
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:  # gone already: nothing of it to kill later
            return
        self._append(command_id, b"P", _PROCESS.pack(pid, started, self._boot_time()))
        self.write_pending()  # at once: a process left running is what a later life must find

    def _boot_time(self) -> float:
        if self._boot is None:
            self._boot = psutil.boot_time()
        return self._boot

    def message(self, command_id: str, msg: M) -> None:
        self._append(command_id, b"M", self._to_bytes(msg))
        if self._settles(msg):
            self._sync_soon(self.path(command_id))

    def forget(self, command_id: str) -> None:
        """The controller acknowledged the command's result: its journal goes."""
        self._failed.discard(command_id)
        path = self.path(command_id)
        if self._pending.pop(command_id, None) is not None and not path.exists():
            return  # nothing of it written yet: nothing to remove
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the journal of command %s: %s", command_id, exc)

    def _append(self, command_id: str, kind: bytes, payload: bytes) -> None:
        data = _frame(kind, payload)
        path = self.path(command_id)
        pending = self._pending.get(command_id)
        if pending is not None:
            pending += data
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (reading tools, tests): written at once
            self._write(command_id, path, data)
            return
        if not self._pending:
            loop.call_soon(self.write_pending)
        self._pending[command_id] = bytearray(data)

    def write_pending(self) -> None:
        """Write what was recorded and not yet written (the end of a turn, a process group, a stop)."""
        pending, self._pending = self._pending, {}
        for command_id, data in pending.items():
            self._write(command_id, self.path(command_id), data)

    def _write(self, command_id: str, path: Path, data: bytes | bytearray) -> None:
        try:
            fd = os.open(path, _APPEND, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            # The message still goes to the controller from memory; only a restart of the agent
            # before it is acknowledged would lose it. Told once per command, not per output chunk.
            if command_id not in self._failed:
                self._failed.add(command_id)
                log.warning("journal of command %s not written (%s): what the agent holds of it is kept in "
                            "memory only until the controller acknowledges it", command_id, exc)

    def _sync_soon(self, path: Path) -> None:
        self._due.add(path)
        if self._syncing is None or self._syncing.done():
            self._syncing = asyncio.get_running_loop().create_task(self._sync_due())

    async def _sync_due(self) -> None:
        self.write_pending()
        while self._due:
            batch, self._due = sorted(self._due), set()
            try:
                await self._sync(batch)
            except OSError as exc:
                log.warning("journal sync failed: %s", exc)

    async def synced(self) -> None:
        """Until everything due is durable (a stopping agent waits for it)."""
        self.write_pending()
        while self._syncing is not None and not self._syncing.done():
            await asyncio.shield(self._syncing)

    # ------------------------------------------------------------------ reading back

    def read_all(self) -> list[JournalEntry[M]]:
        """Every command's journal in the directory, oldest taken first."""
        try:
            names = [n for n in os.listdir(self._dir) if is_command_id(n)]
        except FileNotFoundError:
            return []
        entries = [self._read(name) for name in names]
        return sorted(entries, key=lambda e: (e.taken_at_ms, e.command_id))

    def _read(self, command_id: str) -> JournalEntry[M]:
        entry: JournalEntry[M] = JournalEntry(command_id)
        data = self.path(command_id).read_bytes()
        for kind, payload in _records(data, entry):
            try:
                self._take(entry, kind, payload)
            except Exception as exc:  # noqa: BLE001 - a record that does not decode: stop trusting the file
                log.warning("journal of command %s: unreadable %r record (%s); reading stops there",
                            command_id, kind, exc)
                entry.damaged = True
                break
        return entry

    def _take(self, entry: JournalEntry[M], kind: bytes, payload: bytes) -> None:
        if kind == b"T":
            (entry.taken_at_ms,) = _TAKEN.unpack(payload)
        elif kind == b"S":
            index, at = _STEP.unpack_from(payload)
            # split at the last NUL: a step's name may hold one, an action that runs never does
            name, _, action = payload[_STEP.size:].decode().rpartition("\0")
            entry.steps.append(StepStart(index, name, action, at))
        elif kind == b"P":
            entry.processes.append(ProcessRecord(*_PROCESS.unpack(payload)))
        elif kind == b"M":
            entry.messages.append(self._from_bytes(payload))
        else:
            raise ValueError(f"unknown record kind {kind!r}")


def _records(data: bytes, entry: JournalEntry) -> Iterable[tuple[bytes, bytes]]:
    """The file's intact records, up to the first one that is not (``entry.damaged`` then)."""
    at = 0
    while at < len(data):
        if len(data) - at < _FRAME.size:
            entry.damaged = True
            return
        length, crc, kind = _FRAME.unpack_from(data, at)
        start = at + _FRAME.size
        payload = data[start:start + length]
        if length > MAX_RECORD or len(payload) < length or zlib.crc32(kind + payload) != crc:
            entry.damaged = True
            return
        yield kind, payload
        at = start + length
