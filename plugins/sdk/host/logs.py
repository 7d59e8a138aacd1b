"""Loggers with ids bound (command, node, step), so every line says what it is about."""
from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class BoundLogger(logging.LoggerAdapter):
    """``logging.LoggerAdapter`` that prefixes each message with its bound ids."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        ids = " ".join(f"{k}={v}" for k, v in (self.extra or {}).items())
        return (f"[{ids}] {msg}" if ids else msg), kwargs

    def bind(self, **ids: str) -> BoundLogger:
        return BoundLogger(self.logger, {**(self.extra or {}), **ids})
