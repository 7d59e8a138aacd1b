"""How fast this machine runs now: the same small CPU work timed at the bench's start and end.

The machine's speed drifts (measured here: an Ed25519 verification took 114 us one hour and 147-236 us
another, on an idle machine), and every figure drifts with it. The bench reports this probe next to
its table, so figures from two invocations can be compared with the speed each ran at."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROUNDS, PER_ROUND = 5, 400


@dataclass(frozen=True)
class Speed:
    ed25519_verify_us: float  # one verification of a 120-byte message (the agent's per-command check)
    python_loop_us: float  # 10,000 iterations of a plain Python loop (the event loops' kind of work)

    def to_json(self) -> dict[str, float]:
        return {"ed25519_verify_us": self.ed25519_verify_us, "python_loop_us": self.python_loop_us}

    def __str__(self) -> str:
        return f"Ed25519 verify {self.ed25519_verify_us:.0f} us, Python loop {self.python_loop_us:.0f} us"


def _median_us(work: Callable[[], object], per_round: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(per_round):
            work()
        rounds.append((time.perf_counter() - t0) / per_round * 1e6)
    return round(statistics.median(rounds), 1)


def _loop() -> int:
    total = 0
    for i in range(10_000):
        total += i & 7
    return total


def probe() -> Speed:
    key = Ed25519PrivateKey.generate()
    message = b"x" * 120
    signature, public = key.sign(message), key.public_key()
    return Speed(_median_us(lambda: public.verify(signature, message), PER_ROUND), _median_us(_loop, PER_ROUND // 4))
