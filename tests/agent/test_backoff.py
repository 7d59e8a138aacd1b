"""agent.connection.backoff_delay: full jitter, checked over many seeded samples."""
from __future__ import annotations

import random
import statistics

import pytest

from agent.connection import backoff_delay

SAMPLES = 4000


def samples(attempt: int, base: float, cap: float, seed: int = 1234) -> list[float]:
    rng = random.Random(seed)
    return [backoff_delay(attempt, base, cap, rng) for _ in range(SAMPLES)]


@pytest.mark.parametrize(("attempt", "base", "cap", "bound"), [
    (0, 0.5, 30.0, 0.5),  # the first retry is already jittered within [0, base]
    (1, 0.5, 30.0, 1.0),
    (3, 0.5, 30.0, 4.0),
    (5, 0.5, 30.0, 16.0),
    (6, 0.5, 30.0, 30.0),  # 32 > cap
    (10, 1.0, 60.0, 60.0),
    (64, 1.0, 60.0, 60.0),  # no overflow for a long outage
    (10_000, 0.2, 5.0, 5.0),
])
def test_full_jitter_within_the_bound(attempt: int, base: float, cap: float, bound: float) -> None:
    got = samples(attempt, base, cap)
    assert all(0.0 <= d <= bound for d in got)
    assert min(got) < bound * 0.01  # reaches down to about 0 ...
    assert max(got) > bound * 0.99  # ... and up to about the bound
    assert statistics.mean(got) == pytest.approx(bound / 2, rel=0.05)  # uniform, not bunched at either end
    assert len(set(got)) > SAMPLES * 0.99  # jittered, not a fixed delay


def test_the_first_retry_is_not_a_fixed_delay() -> None:
    got = samples(0, 1.0, 30.0)
    assert max(got) - min(got) > 0.9


def test_the_bound_doubles_per_attempt_until_the_cap() -> None:
    maxima = [max(samples(a, 1.0, 20.0)) for a in range(8)]
    bounds = [1, 2, 4, 8, 16, 20, 20, 20]
    assert [round(m) for m in maxima] == bounds


def test_the_same_seed_gives_the_same_delays() -> None:
    assert samples(4, 0.5, 30.0, seed=7) == samples(4, 0.5, 30.0, seed=7)
    assert samples(4, 0.5, 30.0, seed=7) != samples(4, 0.5, 30.0, seed=8)


def test_the_delay_comes_from_the_given_rng() -> None:
    class Fixed(random.Random):
        def random(self) -> float:
            return 1.0 - 1e-12  # the top of the range

    assert backoff_delay(0, 0.5, 30.0, Fixed()) == pytest.approx(0.5)
    assert backoff_delay(2, 0.5, 30.0, Fixed()) == pytest.approx(2.0)
    assert backoff_delay(99, 0.5, 30.0, Fixed()) == pytest.approx(30.0)
