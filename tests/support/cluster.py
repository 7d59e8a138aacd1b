"""Test helpers around controller.dev.cluster."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from controller.dev.cluster import Activation, Cluster, free_port_pair, wait_for

__all__ = ["Activation", "Cluster", "descendants_alive", "free_port_pair", "pid_written", "process_alive", "started",
           "wait_for"]


@contextmanager
def started(root: Path) -> Iterator[Cluster]:
    """A cluster in ``root`` with its controller started; every process stopped at the end."""
    c = Cluster(root)
    c.init()
    try:
        c.start_controller()
        yield c
    finally:
        c.close()


def descendants_alive(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def pid_written(path: Path, timeout: float = 20) -> int:
    """The pid a step's script wrote to ``path`` (``echo $$ > PATH``), once it is there."""
    wait_for(lambda: path.exists() and path.read_text().strip() != "", timeout, f"{path.name} to be written")
    return int(path.read_text().split()[0])


def process_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
