"""The store's exceptions: all under OutpostError through StoreError."""
from __future__ import annotations

from plugins.sdk.errors import OutpostError


class StoreError(OutpostError):
    """The store could not do what was asked (bad input, corrupt row, database failure)."""


class DatabaseFailed(StoreError):
    """The database itself failed (its disk full, its server gone, a file it cannot write): nothing
    the request did wrong. The servers answer it UNAVAILABLE in one line (controller/server/failures.py)."""


class NotFound(StoreError):
    """The record asked for does not exist."""


class UnknownNodes(NotFound):
    """Nodes named that are not registered."""

    def __init__(self, node_ids: frozenset[str]) -> None:
        self.node_ids = node_ids
        more = f" (and {len(node_ids) - 1} more)" if len(node_ids) > 1 else ""
        super().__init__(f"no node {sorted(node_ids)[0]}{more}")


class Conflict(StoreError):
    """A record with the same key already exists."""


class InUse(StoreError):
    """The record is still referred to (a policy still attached): removing it is refused."""


class ActivationRefused(StoreError):
    """An activation could not be consumed. ``reason`` is machine-readable:
    ``unknown_activation``, ``expired`` or ``exhausted``."""

    def __init__(self, activation_id: str, reason: str) -> None:
        self.activation_id = activation_id
        self.reason = reason
        super().__init__(f"activation {activation_id}: {reason}")
