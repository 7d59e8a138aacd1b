"""The campaign's figures: a summary of every run, the table ``make chaos`` writes into
docs/reliability.md (between its ``chaos:begin`` and ``chaos:end`` markers, so the prose around it
stays as written), and every finding in full to a JSON file beside the fleet's logs."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.dev.chaos.checks import SEEN_SECONDS, FaultToTerminal, Problem
from controller.dev.chaos.plan import FaultKind, Settings
from controller.dev.chaos.runner import RunResult
from controller.dev.cluster import ROOT

BEGIN, END = "<!-- chaos:begin -->", "<!-- chaos:end -->"


@dataclass(frozen=True)
class Totals:
    runs: int
    failed_runs: int
    faults: Counter[FaultKind]
    invocations: int
    problems: Counter[Problem]
    unsure: int
    unsettled: int
    longest: FaultToTerminal | None
    longest_run: str  # "run N (seed S:N)"
    longest_by_kind: dict[FaultKind, float]
    closest: float | None  # the least time any invocation had left to its bound when it ended
    stalls: int  # times the machine stood still (controller/dev/chaos/machine.py)
    stalled_seconds: float
    longest_stall: float
    notes: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.failed_runs == 0


def totals(results: Sequence[RunResult]) -> Totals:
    faults: Counter[FaultKind] = Counter(f.kind for r in results for f in r.faults)
    problems: Counter[Problem] = Counter(f.problem for r in results for f in r.verdict.findings)
    longest, longest_run = None, ""
    by_kind: dict[FaultKind, float] = {}
    for r in results:
        lo = r.verdict.longest
        if lo is not None and (longest is None or lo.seconds > longest.seconds):
            longest, longest_run = lo, f"run {r.index} (seed {r.seed})"
        for kind, seconds in r.verdict.longest_by_kind.items():
            by_kind[kind] = max(by_kind.get(kind, 0.0), seconds)
    margins = [r.verdict.closest for r in results if r.verdict.closest is not None]
    stalls = [s for r in results for s in r.stalls]
    return Totals(len(results), sum(1 for r in results if not r.ok), faults,
                  sum(r.verdict.invocations for r in results), problems, sum(r.verdict.unsure for r in results),
                  sum(1 for r in results if not r.settled), longest, longest_run, by_kind,
                  min(margins) if margins else None, len(stalls), sum(s.seconds for s in stalls),
                  max((s.seconds for s in stalls), default=0.0),
                  tuple(f"run {r.index} (seed {r.seed}): {n}" for r in results for n in r.notes))


def run_line(r: RunResult) -> str:
    v = r.verdict
    counts = ", ".join(f"{p.value} {v.count(p)}" for p in Problem if v.count(p))
    longest = f"; longest fault to terminal {v.longest.seconds:.1f} s ({v.longest.kind.value})" if v.longest else ""
    longest += f"; least time left to a bound {v.closest:.1f} s" if v.closest is not None else ""
    phases = " + ".join(f"{name} {seconds:.0f}" for name, seconds in r.phases)
    if r.stalls:
        phases += f"; the machine stood still {len(r.stalls)} times, {sum(s.seconds for s in r.stalls):.0f} s"
    return (f"run {r.index} (seed {r.seed}): {'ok' if r.ok else 'FAILED'} in {r.seconds:.0f} s ({phases}); "
            f"{r.commands} commands, "
            f"{v.invocations} invocations, {len(r.faults)} faults{longest}"
            + (f"; {counts}" if counts else "") + ("" if r.settled else "; did not settle")
            + "".join(f"\n  note: {n}" for n in r.notes)
            + "".join(f"\n  {f.problem.value}: {f.command_id} on {f.node_id}: {f.what}" for f in v.findings[:20]))


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return (proc.stdout.strip() or "unknown") + (" (with local changes)" if dirty else "")


def table(t: Totals, s: Settings, command: str, wall_seconds: float, disk_full: str | None,
          loads: Sequence[float]) -> str:
    """The generated section of docs/reliability.md."""
    kinds = [k for k in FaultKind if t.faults[k] or k is not FaultKind.DISK_FULL or disk_full is None]
    lo = t.longest
    rows = [
        ("runs", f"{t.runs} ({t.failed_runs} with a finding)"),
        ("faults", f"{sum(t.faults.values())}: " + ", ".join(f"{k.value} {t.faults[k]}" for k in kinds)),
        ("invocations", f"{t.invocations}"),
        ("lost", f"{t.problems[Problem.LOST]} (made-up results: {t.problems[Problem.MADE_UP]}; executions that ended "
                 f"within {SEEN_SECONDS:.0f} s of their agent's death, either outcome allowed: {t.unsure})"),
        ("duplicated", f"{t.problems[Problem.DUPLICATED]} (run where not sent: {t.problems[Problem.STRAY]})"),
        ("not terminal within the bound", f"{t.problems[Problem.LATE]} (commands not terminal: "
                                          f"{t.problems[Problem.OPEN]}; runs that did not settle: {t.unsettled})"),
        ("least time left to a bound", "-" if t.closest is None else f"{t.closest:.1f} s"),
        ("the machine stood still", f"{t.stalls} times, {t.stalled_seconds:.0f} s in all, the longest "
                                    f"{t.longest_stall:.1f} s (added to the bounds they overlap)"),
        ("load average", "-" if not loads else f"{sum(loads) / len(loads):.1f} on average, {max(loads):.1f} at most "
                                               f"(on {os.cpu_count()} CPUs)"),
        ("longest fault to terminal", f"{lo.seconds:.1f} s: {lo.kind.value}, {t.longest_run}, command {lo.command_id} "
                                      f"on {lo.node_id}, ended {lo.detail}" if lo else "-"),
    ]
    lines = [BEGIN, "",
             f"Measured {time.strftime('%Y-%m-%d')} on commit {_commit()}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs, in {wall_seconds / 60:.0f} min ({wall_seconds / max(1, t.runs):.0f} s a run, "
             f"set-up included), with:", "", "```", command, "```", "",
             f"Each run: {s.agents} agents and a swarm of {s.swarm} on 127.0.0.1, all through the fault proxy; "
             f"{s.commands[0]}-{s.commands[1]} commands, {s.faults[0]}-{s.faults[1]} faults of 1 to "
             f"{s.fault_seconds[1]:.0f} s. E = {s.execution_seconds} s, G = {s.lost_grace:g} s, "
             f"H = {s.heartbeat_timeout:g} s, W = {s.sweep_interval:g} s, sigma = {s.slack:g} s, "
             f"delivery timeout {s.delivery_timeout} s.", ""]
    if disk_full is not None:
        lines += [f"disk-full: not available here ({disk_full}).", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "Longest time from a fault to the terminal status of an invocation it touched, by kind:", "",
              "| fault | runs it struck | longest to terminal |", "|---|---|---|"]
    lines += [f"| {k.value} | {t.faults[k]} | {t.longest_by_kind[k]:.1f} s |" if k in t.longest_by_kind
              else f"| {k.value} | {t.faults[k]} | - |" for k in kinds]
    if t.notes:
        lines += ["", "Noted during the runs:", ""] + [f"- {n}" for n in t.notes[:30]]
    return "\n".join([*lines, "", END])


def write_doc(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Reliability\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def write_json(path: Path, results: Sequence[RunResult]) -> None:
    doc = [{"run": r.index, "seed": r.seed, "seconds": round(r.seconds, 1), "ok": r.ok, "settled": r.settled,
            "commands": r.commands, "invocations": r.verdict.invocations, "unsure": r.verdict.unsure,
            "faults": [{"kind": f.kind.value, "started": f.started, "ended": f.ended, "targets": list(f.targets)}
                       for f in r.faults],
            "closest": r.verdict.closest, "phases": dict(r.phases),
            "stalls": [{"started": s.started, "seconds": round(s.seconds, 2)} for s in r.stalls],
            "longest": None if r.verdict.longest is None else {
                "seconds": round(r.verdict.longest.seconds, 2), "kind": r.verdict.longest.kind.value,
                "command_id": r.verdict.longest.command_id, "node_id": r.verdict.longest.node_id},
            "findings": [{"problem": f.problem.value, "command_id": f.command_id, "node_id": f.node_id,
                          "what": f.what} for f in r.verdict.findings],
            "notes": list(r.notes)} for r in results]
    path.write_text(json.dumps(doc, indent=1) + "\n")
