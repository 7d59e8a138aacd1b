"""The file an agent's journal (agent/journal.py) lives in: one append-only file, held open, shared
by the agents of one process (one agent: ``DIR/journal`` in its state directory; ``outpost swarm``:
one for all its agents, as their ledgers share one syncfs, agent/swarm/groupcommit.py).

Its records, each naming its owner and command, and how they are read back: agent/journal_records.py.

Writes of one event-loop turn, whatever their command or owner, go to the file in one append at the
end of the turn (``flush``: before any callback queued after them runs, so before the stream can
carry a message they record); one with a process group is flushed at once. A kill -9 of the process
loses nothing written: the page cache keeps it. The file never grows without bound:

- when nothing is held any more it is truncated to nothing (``ftruncate``: no new file);
- when the bytes of forgotten commands reach those still held (and at least ``COMPACT_MIN_BYTES``),
  what is held is written to ``journal.new``, fsynced and renamed over the file (a crash leaves the
  old file or the new one, both whole);
- opening it reads it once and rewrites it the same way when it holds anything forgotten or damaged.

Why one file and not one per command (as first built): 10,000 agents on one filesystem creating,
appending to and removing 10,000 files per fan-out cost about 2 s of a 10,000-node fan-out, mostly
the event loop waiting on the filesystem's journal while the ledgers' syncfs committed it
(docs/performance.md, "Reliability (issue 17)").
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from agent.durable import SyncFiles, fsync_dir, fsync_in_thread, write_all
from agent.journal_records import (
    FORGOTTEN,
    HeldRecords,
    Key,
    Spans,
    add_span,
    bytes_in,
    framed,
    key_prefix,
    parse,
    span_bytes,
)
from plugins.sdk.errors import ConfigError
from plugins.sdk.wire.envelope import is_command_id

try:
    import fcntl
except ImportError:  # Windows: not locked there yet
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
# Forgotten bytes below which the file is never rewritten: a 10,000-agent swarm's fan-out writes
# about 6 MB, emptied (truncated, not rewritten) once every result is acknowledged.
COMPACT_MIN_BYTES = 8 * 1024 * 1024


class JournalFile:
    def __init__(self, path: Path, sync: SyncFiles = fsync_in_thread,
                 compact_min_bytes: int = COMPACT_MIN_BYTES) -> None:
        """``sync``: how the file is made durable (an agent's: fsync on a worker thread; a swarm's:
        the syncfs its ledgers share). ``compact_min_bytes``: forgotten bytes below which the file
        is never rewritten."""
        self._compact_min = compact_min_bytes
        self.path = path
        self._sync = sync
        self._due = False  # a result was written since the last sync began
        self._syncing: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._size = 0  # bytes in the file, all whole records
        # the commands held (recorded and not forgotten since), each with its records' key_prefix
        self._held: dict[Key, bytes] = {}
        # Where their records lie in the file, and how many bytes that is: what a compaction copies,
        # without reading the file's records again. Bytes not in a span are forgotten (dead).
        self._spans: Spans = {}
        self._live = 0
        self._buffer = bytearray()  # this turn's records, not yet written
        self._pending: list[tuple[Key, int, bool]] = []  # the buffer's records: (key, length, tombstone)
        self._scheduled = False
        self._recovered: dict[str, dict[str, HeldRecords]] = {}  # read at open, by owner, until taken
        self._failing = False  # the last write failed (told once until one succeeds)
        self._compact_at = compact_min_bytes  # dead bytes that make the next compaction
        self._lock: int | None = None  # journal.lock, held while this process uses the file

    # ------------------------------------------------------------------ opening

    def open(self) -> None:
        """Read what the file holds (once), rewrite it when it holds anything forgotten or damaged,
        and keep it open for appending. Idempotent."""
        if self._fd is not None:
            return
        self._take_lock()
        self._aside.unlink(missing_ok=True)  # a rewrite a kill cut short: the file itself is whole
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        held, spans, intact = parse(data)
        kept = bytes_in(spans)
        if kept != len(data):
            log.info("journal %s: %d command(s) held, %d byte(s) of forgotten or damaged records dropped",
                     self.path, len(held), len(data) - kept)
            try:
                spans = self._rewrite(data, spans)
            except OSError as exc:  # no room for a copy: at least no later record follows a damaged one
                log.warning("journal %s: could not rewrite it (%s); kept as it is, cut after its last intact "
                            "record", self.path, exc)
                os.truncate(self.path, intact)
        created = not self.path.exists()
        self._fd = os.open(self.path, _APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._spans, self._live = spans, kept  # in a file that could not be rewritten, the rest is dead
        for key in spans:  # what the file holds, with what was recorded before it was opened
            self._held.setdefault(key, key_prefix(*key))
        for (owner, cid), records in held.items():
            self._recovered.setdefault(owner, {})[cid] = records
        if created:
            fsync_dir(self.path.parent)

    def _take_lock(self) -> None:
        """One process per journal file: a second agent on the same state directory would rewrite the
        file under the first (and take the commands of the first as its own previous life's, killing
        their steps), so it does not start. The lock goes with the process, however it ends."""
        if self._lock is not None or fcntl is None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:  # a POSIX record lock: held by the process (a second JournalFile of it on the same path shares it)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: another process holds it
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(f"another agent (pid {holder}) is running on {self.path.parent}: its journal "
                              f"{self.path} is locked; stop that agent, or give this one a state directory of "
                              "its own") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd

    @property
    def _aside(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    def take_recovered(self, owner: str) -> dict[str, HeldRecords]:
        """What a previous life of ``owner`` held (once; opening the file first)."""
        self.open()
        return self._recovered.pop(owner, {})

    def close(self) -> None:
        """Write what is pending and close (a stopping process)."""
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            os.close(self._lock)  # the lock goes with it; the file stays (a pid, 0600)
            self._lock = None

    # ------------------------------------------------------------------ writing

    def _opened(self) -> None:
        """Open before the first record (a failure is told by the write that follows)."""
        if self._fd is None:
            try:
                self.open()
            except OSError:
                pass

    def append(self, owner: str, command_id: str, kind: bytes, body: bytes) -> None:
        self._opened()
        key = (owner, command_id)
        prefix = self._held.get(key)
        if prefix is None:  # a command's first record: never one a reader could not place
            if not is_command_id(command_id):
                raise ValueError(f"not a command id: {command_id!r}")
            prefix = self._held[key] = key_prefix(owner, command_id)
        data = framed(kind, prefix, body)
        self._buffer += data
        self._pending.append((key, len(data), False))
        self._schedule()

    def forget(self, owner: str, command_id: str) -> None:
        self._opened()
        key = (owner, command_id)
        prefix = self._held.pop(key, None)
        if prefix is None:
            return
        tomb = framed(FORGOTTEN, prefix, b"")
        self._buffer += tomb
        self._pending.append((key, len(tomb), True))
        self._schedule()

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (tools, tests): written at once
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    async def written(self) -> None:
        """Until what is recorded so far has been written (or failed to be): a step waits for its
        start to be on record before its process starts, with every other record of the turn. The
        turn's ``flush`` was queued with its first record, so it runs before this task's next step
        and leaves nothing for the ``_flush`` after it to write."""
        if self._buffer:
            await asyncio.sleep(0)
            self._flush()

    def flush(self) -> None:
        """Write this turn's records in one append (the end of a turn, a process group, a stop)."""
        self._scheduled = False
        self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        data, self._buffer = self._buffer, bytearray()
        pending, self._pending = self._pending, []
        try:
            self.open()
            assert self._fd is not None
            write_all(self._fd, data)
        except OSError as exc:
            self._cut_back()
            # The messages still go to the controller from memory; only a restart of the agent before
            # they are acknowledged would lose them. Told once until a write succeeds again.
            if not self._failing:
                self._failing = True
                log.warning("journal %s not written (%s): what the agent holds is kept in memory only until "
                            "the controller acknowledges it", self.path, exc)
            return
        self._failing = False
        self._placed(pending)
        if not self._held:
            self._truncate()
        elif self._size - self._live >= max(self._compact_at, self._live):
            self._compact()

    def _placed(self, pending: list[tuple[Key, int, bool]]) -> None:
        """Records just written: where each lies (a tombstone: its command's records are dead)."""
        at, spans = self._size, self._spans
        for key, length, forgotten in pending:
            if forgotten:
                where = spans.pop(key, None)
                if where is not None:
                    self._live -= span_bytes(where)
            else:
                add_span(spans, key, at, at + length)
                self._live += length
            at += length
        self._size = at

    def sync_soon(self) -> None:
        """Make the file durable with the next batch (after a step's or a command's result): one
        sync at a time, for everything written before it starts, off the event loop."""
        self._due = True
        if self._syncing is None or self._syncing.done():
            try:
                self._syncing = asyncio.get_running_loop().create_task(self._sync_due())
            except RuntimeError:  # no event loop (tools, tests): written at once, not synced
                self.flush()

    async def _sync_due(self) -> None:
        while self._due:
            self._due = False
            self.flush()
            try:
                await self._sync([self.path])
            except OSError as exc:
                log.warning("journal %s: sync failed: %s", self.path, exc)

    async def synced(self) -> None:
        """Until everything due is durable (a stopping agent waits for it)."""
        self.flush()
        while self._syncing is not None and not self._syncing.done():
            await asyncio.shield(self._syncing)

    def _cut_back(self) -> None:
        """A write that failed part way leaves no torn record for later writes to follow."""
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError as exc:
                log.warning("journal %s: could not cut back a failed write: %s", self.path, exc)

    def _truncate(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, 0)
        except OSError as exc:
            log.warning("journal %s: could not empty it: %s", self.path, exc)
            return
        self._size = self._live = 0
        self._spans.clear()

    def _compact(self) -> None:
        """Rewrite the file with only what is held (on the event loop: it runs when forgotten bytes
        reach held ones, so each held byte is copied about once per doubling of what was written;
        it copies the spans it knows, without reading records)."""
        assert self._fd is not None
        try:
            # only the commands held: not one forgotten whose tombstone a failed write lost
            held = {key: where for key, where in self._spans.items() if key in self._held}
            spans = self._rewrite(self.path.read_bytes(), held)
            fd = os.open(self.path, _APPEND, 0o600)
        except OSError as exc:
            self._compact_at = self._size - self._live + self._compact_min  # not again at once
            log.warning("journal %s: could not compact it (%s); it goes on growing", self.path, exc)
            return
        os.close(self._fd)
        self._fd = fd
        self._spans = spans
        self._size = self._live = bytes_in(spans)
        self._compact_at = self._compact_min

    def _rewrite(self, data: bytes, spans: Spans) -> Spans:
        """The file becomes the records of the commands held (their ``spans`` in ``data``), command
        by command; where they lie then."""
        chunks: list[bytes] = []
        placed: Spans = {}
        at = 0
        for key, where in spans.items():
            for start, end in zip(where[::2], where[1::2], strict=True):
                chunks.append(data[start:end])
                add_span(placed, key, at, at + end - start)
                at += end - start
        self._replace(b"".join(chunks))
        return placed

    def _replace(self, data: bytes) -> None:
        """The file becomes ``data``, whole or not at all (written aside, fsynced, renamed)."""
        new = self._aside
        try:
            fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(new, self.path)
        except OSError:
            new.unlink(missing_ok=True)
            raise
        fsync_dir(self.path.parent)
