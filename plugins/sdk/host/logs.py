"""Loggers with ids bound (command, node, step), so every line says what it is about; and the
central scrubber every process installs on its log handlers, so no secret value reaches a log."""
from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from plugins.sdk.secrets import ScrubFilter


class BoundLogger(logging.LoggerAdapter):
    """``logging.LoggerAdapter`` that prefixes each message with its bound ids."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        ids = " ".join(f"{k}={v}" for k, v in (self.extra or {}).items())
        return (f"[{ids}] {msg}" if ids else msg), kwargs

    def bind(self, **ids: str) -> BoundLogger:
        return BoundLogger(self.logger, {**(self.extra or {}), **ids})


def install_scrubber(logger: logging.Logger | None = None) -> ScrubFilter:
    """One ScrubFilter on every handler of ``logger`` (the root logger by default, once logging is set
    up): a filter on a handler sees every record it writes, whichever logger made it."""
    scrubber = ScrubFilter()
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(scrubber)
    return scrubber
