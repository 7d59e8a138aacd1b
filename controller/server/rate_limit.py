"""A token bucket per key (a source address): ``rate`` a second, ``burst`` at once; what spends a
token is the caller's to say (``charge``), what waits for one is asked with ``wait``. At most
``max_keys`` buckets are kept (the least recently used go first), so a flood from many addresses
costs bounded memory; an address forgotten starts again with a full bucket."""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

LOG_EVERY_SECONDS = 60.0


@dataclass
class _Bucket:
    tokens: float
    at: float
    refused: int = 0
    logged_at: float = float("-inf")


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
            bucket.at = now
        return bucket

    def wait(self, key: str) -> float:
        """0 when ``key`` may go on, otherwise the seconds until it may (counted as a refusal)."""
        bucket = self._bucket(key)
        if bucket.tokens >= 1.0:
            return 0.0
        bucket.refused += 1
        return (1.0 - bucket.tokens) / self._rate

    def charge(self, key: str) -> None:
        """``key`` spent one (a failed attempt)."""
        bucket = self._bucket(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def refused(self, key: str) -> int:
        bucket = self._buckets.get(key)
        return 0 if bucket is None else bucket.refused

    def should_log(self, key: str) -> bool:
        """Whether a refusal of ``key`` is to be logged now (once a minute per key)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return False
        now = self._clock()
        if now - bucket.logged_at >= LOG_EVERY_SECONDS:
            bucket.logged_at = now
            return True
        return False
