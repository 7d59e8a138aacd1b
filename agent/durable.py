"""Making an agent's files durable: what the journal file (agent/journal_file.py) syncs with, and
how an agent alone does it (fsync on a worker thread, off the event loop). A swarm syncs all its
agents' files with one syncfs instead (agent/swarm/groupcommit.py)."""
from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

SyncFiles = Callable[[Sequence[Path]], Awaitable[None]]  # make these files durable


def fsync_files(paths: Sequence[Path]) -> None:
    """fsync each file (the journal file makes its own directory entry durable)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # acknowledged and removed meanwhile: nothing left to keep
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


async def fsync_in_thread(paths: Sequence[Path]) -> None:
    """An agent's own ``SyncFiles``: its files fsynced on a worker thread."""
    await asyncio.to_thread(fsync_files, paths)


def write_all(fd: int, data: bytes | bytearray) -> None:
    """Write all of ``data`` to ``fd`` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` durable (a file created or renamed in it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
