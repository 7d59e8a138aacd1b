"""Helpers for the Run Command end-to-end tests: bring up many agents at once, send commands and
read them back through the real CLI (``--output json`` everywhere)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from tests.support.cluster import Activation, Cluster, wait_for

# Command details after which nothing changes any more (docs/statuses.md).
TERMINAL_COMMAND_DETAILS = frozenset({"Success", "Failed", "Incomplete", "Cancelled", "DeliveryTimedOut",
                                      "ExecutionTimedOut", "NoInstancesInTag"})


def start_fleet(cluster: Cluster, names: Sequence[str], act: Activation, *, heartbeat: float = 1.0,
                online: bool = True, workers: int = 4) -> None:
    """Enroll ``names`` (a few CLI processes at a time), start every agent, then wait for all of
    them to be Online once."""
    with ThreadPoolExecutor(workers) as pool:
        for proc in pool.map(lambda n: cluster.enroll(n, act), names):
            assert proc.returncode == 0, proc.stderr
    for name in names:
        cluster.start_agent(name, heartbeat=heartbeat)
    if online:
        cluster.wait_online(names, timeout=60 + len(names))


def send(cluster: Cluster, *args: str, document: str = "Outpost-RunShellScript",
         commands: Iterable[str] = (), parameters: Iterable[str] = ()) -> dict:
    """``outpost command send`` with each line of ``commands`` as one ``commands=`` value (no commas:
    the CLI splits ``--parameters`` on them)."""
    argv = ["command", "send", "--document", document]
    for line in commands:
        assert "," not in line, f"--parameters splits on commas: {line!r}"
        argv += ["--parameters", f"commands={line}"]
    for p in parameters:
        argv += ["--parameters", p]
    row = cluster.outpost_json(*argv, *args)
    assert isinstance(row, dict)
    return row


def targets_for(cluster: Cluster, names: Iterable[str]) -> str:
    return "Key=InstanceIds,Values=" + ",".join(cluster.node_ids[n] for n in names)


def show(cluster: Cluster, command_id: str) -> dict:
    row = cluster.outpost_json("command", "show", command_id)
    assert isinstance(row, dict)
    return row


def by_node(row: dict) -> dict[str, dict]:
    return {i["node_id"]: i for i in row["invocations"]}


def wait_command(cluster: Cluster, command_id: str, timeout: float = 60) -> tuple[int, dict]:
    """``outpost command wait ID --output json``: its exit code and the final command."""
    proc = cluster.outpost("command", "wait", command_id, "--output", "json", check=False, timeout=timeout)
    assert proc.returncode in (0, 1), f"command wait exited {proc.returncode}: {proc.stderr}"
    row = json.loads(proc.stdout)
    assert row["status_detail"] in TERMINAL_COMMAND_DETAILS, row
    return proc.returncode, row


def wait_until(cluster: Cluster, command_id: str, predicate, timeout: float, what: str,
               interval: float = 0.2) -> dict:
    """Poll ``command show`` until ``predicate(row)``; the row that satisfied it."""
    seen: list[dict] = []

    def check() -> bool:
        seen[:] = [show(cluster, command_id)]
        return bool(predicate(seen[0]))
    try:
        wait_for(check, timeout, what, interval=interval)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen:\n{json.dumps(seen[0] if seen else None, indent=1)}") from None
    return seen[0]


def details(row: dict) -> dict[str, str]:
    return {i["node_id"]: i["status_detail"] for i in row["invocations"]}


def max_overlap(log: Path) -> tuple[int, list[str]]:
    """From lines ``start|end NODE TIME_NS``: the most nodes between their start and end at once,
    and the nodes in the order they started."""
    events: list[tuple[int, int, str]] = []
    order: list[tuple[int, str]] = []
    for line in log.read_text().splitlines():
        kind, node, ns = line.split()
        # an end sorts before a start at the same instant: touching intervals do not overlap
        events.append((int(ns), 0 if kind == "end" else 1, node))
        if kind == "start":
            order.append((int(ns), node))
    running: set[str] = set()
    peak = 0
    for _, kind, node in sorted(events):
        if kind:
            assert node not in running, f"{node} started twice"
            running.add(node)
            peak = max(peak, len(running))
        else:
            running.discard(node)
    return peak, [n for _, n in sorted(order)]


def processes_with_cmdline(cmdline: Sequence[str], roots: Iterable[int]) -> list[psutil.Process]:
    """Live (not zombie) descendants of ``roots`` whose command line is exactly ``cmdline``."""
    out = []
    for pid in roots:
        try:
            kids = psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for p in kids:
            try:
                if p.cmdline() == list(cmdline) and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.NoSuchProcess:
                continue
    return out


def alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still running (is_running() also guards against a reused pid)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
