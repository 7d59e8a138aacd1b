"""The bench's vocabulary: a scale (full: the issue's numbers; small: the test suite's), and a
measure (one row of the table: the value of every run, its median, the goal and whether it is met).
A measure that could not be taken carries the reason instead of values ("not installable: ...",
"failed: ..."), so nothing is skipped silently."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Scale:
    name: str
    agents: int  # the swarm: connect, RSS, fan-out, restart
    subprocess_agents: int  # fan-out running a real `true`
    latency_commands: int  # sequential commands on one agent
    idle_seconds: float  # the idle agent's window
    ansible_hosts: int
    salt_minions: tuple[int, ...]
    connect_rate: float  # new streams per second (outpost swarm --connect-rate)
    online_timeout: float  # give up waiting for the swarm after this many seconds
    fanout_timeout: float  # a fan-out not terminal by then is reported failed (and cancelled)
    restart_inflight: int  # agents the fan-out in flight during the controller restart goes to


FULL = Scale("full", agents=10_000, subprocess_agents=1_000, latency_commands=500, idle_seconds=60.0,
             ansible_hosts=200, salt_minions=(10, 30), connect_rate=500.0, online_timeout=240.0,
             fanout_timeout=120.0, restart_inflight=1_000)
SMALL = Scale("small", agents=300, subprocess_agents=100, latency_commands=100, idle_seconds=10.0,
              ansible_hosts=20, salt_minions=(3,), connect_rate=500.0, online_timeout=60.0,
              fanout_timeout=60.0, restart_inflight=100)
SCALES = {s.name: s for s in (FULL, SMALL)}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Measure:
    key: str  # "connect.seconds": the JSON key; the part before the dot is the figure (--only)
    label: str  # the table's "figure" column
    unit: str  # "s", "ms", "KB", "MB", "%", "x", "" (a count)
    goal: str = ""  # as the issue writes it; empty: reported, no goal
    limit: float | None = None  # the number the median is checked against
    at_least: bool = False  # True: the median must be >= limit (ratios); else <= limit
    runs: list[float] = field(default_factory=list)
    error: str | None = None  # "not installable: ..." / "failed: ..." instead of a value
    note: str = ""  # how it was measured (sizes, rates, the peer's own figures)
    detail: dict[str, object] = field(default_factory=dict)  # numbers behind the value (a peer's own)

    @property
    def value(self) -> float | None:
        return statistics.median(self.runs) if self.runs and self.error is None else None

    @property
    def met(self) -> bool | None:
        """None when there is no goal or no value."""
        v = self.value
        if v is None or self.limit is None:
            return None
        return v >= self.limit if self.at_least else v <= self.limit

    def fail(self, reason: str) -> Measure:
        self.error = reason
        return self

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out.update(value=self.value, met=self.met)
        return out


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:,.1f} x"
    if unit == "":
        return f"{value:,.0f}"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 0.1 else 3
    return f"{value:,.{digits}f} {unit}"


def failed(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


def say(message: str) -> None:
    """A progress line on stderr (the table and the JSON are the results)."""
    import sys
    import time

    print(f"{time.strftime('%H:%M:%S')} bench: {message}", file=sys.stderr, flush=True)
