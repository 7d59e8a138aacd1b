"""The store's exceptions: all under OutpostError through StoreError."""
from __future__ import annotations

from plugins.sdk.errors import OutpostError


class StoreError(OutpostError):
    """The store could not do what was asked (bad input, corrupt row, database failure)."""


class NotFound(StoreError):
    """The record asked for does not exist."""


class Conflict(StoreError):
    """A record with the same key already exists."""


class ActivationRefused(StoreError):
    """An activation could not be consumed. ``reason`` is machine-readable:
    ``unknown_activation``, ``expired`` or ``exhausted``."""

    def __init__(self, activation_id: str, reason: str) -> None:
        self.activation_id = activation_id
        self.reason = reason
        super().__init__(f"activation {activation_id}: {reason}")
