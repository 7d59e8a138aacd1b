"""The executed ledger: every command id the agent accepted, fsynced before its first step runs,
so a redelivered or replayed command never runs twice (also across agent restarts)."""
from __future__ import annotations

import os
import time
from pathlib import Path


class Ledger:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._ids: set[str] = set()
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2:
                    self._ids.add(parts[1])
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._fh = open(path, "a", encoding="ascii")  # noqa: SIM115 - held open for the agent's life
        if torn:  # a crash cut the last line short: never glue the next record onto it
            self._fh.write("\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def record(self, command_id: str) -> None:
        """Durably record ``command_id`` (returns after fsync)."""
        if any(c.isspace() for c in command_id):
            raise ValueError(f"command id with white space: {command_id!r}")
        self._fh.write(f"{int(time.time())} {command_id}\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._ids.add(command_id)

    def close(self) -> None:
        self._fh.close()
