"""How many agent streams this controller holds at most, stated at start rather than found out.

Every agent's stream is a connection, and every connection an open file. At the process's
open-file limit the gRPC listener cannot accept anything more, an operator's call included, and
retries every second ("File descriptor limit reached. Retrying"); agents see "Too many open files"
and nobody is told why fewer nodes are Online. So the controller works out at start how many
streams its limit leaves room for (controller/runtime/openfiles.py) and refuses a Connect beyond
that at once, with the reason: the agent backs off, the listener keeps room for operators, and the
operator sees the count (``node list``) and a warning in the log.

A stream is counted from the moment its Connect is admitted until its call ends, whatever ends it:
a stream waiting for its Hello holds a connection as much as an attached one does.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from plugins.sdk.host.clock import Clock, now_ms

log = logging.getLogger(__name__)

WARN_EVERY_MS = 60_000  # at most one warning a minute while streams are being refused


@dataclass(frozen=True)
class CapacityState:
    """What the operator is shown: streams open, the most there is room for, and refusals."""
    open_streams: int
    max_streams: int
    open_file_limit: int
    refused: int  # Connects refused for want of room since the controller started
    first_refused_at_ms: int  # 0: none refused yet
    last_refused_at_ms: int

    @property
    def full(self) -> bool:
        return self.open_streams >= self.max_streams


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class StreamCapacity:
    """Admission of agent streams. Synchronous and on the event loop: no two admissions interleave."""

    def __init__(self, max_streams: int, open_file_limit: int, clock: Clock = now_ms,
                 warn_every_ms: int = WARN_EVERY_MS) -> None:
        self._max = max(0, max_streams)
        self._limit = open_file_limit
        self._clock = clock
        self._warn_every = warn_every_ms
        self._open = 0
        self._refused = 0
        self._first_refused = 0
        self._last_refused = 0
        self._warned_at = 0
        self._refused_at_warning = 0  # the count when the last warning was logged

    def admit(self) -> bool:
        """Whether a new stream may proceed; when it may, it counts until ``release``."""
        if self._open >= self._max:
            self._refuse()
            return False
        self._open += 1
        return True

    def release(self, *_call: object) -> None:
        """A stream admitted earlier ended (a gRPC done callback: its argument is the call)."""
        self._open = max(0, self._open - 1)

    def refusal(self) -> str:
        """What a refused agent is told (its status details)."""
        return (f"controller at capacity: {self._open} agent streams open, as many as its limit of "
                f"{self._limit} open files leaves room for; retry later (its operator can raise LimitNOFILE "
                f"for the controller to hold more)")

    def state(self) -> CapacityState:
        return CapacityState(self._open, self._max, self._limit, self._refused, self._first_refused,
                             self._last_refused)

    def _refuse(self) -> None:
        now = self._clock()
        self._refused += 1
        self._first_refused = self._first_refused or now
        self._last_refused = now
        if self._warned_at and now - self._warned_at < self._warn_every:
            return
        since = self._refused - self._refused_at_warning
        self._warned_at, self._refused_at_warning = now, self._refused
        log.warning("agent streams at capacity: %d open, the most the open-file limit of %d leaves room for; "
                    "refusing new ones (%d refused since the last warning, %d since %s): raise LimitNOFILE "
                    "to hold more", self._open, self._limit, since, self._refused, _iso(self._first_refused))
