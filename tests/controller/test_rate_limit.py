"""controller/server/rate_limit.py with a clock of the test's own."""
from __future__ import annotations

from controller.server.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    for _ in range(3):
        assert limiter.wait("a") == 0
        limiter.charge("a")
    assert limiter.wait("a") == 0.5 and limiter.refused("a") == 1
    assert limiter.wait("b") == 0  # another address is not touched
    clock.now = 0.5
    assert limiter.wait("a") == 0
    limiter.charge("a")
    assert limiter.wait("a") > 0
    clock.now = 100.0
    for _ in range(3):  # refilled to the burst, no further
        assert limiter.wait("a") == 0
        limiter.charge("a")
    assert limiter.wait("a") > 0


def test_memory_is_bounded_and_logging_is_once_a_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, max_keys=100, clock=clock)
    for i in range(1000):
        limiter.charge(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100  # noqa: SLF001 - the bound is the point
    assert limiter.wait("10.0.3.231") > 0  # among the newest kept
    assert limiter.should_log("10.0.3.231") and not limiter.should_log("10.0.3.231")
    clock.now = 61.0
    assert limiter.should_log("10.0.3.231")
