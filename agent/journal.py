"""The agent's journal: what it must not forget about each command it holds, kept in its journal
file (agent/journal_file.py) from the moment it takes the command until the controller acknowledges
its result, then forgotten. Records, appended as things happen:

- ``T`` taken: the command was verified and goes into the ledger (when, in unix ms);
- ``S`` a step starts (its index, name and action, when);
- ``P`` a process group of the step starts (its leader's pid, the leader's start time and the
  machine's boot time, so that a later life of the agent never mistakes another process for it);
- ``M`` a message about the command for the controller (an agent message as its stream carries
  it, converted at the connection's edge);
- ``R`` a step asked for a reboot (agent/reboot.py: the step, the count, the signed command), made
  durable before the reboot command runs; a later life resumes the command from that step when no
  step started after it.

What one event-loop turn records goes to the file at the end of the turn, before any callback
queued after it runs, so before the stream can carry a message it records; a process group's record
is written at once (agent/journal_file.py).

What only a crash of the machine could lose is made durable a batch at a time: after a step's or
the command's result, the file is synced with everything else due, off the event loop
(``SyncFiles``). A machine crash that loses records also ended what they described; the agent then
reports the command interrupted (agent/recovery.py).
"""
from __future__ import annotations

import logging
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import psutil

from agent.journal_file import JournalFile
from agent.journal_records import HeldRecords

log = logging.getLogger(__name__)

M = TypeVar("M")  # a message as the agent holds it
_TAKEN = struct.Struct(">q")
_STEP = struct.Struct(">Iq")  # index, started at (ms); then name NUL action, UTF-8 (no action holds a NUL)
_PROCESS = struct.Struct(">idd")  # pid, its start time, the boot time (seconds since the epoch)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if sys.platform.startswith("linux") else None


def _start_time(pid: int, boot: float) -> float | None:
    """When process ``pid`` started, as psutil's ``create_time`` says it (agent/recovery.py compares
    the two), or None when it is gone. On Linux from /proc/PID/stat alone, on every step's path:
    psutil reads that file and /proc/stat twice each."""
    if _CLOCK_TICKS is not None:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        fields = stat.rpartition(b")")[2].split()  # the name, in parentheses, may hold anything
        try:
            return boot + int(fields[19]) / _CLOCK_TICKS  # field 22, starttime: clock ticks since boot
        except (IndexError, ValueError):  # not the kernel's layout (an emulated /proc): psutil's way
            pass
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


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
    reboot: bytes = b""  # the last reboot record's body (agent/reboot.py), if a step asked for one
    steps_at_reboot: int = 0  # how many steps had started when it was written

    @property
    def awaits_reboot(self) -> bool:
        """A step asked for a reboot and none started since: the command resumes from that step."""
        return bool(self.reboot) and len(self.steps) == self.steps_at_reboot and not self.damaged


class Journal(Generic[M]):
    def __init__(self, file: JournalFile, owner: str, to_bytes: Callable[[M], bytes],
                 from_bytes: Callable[[bytes], M], settles: Callable[[M], bool] = lambda _msg: False) -> None:
        """``file``: where the records go, under ``owner`` (``""`` for an agent alone; a swarm's
        agents share one file). ``to_bytes`` / ``from_bytes``: a message as the journal keeps it (the
        connection's edge gives protobuf's). ``settles``: whether a message is a step's or the
        command's result, after which the file is made durable with the next batch (the file's
        own sync, shared by every agent writing to it)."""
        self._file = file
        self._owner = owner
        self._settles = settles
        self._to_bytes = to_bytes
        self._from_bytes = from_bytes
        self._boot: float | None = None  # the machine's boot time (read once: an agent outlives no boot)

    # ------------------------------------------------------------------ writing

    def taken(self, command_id: str, at_ms: int) -> None:
        self._append(command_id, b"T", _TAKEN.pack(at_ms))

    def step_started(self, command_id: str, step: StepStart) -> None:
        self._append(command_id, b"S", _STEP.pack(step.index, step.started_at_ms)
                     + f"{step.name}\0{step.action}".encode())

    def reboot_requested(self, command_id: str, record: bytes) -> None:
        """A step of the command asked for a reboot (agent/reboot.py's record); made durable by the
        caller (``synced``) before the reboot command runs."""
        self._append(command_id, b"R", record)
        self._file.sync_soon()

    async def written(self) -> None:
        """Until what is recorded so far is written (a step's start, before its process starts)."""
        await self._file.written()

    def process_started(self, command_id: str, pid: int) -> None:
        """Record a process group the command's step leads (its leader is ``pid``)."""
        boot = self._boot_time()
        started = _start_time(pid, boot)
        if started is None:  # gone already: nothing of it to kill later
            return
        self._append(command_id, b"P", _PROCESS.pack(pid, started, boot))
        self._file.flush()  # at once: a process left running is what a later life must find

    def _boot_time(self) -> float:
        if self._boot is None:
            self._boot = psutil.boot_time()
        return self._boot

    def message(self, command_id: str, msg: M) -> None:
        self.keep(command_id, msg, self._to_bytes(msg))

    def keep(self, command_id: str, msg: M, encoded: bytes) -> None:
        """``msg`` as the outbox encoded it for the stream (the same bytes as ``to_bytes``)."""
        self._append(command_id, b"M", encoded)
        if self._settles(msg):
            self._file.sync_soon()

    def forget(self, command_id: str) -> None:
        """The controller acknowledged the command's result: its journal goes."""
        self._file.forget(self._owner, command_id)

    def _append(self, command_id: str, kind: bytes, payload: bytes) -> None:
        self._file.append(self._owner, command_id, kind, payload)  # ValueError: not a command id

    def flush(self) -> None:
        """Write what was recorded and not yet written (a stop)."""
        self._file.flush()

    async def synced(self) -> None:
        """Until everything due is durable (a stopping agent waits for it)."""
        await self._file.synced()

    # ------------------------------------------------------------------ reading back

    def read_all(self) -> list[JournalEntry[M]]:
        """Every command a previous life of this agent held, oldest taken first (once)."""
        held = self._file.take_recovered(self._owner)
        entries = [self._read(cid, records) for cid, records in held.items()]
        return sorted(entries, key=lambda e: (e.taken_at_ms, e.command_id))

    def _read(self, command_id: str, held: HeldRecords) -> JournalEntry[M]:
        entry: JournalEntry[M] = JournalEntry(command_id, damaged=held.damaged)
        for kind, payload in held.records:
            try:
                self._take(entry, kind, payload)
            except Exception as exc:  # noqa: BLE001 - a record that does not decode: stop trusting the rest
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
        elif kind == b"R":
            entry.reboot, entry.steps_at_reboot = bytes(payload), len(entry.steps)
        else:
            raise ValueError(f"unknown record kind {kind!r}")
