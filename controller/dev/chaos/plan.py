"""What a chaos run does, drawn at random before it starts: when each command goes out and to
whom, and which faults strike when, for how long, and whom.

Everything comes from one seeded ``random.Random`` per run (``run_seed``), so the plan of run N of
seed S is the same every time and a run can be replayed (``--seed S --first-run N --runs 1``). Two
faults never hold the same thing at once (the controller and its disk count as one thing, each
agent, the swarm and each proxy route as one each): a kill of a process that is already dead, or a
cut of a route that is stalled, would be no fault of its own, and the checks could not tell which
fault an invocation's delay came from. The plan keeps them apart at the planned times; the runner
also makes a fault wait for whatever still holds its things (a SIGTERM'd controller may take
longer to stop than planned), and records when each fault really struck.
"""
from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

from controller.dev.chaos.proxy import Slowness


class FaultKind(enum.Enum):
    CONTROLLER_KILL = "controller kill -9"
    CONTROLLER_TERM = "controller SIGTERM"
    AGENT_KILL = "agent kill -9"
    AGENT_TERM = "agent SIGTERM"
    SWARM_KILL = "swarm kill -9"
    SWARM_TERM = "swarm SIGTERM"
    PROXY_CUT = "proxy cut"
    PROXY_STALL = "proxy stall"
    PROXY_SLOW = "proxy slow"
    DISK_FULL = "controller disk full"

    @property
    def kills(self) -> bool:
        return self in (FaultKind.AGENT_KILL, FaultKind.AGENT_TERM, FaultKind.SWARM_KILL, FaultKind.SWARM_TERM)


@dataclass(frozen=True)
class Settings:
    """One chaos campaign. The defaults are the full target (`make chaos`); :data:`SMOKE` is the
    scaled-down run of the test suite."""
    runs: int = 100
    seed: int = 1
    first_run: int = 1
    agents: int = 20  # real `outpost agent run` processes
    swarm: int = 200  # simulated agents of one `outpost swarm --action subprocess`
    commands: tuple[int, int] = (4, 7)  # commands per run, inclusive
    faults: tuple[int, int] = (2, 5)  # faults per run, inclusive
    send_window: float = 12.0  # commands go out in [0, send_window] s of the run
    fault_window: float = 16.0  # faults strike in [0, fault_window] s
    fault_seconds: tuple[float, float] = (1.0, 6.0)  # how long a fault lasts (a kill: until the restart)
    execution_seconds: int = 12  # the step's timeout: the document's execution time E
    max_sleep_ms: int = 4000  # each execution sleeps [0, this) ms
    delivery_timeout: int = 30  # --timeout-seconds (the controller's least)
    lost_grace: float = 5.0  # controller serve --lost-agent-grace (G)
    sweep_interval: float = 1.0  # controller serve --sweep-interval (W)
    heartbeat_timeout: float = 10.0  # controller serve --heartbeat-timeout (H)
    slack: float = 15.0  # sigma: observation and processing under load (docs/reliability.md)
    left_dead: float = 0.35  # chance that a killed agent stays dead until its invocations end AgentLost
    wait_delivery: float = 0.2  # chance that the dead stay dead until every invocation is terminal
    disk_mb: int = 256  # the controller's tmpfs
    poll_seconds: float = 2.0  # how often the observer reads unfinished commands back


SMOKE = Settings(runs=1, agents=4, swarm=10, commands=(2, 3), faults=(3, 4), send_window=2.0, fault_window=5.0,
                 fault_seconds=(0.5, 2.5), execution_seconds=5, max_sleep_ms=1500, lost_grace=2.0,
                 sweep_interval=0.5, heartbeat_timeout=4.0, left_dead=0.4, wait_delivery=0.0, disk_mb=64,
                 poll_seconds=1.0)


@dataclass(frozen=True)
class CommandPlan:
    at: float  # seconds into the run
    targets: tuple[str, ...]  # --targets items, or ("--all",)
    max_concurrency: str
    max_errors: str


@dataclass(frozen=True)
class FaultPlan:
    kind: FaultKind
    at: float
    seconds: float  # until it is undone (a restart, a restore, the disk freed)
    targets: tuple[str, ...]  # agent names, route names; () for the controller and its disk
    revive: bool = True  # a killed agent (or swarm) restarts after ``seconds``; else it stays dead
    slowness: Slowness | None = None

    @property
    def holds(self) -> tuple[str, ...]:
        """What it holds while it lasts: "controller" (the process and its disk), agents' names,
        "swarm", "route:NAME"."""
        if self.kind in (FaultKind.CONTROLLER_KILL, FaultKind.CONTROLLER_TERM, FaultKind.DISK_FULL):
            return ("controller",)
        if self.kind.kills:
            return self.targets
        return tuple(f"route:{r}" for r in self.targets)


@dataclass(frozen=True)
class RunPlan:
    index: int
    seed: str
    commands: tuple[CommandPlan, ...]
    faults: tuple[FaultPlan, ...]
    wait_delivery: bool  # the dead stay dead until every invocation is terminal (DeliveryTimedOut)


def run_seed(seed: int, index: int) -> str:
    return f"{seed}:{index}"


def _command(rng: random.Random, settings: Settings, node_ids: Sequence[str]) -> CommandPlan:
    shape = rng.choice(["all", "real", "swarm", "some"])
    if shape == "all":
        targets: tuple[str, ...] = ("--all",)
    elif shape in ("real", "swarm"):
        targets = (f"Key=tag:Fleet,Values={shape}",)
    else:
        chosen = rng.sample(list(node_ids), min(len(node_ids), rng.randint(1, 12)))
        targets = (f"Key=InstanceIds,Values={','.join(chosen)}",)
    return CommandPlan(round(rng.uniform(0.0, settings.send_window), 2), targets,
                       rng.choice(["50", "100%", "25%", "10"]), rng.choice(["0", "10%", "100%"]))


def plan_run(settings: Settings, index: int, agents: Sequence[str], routes: Sequence[str],
             node_ids: Sequence[str], kinds: Sequence[FaultKind]) -> RunPlan:
    """The plan of run ``index``: ``agents`` are the real agents' names, ``routes`` the proxy's,
    ``node_ids`` every node, ``kinds`` the faults this machine can inject."""
    seed = run_seed(settings.seed, index)
    rng = random.Random(seed)
    commands = tuple(sorted((_command(rng, settings, node_ids) for _ in range(rng.randint(*settings.commands))),
                            key=lambda c: c.at))
    busy: dict[str, list[tuple[float, float]]] = {}

    def free(things: Sequence[str], start: float, end: float) -> bool:
        return all(e <= start or s >= end for t in things for s, e in busy.get(t, []))

    faults: list[FaultPlan] = []
    for _ in range(rng.randint(*settings.faults)):
        for _attempt in range(20):
            kind = rng.choice(list(kinds))
            at = round(rng.uniform(0.0, settings.fault_window), 2)
            seconds = round(rng.uniform(*settings.fault_seconds), 2)
            revive, slowness = True, None
            if kind in (FaultKind.CONTROLLER_KILL, FaultKind.CONTROLLER_TERM, FaultKind.DISK_FULL):
                targets: tuple[str, ...] = ()
            elif kind in (FaultKind.AGENT_KILL, FaultKind.AGENT_TERM):
                targets = tuple(sorted(rng.sample(list(agents), rng.randint(1, min(4, len(agents))))))
                revive = rng.random() >= settings.left_dead
            elif kind in (FaultKind.SWARM_KILL, FaultKind.SWARM_TERM):
                targets = ("swarm",)
                revive = rng.random() >= settings.left_dead
            else:
                every = rng.random() < 0.3
                targets = tuple(routes) if every else tuple(sorted(rng.sample(list(routes),
                                                                              rng.randint(1, min(5, len(routes))))))
                if kind is FaultKind.PROXY_SLOW:
                    slowness = Slowness(round(rng.uniform(0.1, 1.5), 2), rng.randint(2_000, 64_000))
            fault = FaultPlan(kind, at, seconds, targets, revive, slowness)
            # a dead agent stays held to the end of the run; a live one a little past its restart
            end = settings.fault_window + settings.fault_seconds[1] + 1 if not revive else at + seconds + 0.5
            if not free(fault.holds, at, end):
                continue
            for t in fault.holds:
                busy.setdefault(t, []).append((at, end))
            faults.append(fault)
            break
    return RunPlan(index, seed, commands, tuple(sorted(faults, key=lambda f: f.at)),
                   rng.random() < settings.wait_delivery)
