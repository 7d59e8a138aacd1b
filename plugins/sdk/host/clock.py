"""The wall clock both sides stamp with: milliseconds since the epoch, as every stored and sent time
is. Code that decides by the time takes a ``Clock`` (default ``now_ms``), so tests can set it."""
from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
