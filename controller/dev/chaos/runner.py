"""One chaos run after another on one fleet: heal, send the plan's commands while its faults
strike, bring the dead back once their invocations had to end without them, wait for everything to
settle, then check (controller/dev/chaos/checks.py).

A run, in time:

1. everything is healed and every node Online (the previous run's dead came back at its end);
2. the commands go out at their planned moments (retried while the controller is down or its
   disk full), each fault strikes at its moment, each on a thread of its own so that none waits
   for another; a killed process is restarted after the fault's length unless it is left dead;
3. the dead stay dead until every invocation they had accepted is terminal (AgentLost: nothing
   else can end them), or, in a run drawn to wait for delivery, until every invocation is
   (their undelivered ones end DeliveryTimedOut); then they are started again;
4. the run has settled when every invocation is terminal, every node Online and no agent holds an
   unacknowledged result (their journal files are empty); a run that does not settle in time
   is a finding, and is checked as it stands;
5. the final ``command show`` of each command of the run (found by the run's comment, so a command
   whose ``send`` answer was lost is checked too), the count files and the fault records go to the
   checks.
"""
from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from controller.dev.chaos.checks import FaultRecord, SentCommand, Verdict, check_run
from controller.dev.chaos.fleet import SWARM, ChaosFleet
from controller.dev.chaos.machine import MachineWatch, Stall
from controller.dev.chaos.observe import Observer, Shown, parse_iso
from controller.dev.chaos.plan import CommandPlan, FaultKind, FaultPlan, RunPlan, Settings, plan_run
from controller.dev.chaos.script import DOCUMENT_NAME, executions, read_records, uptime_offset

log = logging.getLogger(__name__)

SEND_PATIENCE = 90.0  # how long a command's send is retried while the controller cannot take it


@dataclass(frozen=True)
class RunResult:
    index: int
    seed: str
    seconds: float
    commands: int
    faults: tuple[FaultRecord, ...]
    verdict: Verdict
    settled: bool
    notes: tuple[str, ...]  # what happened that no fault explains (processes that died by themselves, ...)
    phases: tuple[tuple[str, float], ...] = ()  # where the run's time went, in order (seconds)
    stalls: tuple[Stall, ...] = ()  # when the machine stood still during the run

    @property
    def ok(self) -> bool:
        return self.settled and not self.verdict.findings and not self.notes


def available_kinds(fleet: ChaosFleet) -> list[FaultKind]:
    kinds = [k for k in FaultKind if k is not FaultKind.DISK_FULL or fleet.disk_full_unavailable is None]
    if not fleet.settings.swarm:
        kinds = [k for k in kinds if k not in (FaultKind.SWARM_KILL, FaultKind.SWARM_TERM)]
    return kinds


class Run:
    def __init__(self, fleet: ChaosFleet, observer: Observer, machine: MachineWatch, plan: RunPlan,
                 say: Callable[[str], None]) -> None:
        self.fleet = fleet
        self.observer = observer
        self.machine = machine
        self.plan = plan
        self.settings = fleet.settings
        self.say = say
        self.comment = f"chaos run {plan.index} seed {plan.seed}"
        self.sent: dict[str, SentCommand] = {}
        self.faults: list[FaultRecord] = []
        self.dead: set[str] = set()
        self.notes: list[str] = []
        self._lock = threading.Lock()
        # what a fault under way holds (FaultPlan.holds), made before the threads start
        self._holds = {h: threading.Lock() for f in plan.faults for h in f.holds}

    # ------------------------------------------------------------------ the run

    def execute(self) -> RunResult:
        began = time.time()
        phases: list[tuple[str, float]] = []

        def phase(name: str) -> None:
            phases.append((name, time.time() - began - sum(s for _, s in phases)))
        findings_before = len(self.fleet.findings)
        self.fleet.heal()
        self.fleet.wait_online(timeout=180)
        phase("heal")
        t0 = time.time()
        jobs: list[Callable[[], None]] = [lambda c=c: self._send(c, t0) for c in self.plan.commands]
        jobs += [lambda f=f: self._fault(f, t0) for f in self.plan.faults]
        with ThreadPoolExecutor(max_workers=len(jobs) or 1, thread_name_prefix="chaos-run") as pool:
            for fut in [pool.submit(j) for j in jobs]:
                try:
                    fut.result()
                except Exception as exc:  # noqa: BLE001 - the harness failed to do what it planned: noted
                    self.notes.append(f"the harness could not carry out a planned step: {exc!r}")
        self.fleet.check_processes()
        if self.fleet.cluster.controller is None:  # died by itself meanwhile: noted; the run goes on
            self.fleet.start_controller()
        self._discover()
        phase("faults")
        self._bring_back_the_dead()
        phase("dead")
        settled = self._settle()
        phase("settle")
        final, collected_at = self._collect()
        phase("collect")
        offset = uptime_offset()
        records = read_records(self.fleet.counts_dir, offset, self.sent)
        fleet = self.fleet
        verdict = check_run(self.settings, self.sent, final, self.observer, collected_at, executions(records),
                            self.faults, lambda node, at: fleet.lives.life_at(fleet.node_of[node], at),
                            self.machine.stalled)
        self.observer.forget(set(self.sent))
        self.notes += fleet.findings[findings_before:]
        if not settled:
            self.notes.append("the run did not settle in time (see the findings)")
        return RunResult(self.plan.index, self.plan.seed, time.time() - began, len(self.sent),
                         tuple(self.faults), verdict, settled, tuple(self.notes), tuple(phases),
                         tuple(self.machine.stalls(began, time.time())))

    # ------------------------------------------------------------------ commands

    def _send(self, plan: CommandPlan, t0: float) -> None:
        time.sleep(max(0.0, t0 + plan.at - time.time()))
        targets = ["--all"] if plan.targets == ("--all",) else [a for t in plan.targets for a in ("--targets", t)]
        args = ["command", "send", "--document", DOCUMENT_NAME, *targets, "--max-concurrency", plan.max_concurrency,
                "--max-errors", plan.max_errors, "--timeout-seconds", str(self.settings.delivery_timeout),
                "--comment", self.comment, "--output", "json"]
        give_up = time.time() + SEND_PATIENCE
        while True:
            proc = self.fleet.cluster.outpost(*args, check=False, timeout=60)
            if proc.returncode == 0:
                cid = str(json.loads(proc.stdout)["command_id"])
                with self._lock:
                    self.sent[cid] = SentCommand(cid, time.time())
                self.observer.watch(cid)
                return
            if time.time() > give_up:
                with self._lock:
                    self.notes.append(f"a command could not be sent for {SEND_PATIENCE:.0f} s: {proc.stderr.strip()}")
                return
            time.sleep(0.5)

    def _discover(self) -> None:
        """The run's commands whose ``send`` answered nothing (the controller died under it) but
        were stored: found by the run's comment."""
        for _ in range(60):
            proc = self.fleet.cluster.outpost("command", "list", "--limit", "200", "--output", "json",
                                              check=False, timeout=60)
            if proc.returncode == 0:
                break
            time.sleep(1)
        else:
            self.notes.append("command list did not answer for a minute")
            return
        for row in json.loads(proc.stdout):
            if row["comment"] == self.comment and row["command_id"] not in self.sent:
                created = parse_iso(row["created"]) or time.time()
                self.sent[row["command_id"]] = SentCommand(row["command_id"], created + 1)
                self.observer.watch(row["command_id"])

    # ------------------------------------------------------------------ faults

    def _fault(self, f: FaultPlan, t0: float) -> None:
        time.sleep(max(0.0, t0 + f.at - time.time()))
        held = [self._holds[h] for h in sorted(f.holds)]  # in one order: no two faults wait for each other
        for lock in held:
            lock.acquire()
        try:
            self._strike(f)
        finally:
            for lock in held:
                lock.release()

    def _strike(self, f: FaultPlan) -> None:
        fleet, kind = self.fleet, f.kind
        sig = signal.SIGKILL if kind in (FaultKind.CONTROLLER_KILL, FaultKind.AGENT_KILL, FaultKind.SWARM_KILL) \
            else signal.SIGTERM
        nodes: frozenset[str] | None = None
        started = exited = time.time()
        if kind in (FaultKind.CONTROLLER_KILL, FaultKind.CONTROLLER_TERM):
            fleet.stop_controller(sig)
            time.sleep(f.seconds)
            self._restart_controller()
        elif kind.kills:
            nodes = frozenset(n for n, p in fleet.node_of.items() if p in f.targets)
            with ThreadPoolExecutor(max_workers=len(f.targets)) as pool:  # all at once, as a rack losing power
                list(pool.map(lambda name: fleet.stop(name, sig), f.targets))
            exited = time.time()  # a SIGTERM'd agent stops its steps and reports first: its node goes now
            if f.revive:
                time.sleep(f.seconds)
                for name in f.targets:
                    fleet.start(name)
            else:
                with self._lock:
                    self.dead.update(f.targets)
        elif kind is FaultKind.DISK_FULL:
            filled = fleet.fill_disk()
            log.info("disk full: %d bytes written", filled)
            time.sleep(f.seconds)
            fleet.free_disk()
        else:
            nodes = frozenset(n for n, p in fleet.node_of.items() if p in f.targets)
            if kind is FaultKind.PROXY_CUT:
                fleet.proxy.cut(f.targets)
            elif kind is FaultKind.PROXY_STALL:
                fleet.proxy.stall(f.targets)
            else:
                assert f.slowness is not None
                fleet.proxy.slow(f.targets, f.slowness)
            time.sleep(f.seconds)
            fleet.proxy.restore(f.targets)
        ended = exited if kind.kills and not f.revive else time.time()
        with self._lock:
            self.faults.append(FaultRecord(kind, started, ended, f.targets, nodes))

    def _restart_controller(self) -> None:
        for attempt in range(5):
            try:
                self.fleet.start_controller()
                return
            except AssertionError as exc:  # it exited at start or did not listen: a finding, then again
                self.fleet.findings.append(f"the controller did not start (attempt {attempt + 1}): {str(exc)[:2000]}")
                self.fleet.cluster.controller = None
                time.sleep(1)
        raise RuntimeError("the controller does not start again; see the findings")

    # ------------------------------------------------------------------ the end of a run

    def _latest_bound_guess(self) -> float:
        s = self.settings
        return (max((c.sent_at for c in self.sent.values()), default=time.time()) + s.delivery_timeout
                + s.execution_seconds + s.lost_grace + s.heartbeat_timeout + s.sweep_interval + s.slack + 60)

    def _bring_back_the_dead(self) -> None:
        if not self.dead:
            return
        dead_nodes = {n for n, p in self.fleet.node_of.items() if p in self.dead}
        cids = set(self.sent)

        def ended_without_them() -> bool:
            if self.plan.wait_delivery:
                return self.observer.finished(cids)
            latest = self.observer.latest(cids)
            return all(i.terminal for i in latest if i.node_id in dead_nodes and i.started is not None)
        give_up = self._latest_bound_guess()
        while time.time() < give_up and not ended_without_them():
            time.sleep(0.5)
        for name in sorted(self.dead):
            self.fleet.start(name)

    def _settle(self) -> bool:
        cids = set(self.sent)
        give_up = self._latest_bound_guess()
        while time.time() < give_up:
            self.fleet.check_processes()
            if self.fleet.cluster.controller is None or any(not self.fleet.alive(n) for n in self._processes()):
                self.fleet.heal()  # something died by itself (a finding already): the run goes on
            if self.observer.finished(cids) and self.fleet.journals_pending() == 0 \
                    and self.fleet.online() == len(self.fleet.node_of):
                return True
            time.sleep(1.0)
        return False

    def _processes(self) -> list[str]:
        return [*self.fleet.agents, *([SWARM] if self.settings.swarm else [])]

    def _collect(self) -> tuple[list[Shown], float]:
        self._discover()
        final: list[Shown] = []
        collected_at = time.time()
        for cid in sorted(self.sent):
            for _ in range(60):
                got = self.observer.show(cid)
                if got is not None:
                    final.append(got)
                    break
                time.sleep(1)
            else:
                self.notes.append(f"command show {cid} did not answer for a minute")
        return final, collected_at


def run_campaign(fleet: ChaosFleet, observer: Observer, machine: MachineWatch, say: Callable[[str], None],
                 on_result: Callable[[RunResult], None]) -> list[RunResult]:
    s: Settings = fleet.settings
    kinds = available_kinds(fleet)
    results = []
    for index in range(s.first_run, s.first_run + s.runs):
        plan = plan_run(s, index, fleet.agents, sorted(fleet.routes), sorted(fleet.node_of), kinds)
        waits = plan.wait_delivery and any(not f.revive for f in plan.faults)
        say(f"run {index} (seed {plan.seed}): {len(plan.commands)} commands; faults: "
            + ", ".join(f"{f.kind.value} at {f.at:.1f}s for {f.seconds:.1f}s"
                        f"{' ' + ','.join(f.targets) if f.targets else ''}{'' if f.revive else ' (left dead)'}"
                        for f in plan.faults)
            + (" (the dead wait for delivery deadlines)" if waits else ""))
        result = Run(fleet, observer, machine, plan, say).execute()
        results.append(result)
        on_result(result)
    return results
