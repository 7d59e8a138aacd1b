"""The controller's persistent store: SQLAlchemy Core on SQLite (WAL) or PostgreSQL."""
from __future__ import annotations

from controller.store.errors import ActivationRefused, Conflict, DatabaseFailed, NotFound, StoreError, UnknownNodes
from controller.store.store import Store

__all__ = ["ActivationRefused", "Conflict", "DatabaseFailed", "NotFound", "Store", "StoreError", "UnknownNodes"]
