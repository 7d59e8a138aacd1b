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

import ctypes  # with the agent, not at its first trim: 4 ms of an idle agent's CPU (as resident either way)
import gc
import logging
import mmap
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.stop import Stop

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


# A mapping's header line, "start-end perms offset dev inode [path]", then its counters, a line
# each. Every pattern starts with the newline before its line: a literal first character lets the
# regex engine skip to the candidates instead of trying each of the text's half a million positions.
_HEADER = re.compile(r"\n([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *([^\n]*)")
_RSS = re.compile(r"\nRss: +(\d+) kB")
_DIRTY = re.compile(r"\n(?:" + "|".join(sorted(_DIRTY_KEYS)) + r"): +[1-9]")


def clean_file_mappings(smaps: str) -> list[CleanMapping]:
    """The mappings in the text of ``/proc/PID/smaps`` whose pages are all exactly the file's bytes:
    backed by a file that still exists, private, not writable, with no anonymous, swapped or
    locked page. Dropping their pages loses nothing.

    Compiled patterns over the whole text rather than a Python loop over its lines: an agent's
    smaps is about 7,000 lines: 0.8 ms this way, 2.6 ms for the loop."""
    out: list[CleanMapping] = []
    smaps = "\n" + smaps
    heads = list(_HEADER.finditer(smaps))
    for i, head in enumerate(heads):
        perms, path = head[3], head[4].rstrip()
        if (len(perms) != 4 or perms[1] != "-" or perms[3] != "p" or not path.startswith("/")
                or path.endswith("(deleted)")):
            continue
        body_end = heads[i + 1].start() if i + 1 < len(heads) else len(smaps)
        if _DIRTY.search(smaps, head.end(), body_end):
            continue
        rss = _RSS.search(smaps, head.end(), body_end)
        out.append(CleanMapping(int(head[1], 16), int(head[2], 16), int(rss[1]) * 1024 if rss else 0, path))
    return out


def drop_clean_file_pages(smaps: Path = SMAPS) -> int:
    """``madvise(MADV_DONTNEED)`` every clean file mapping of this process; returns the resident
    bytes they held (0 where this is not Linux or nothing could be dropped)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        # the text is about 0.5 MB: malloc maps a block that size on its own and unmaps it when freed
        mappings = clean_file_mappings(smaps.read_text())
    except (OSError, AttributeError):
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
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl has no malloc_trim
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


async def trim_when_idle(agent: IdleState, stop: Stop, *, poll_seconds: float = 10.0,
                         trim: Callable[[], TrimReport] = trim_memory) -> None:
    """Trim once the agent has been connected for a whole poll with no command finishing, and again
    after each later batch of commands once a poll goes by without one finishing (a reconnection
    counts as new too). Checks every ``poll_seconds``; returns when ``stop`` is set."""
    seen: int | None = None  # commands_run at the previous poll while connected
    trimmed: int | None = None  # commands_run at the last trim on this connection
    while not await stop.pause(poll_seconds):
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
