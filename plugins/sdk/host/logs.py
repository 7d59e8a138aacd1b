"""Loggers with ids bound (command, node, step), so every line says what it is about; and the
filters every process installs on its log handlers: the central scrubber, so no secret value reaches
a log, and the line guard, so no value can forge a log line or drive the terminal that shows it."""
from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from plugins.sdk.escape import escape_controls
from plugins.sdk.secrets import ScrubFilter


class BoundLogger(logging.LoggerAdapter):
    """``logging.LoggerAdapter`` that prefixes each message with its bound ids."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        ids = " ".join(f"{k}={v}" for k, v in (self.extra or {}).items())
        return (f"[{ids}] {msg}" if ids else msg), kwargs

    def bind(self, **ids: str) -> BoundLogger:
        return BoundLogger(self.logger, {**(self.extra or {}), **ids})


class LineGuard(logging.Filter):
    """A record is one line: its message's control characters (a line feed, a carriage return, an
    escape sequence) are shown escaped, whatever value put them there (a hostname, an error from a
    node, a file name). A traceback keeps its line breaks; its other control characters are escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a call whose arguments do not fit its format: logged as it is
            message = f"{record.msg!s} (arguments that do not fit: {record.args!r})"
            record.msg, record.args = message, None
        safe = escape_controls(message, "")
        if safe != message:
            record.msg, record.args = safe, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = escape_controls(record.exc_text, "\t\n")
        return True


def install_scrubber(logger: logging.Logger | None = None) -> ScrubFilter:
    """On every handler of ``logger`` (the root logger by default, once logging is set up), one
    ScrubFilter then one LineGuard: a filter on a handler sees every record it writes, whichever
    logger made it. Returns the scrubber, which holds the secrets of what is in hand."""
    scrubber, guard = ScrubFilter(), LineGuard()
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(scrubber)
        handler.addFilter(guard)
    return scrubber
