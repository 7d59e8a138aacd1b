"""Test helpers around controller.dev.cluster."""
from __future__ import annotations

import psutil

from controller.dev.cluster import Activation, Cluster, free_port_pair, wait_for

__all__ = ["Activation", "Cluster", "descendants_alive", "free_port_pair", "wait_for"]


def descendants_alive(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []
