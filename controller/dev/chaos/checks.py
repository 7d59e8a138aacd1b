"""What must hold after every chaos run, checked invocation by invocation.

- **At most once**: no (command, node) has two ``start`` lines in the count files, and no node ran
  a command it was not sent.
- **Bounded**: every invocation was terminal by its bound (below), as observed from outside.
- **Nothing lost**: every execution whose result its agent saw has it stored: an execution that got
  to its ``end`` line while the agent's life that started it went on at least ``SEEN_SECONDS``
  longer is stored Success with its marker in the output; every execution that started has the
  agent's own report stored, never AgentLost or DeliveryTimedOut (all agents are back, and all
  their journals empty, before the checks); and nothing is stored Success that did not run to its
  end under an agent that saw it (that would be a result made up).

The bound of an invocation (docs/reliability.md states it for readers) follows the rules of
docs/statuses.md, "When an agent goes"; all times are wall-clock seconds:

    unaccepted:  B = max(D, Zc) + W + sigma
    accepted:    B = max(A + E, Z) + G + H + W + sigma, and at least the unaccepted bound

- D: the delivery deadline, the moment ``command send`` returned plus ``--timeout-seconds``;
- A: when the agent accepted it (``started``, shown in whole seconds: plus one);
- E: the document's execution time (the step's timeout); G: ``--lost-agent-grace``;
  H: ``--heartbeat-timeout`` (a stalled link is noticed that late); W: ``--sweep-interval``;
- Z: the end of the last fault that touched the node (its agent's kill or restart, its route's cut,
  stall or slowness, the controller's death or disk) among those that began before B, plus that
  fault's reconnect allowance R = 5 s + min(30 s, 2 x its length) (gRPC's reconnect backoff,
  0.5 s growing 1.6 times to 30 s, waits at most about twice an outage past its end; 5 s for an
  agent's start and the recovery of what its previous life left); Zc: the same over the
  controller's own faults only (a delivery deadline needs the controller up and its disk free);
- sigma: what watching from outside and a loaded machine add (``Settings.slack``).

A fault that began after an invocation's bound can never excuse it: B is computed from the faults
before it, taking in a later one only while it begins before the bound so far. When the machine
itself stood still (controller/dev/chaos/machine.py), the stalls within an invocation's window are
added to its bound: every process stopped, the watching one included.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.dev.chaos.fleet import Life
from controller.dev.chaos.observe import COMMAND_TERMINAL, UNREPORTED, Invocation, Key, Shown
from controller.dev.chaos.plan import FaultKind, Settings
from controller.dev.chaos.script import Execution, marker

SEEN_SECONDS = 3.0  # an agent alive this long after its execution's end has seen that end


@dataclass(frozen=True)
class FaultRecord:
    """A fault as it happened: ``nodes`` it touched (None: every node, a controller fault)."""
    kind: FaultKind
    started: float
    ended: float  # undone (restarted, restored, freed); a kill left for dead: when the process exited
    targets: tuple[str, ...]
    nodes: frozenset[str] | None

    @property
    def reconnect(self) -> float:
        return 5.0 + min(30.0, 2.0 * (self.ended - self.started))

    def touches(self, node_id: str) -> bool:
        return self.nodes is None or node_id in self.nodes


@dataclass(frozen=True)
class SentCommand:
    command_id: str
    sent_at: float  # when `command send` returned (or the shown creation time, plus one, if it did not)


class Problem(enum.Enum):
    DUPLICATED = "duplicated"  # run twice on a node
    STRAY = "stray"  # ran on a node it was not sent to
    LATE = "late"  # not terminal by its bound
    LOST = "lost"  # a result the agent had is not stored
    MADE_UP = "made up"  # stored Success without an execution its agent saw end
    OPEN = "command not terminal"  # every invocation ended, the command did not


@dataclass(frozen=True)
class Finding:
    problem: Problem
    command_id: str
    node_id: str
    what: str


@dataclass(frozen=True)
class FaultToTerminal:
    seconds: float
    kind: FaultKind
    command_id: str
    node_id: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    invocations: int
    findings: tuple[Finding, ...]
    unsure: int  # executions that ended within SEEN_SECONDS of their agent's end (either outcome allowed)
    longest: FaultToTerminal | None
    longest_by_kind: Mapping[FaultKind, float]
    closest: float | None  # the least time an invocation had left to its bound when it ended

    def count(self, problem: Problem) -> int:
        return sum(1 for f in self.findings if f.problem is problem)


class Seen(Protocol):
    """What the observer saw of each (command, node): when it was first past Pending, first terminal."""
    def dispatched(self, key: Key) -> float | None: ...
    def first_terminal(self, key: Key) -> float | None: ...


def bound(inv: Invocation, sent: SentCommand, settings: Settings, faults: Sequence[FaultRecord]) -> float:
    """When ``inv`` must be terminal by (see the module's docstring)."""
    s = settings
    deadline = sent.sent_at + s.delivery_timeout

    def settle(base: float, tail: float, relevant: Callable[[FaultRecord], bool]) -> float:
        b = base + tail
        while True:
            z = max([f.ended + f.reconnect for f in faults if relevant(f) and f.started <= b], default=base)
            nb = max(base, z) + tail
            if nb <= b:
                return b
            b = nb

    unaccepted = settle(deadline, s.sweep_interval + s.slack, lambda f: f.nodes is None)
    if inv.started is None:
        return unaccepted
    accepted = settle(inv.started + 1 + s.execution_seconds,
                      s.lost_grace + s.heartbeat_timeout + s.sweep_interval + s.slack,
                      lambda f: f.touches(inv.node_id))
    return max(accepted, unaccepted)


def _life_check(inv: Invocation, ex: Execution, life: Life | None) -> tuple[Problem | None, str, bool]:
    """The nothing-lost and nothing-made-up checks of one execution: (problem, what, unsure)."""
    success = inv.detail == "Success" and marker(inv.command_id) in inv.output
    if inv.detail in UNREPORTED or not inv.terminal:
        return Problem.LOST, f"it ran (started at {ex.starts[0]:.1f}) but the agent's report is not stored: " \
                             f"{inv.detail}", False
    end = ex.ended_at
    if end is None:
        if inv.detail == "Success":
            return Problem.MADE_UP, "stored Success, but the script never got to its end", False
        return None, "", False
    dead_at = life.ended if life is not None else None
    if dead_at is None or dead_at > end + SEEN_SECONDS:
        if not success:
            has = "with" if marker(inv.command_id) in inv.output else "without"
            return Problem.LOST, (f"the script ended at {end:.1f} under an agent alive until "
                                  f"{dead_at if dead_at is not None else 'the end'}, but the stored result is "
                                  f"{inv.detail}, {has} the marker ({inv.errors.strip()[:200]!r})"), False
        return None, "", False
    if dead_at >= end:  # the agent died just after: it may or may not have seen the end
        if not (success or inv.detail == "Failed"):
            return Problem.LOST, (f"the script ended {dead_at - end:.1f} s before its agent died; "
                                  f"stored {inv.detail}"), True
        return None, "", True
    if inv.detail == "Success":  # the script outlived its agent: no life of it saw the end
        return Problem.MADE_UP, f"stored Success, but the script ended at {end:.1f}, after its agent died " \
                                f"at {dead_at:.1f}", False
    return None, "", False


def check_run(settings: Settings, sent: Mapping[str, SentCommand], final: Sequence[Shown], seen: Seen,
              collected_at: float, executions: Mapping[Key, Execution], faults: Sequence[FaultRecord],
              life_of: Callable[[str, float], Life | None],
              stalled: Callable[[float, float], float] = lambda start, end: 0.0) -> Verdict:
    """Every invariant over one run: ``final`` is what ``command show`` gives at the end (taken at
    ``collected_at``), ``seen`` what the observer saw meanwhile, ``life_of(node id, t)`` the life
    of the process that runs the node's agent at ``t``, ``stalled(start, end)`` how long the
    machine stood still in between (controller/dev/chaos/machine.py: added to a bound, reported)."""
    findings: list[Finding] = []
    unsure = 0
    longest: FaultToTerminal | None = None
    by_kind: dict[FaultKind, float] = {}
    closest: float | None = None
    keys: set[Key] = set()
    for command in final:
        if command.detail not in COMMAND_TERMINAL:
            findings.append(Finding(Problem.OPEN, command.command_id, "-", f"the command is {command.detail}"))
        for inv in command.invocations:
            key = (inv.command_id, inv.node_id)
            keys.add(key)
            cmd = sent[inv.command_id]
            ended = seen.first_terminal(key) or (collected_at if inv.terminal else None)
            limit = bound(inv, cmd, settings, faults)
            limit += stalled(cmd.sent_at, limit + stalled(cmd.sent_at, limit))
            if ended is None or ended > limit:
                findings.append(Finding(Problem.LATE, *key, f"terminal at {ended if ended else 'never'}, bound "
                                        f"{limit:.1f} (sent {cmd.sent_at:.1f}, accepted {inv.started}, {inv.detail})"))
            elif closest is None or limit - ended < closest:
                closest = limit - ended
            ex = executions.get(key)
            if ex is not None and len(ex.starts) > 1:
                findings.append(Finding(Problem.DUPLICATED, *key, f"{len(ex.starts)} executions, at {ex.starts}"))
            if ex is not None and ex.starts:
                problem, what, doubt = _life_check(inv, ex, life_of(inv.node_id, ex.starts[0]))
                unsure += doubt
                if problem is not None:
                    findings.append(Finding(problem, *key, what))
            elif inv.detail == "Success":
                findings.append(Finding(Problem.MADE_UP, *key, "stored Success, but the script never ran"))
            # how long after a fault that struck it while it was out (sent, or held for its node) it ended
            out = seen.dispatched(key) or inv.started
            if ended is None or out is None:
                continue
            for f in faults:
                if f.touches(inv.node_id) and out <= f.started < ended:
                    took = ended - f.started
                    by_kind[f.kind] = max(by_kind.get(f.kind, 0.0), took)
                    if longest is None or took > longest.seconds:
                        longest = FaultToTerminal(took, f.kind, *key, inv.detail)
    count = len(keys)
    for key, ex in executions.items():
        if key not in keys and ex.starts:
            findings.append(Finding(Problem.STRAY, *key, f"ran at {ex.starts} but is no invocation of the command"))
    return Verdict(count, tuple(findings), unsure, longest, by_kind, closest)
