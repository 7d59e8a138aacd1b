"""Giving an idle agent's unused memory back to the operating system.

An agent spends nearly all its life idle on one open stream, yet after start-up it keeps in its
resident set everything start-up touched: heap pages that were freed but never returned, and the
pages of grpc's, cryptography's and Python's shared libraries that loading them read once (about
half of an idle agent's RSS). A trim, once connected and again each time commands have finished:

* ``gc.collect()`` then glibc's ``malloc_trim(0)``: freed heap pages go back to the kernel;
* ``madvise(MADV_DONTNEED)`` over the *clean* file-backed mappings (read-only, private, no
  anonymous or swapped page, file not deleted): the pages leave this process's page tables but
  stay in the page cache, so what is used again faults back in, with the file's own bytes.

Both only release memory; neither can change what the process computes. Linux only (glibc for
``malloc_trim``); elsewhere each step reports that it did nothing.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.pause import pause

log = logging.getLogger(__name__)

SMAPS = Path("/proc/self/smaps")
# smaps counters that make a mapping ineligible when non-zero: a copied-on-write page (Anonymous,
# or swapped out: Swap) holds bytes the file does not have; a locked range cannot be dropped.
_DIRTY_KEYS = frozenset({"Anonymous", "Swap", "Locked"})


@dataclass(frozen=True)
class CleanMapping:
    start: int
    end: int
    rss_bytes: int
    path: str


@dataclass(frozen=True)
class TrimReport:
    heap_trimmed: bool  # malloc_trim(0) returned memory to the kernel
    file_bytes_dropped: int  # resident bytes of clean file mappings let go


def clean_file_mappings(smaps_lines: Iterable[str]) -> list[CleanMapping]:
    """The mappings in the lines of ``/proc/PID/smaps`` whose pages are all exactly the file's bytes:
    backed by a file that still exists, private, not writable, with no anonymous, swapped or
    locked page. Dropping their pages loses nothing."""
    out: list[CleanMapping] = []
    head: tuple[int, int, str] | None = None
    rss = 0
    eligible = False

    def close() -> None:
        if head is not None and eligible:
            out.append(CleanMapping(head[0], head[1], rss, head[2]))

    for raw in smaps_lines:
        line = raw.rstrip("\n")
        if not line:
            continue
        if not line[0].isupper():  # a mapping's header: "start-end perms offset dev inode [path]"
            close()
            fields = line.split(maxsplit=5)
            head, rss, eligible = None, 0, False
            if len(fields) < 5 or len(fields[1]) != 4 or "-" not in fields[0]:
                continue
            path = fields[5] if len(fields) == 6 else ""
            perms = fields[1]
            start, end = (int(x, 16) for x in fields[0].split("-", 1))
            head = (start, end, path)
            eligible = (path.startswith("/") and not path.endswith("(deleted)")
                        and perms[1] == "-" and perms[3] == "p")
            continue
        key, _, rest = line.partition(":")
        value = rest.split()
        if key == "Rss" and value:
            rss = int(value[0]) * 1024
        elif key in _DIRTY_KEYS and value and value[0] != "0":
            eligible = False
    close()
    return out


def drop_clean_file_pages(smaps: Path = SMAPS) -> int:
    """``madvise(MADV_DONTNEED)`` every clean file mapping of this process; returns the resident
    bytes they held (0 where this is not Linux or nothing could be dropped)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        import ctypes
        import mmap

        madvise = ctypes.CDLL(None, use_errno=True).madvise
        with smaps.open() as f:  # line by line: the whole text would be a 0.5 MB string to free again
            mappings = clean_file_mappings(f)
    except (OSError, AttributeError, ImportError):
        return 0
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    dropped = 0
    for m in mappings:
        if m.rss_bytes and madvise(m.start, m.end - m.start, mmap.MADV_DONTNEED) == 0:
            dropped += m.rss_bytes
    return dropped


def malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: whether it gave memory back (False without glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, ImportError):  # musl has no malloc_trim
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return bool(trim(0))


def trim_memory() -> TrimReport:
    dropped = drop_clean_file_pages()
    gc.collect()  # then the heap, last, so what the steps above allocated is given back too
    return TrimReport(heap_trimmed=malloc_trim(), file_bytes_dropped=dropped)


class IdleState(Protocol):
    """What the trimmer watches (``agent.connection.Agent`` has both)."""

    @property
    def connected(self) -> bool: ...

    @property
    def commands_run(self) -> int: ...


async def trim_when_idle(agent: IdleState, stop: asyncio.Event, *, poll_seconds: float = 10.0,
                         trim: Callable[[], TrimReport] = trim_memory) -> None:
    """Trim once the agent has been connected for a whole poll with no command finishing, and again
    after each later batch of commands once a poll goes by without one finishing (a reconnection
    counts as new too). Checks every ``poll_seconds``; returns when ``stop`` is set."""
    seen: int | None = None  # commands_run at the previous poll while connected
    trimmed: int | None = None  # commands_run at the last trim on this connection
    while not await pause(stop, poll_seconds):
        if not agent.connected:
            seen = trimmed = None
            continue
        done = agent.commands_run
        if done == seen and done != trimmed:
            try:
                report = trim()
            except Exception:  # noqa: BLE001 - releasing memory must never take the agent down
                log.exception("memory trim failed")
            else:
                log.debug("memory trimmed: heap returned %s, %.1f MB of clean file pages dropped",
                          report.heap_trimmed, report.file_bytes_dropped / (1 << 20))
            trimmed = done
        seen = done
