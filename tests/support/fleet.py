"""Helpers for the Run Command end-to-end tests: bring up many agents at once, send commands and
read them back through the real CLI (``--output json`` everywhere)."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psutil

from controller.dev.cluster import ROOT
from tests.support.cluster import Activation, Cluster, wait_for

# Command details after which nothing changes any more (docs/statuses.md).
TERMINAL_COMMAND_DETAILS = frozenset({"Success", "Failed", "Incomplete", "Cancelled", "DeliveryTimedOut",
                                      "ExecutionTimedOut", "NoInstancesInTag"})


# One Python process that runs the real ``outpost`` entry point (controller/cli/entry.py) once per
# line of its stdin, each line an argv as JSON, and prints {"rc", "stdout", "stderr"} per call as
# JSON lines. The same code and arguments as one ``outpost`` process per call, without paying the
# interpreter's start-up (~0.3 s of CPU) each time; and two calls follow each other with no gap.
# LAST_COMMAND_ID in an argv is replaced by the command_id of the previous call's JSON output.
LAST_COMMAND_ID = "@LAST_COMMAND_ID@"
_CLI_BATCH = """
import contextlib, io, json, sys
from controller.cli.entry import main
last = ""
for line in sys.stdin:
    argv = json.loads(line)
    if "@LAST_COMMAND_ID@" in argv:
        argv = [json.loads(last)["command_id"] if a == "@LAST_COMMAND_ID@" else a for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
    last = out.getvalue()
    sys.__stdout__.write(json.dumps({"rc": rc, "argv": argv, "stdout": last, "stderr": err.getvalue()}) + "\\n")
    sys.__stdout__.flush()
"""


def cli_batch(cluster: Cluster, argvs: Sequence[Sequence[str]], timeout: float = 120) -> list[dict]:
    """Run each argv through the real ``outpost`` entry point, in order, in one process."""
    lines = "".join(json.dumps(list(a)) + "\n" for a in argvs)
    proc = subprocess.run([sys.executable, "-c", _CLI_BATCH], input=lines, env=cluster.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(results) == len(argvs), proc.stdout + proc.stderr
    return results


def enroll_many(cluster: Cluster, names: Sequence[str], act: Activation) -> None:
    """``outpost agent enroll`` for each name (one process for all: enrolling 50 nodes takes ~1 s
    instead of ~10 s), recording the node ids as ``Cluster.enroll`` does."""
    argvs = [["agent", "enroll", "--controller", cluster.address, "--activation-id", act.activation_id,
              f"--activation-code={act.code}", "--ca-fingerprint", act.ca_fingerprint,
              "--state-dir", str(cluster.state_dir(n))] for n in names]
    for name, r in zip(names, cli_batch(cluster, argvs), strict=True):
        assert r["rc"] == 0, f"enrolling {name}: {r}"
        cluster.node_ids[name] = r["stdout"].strip().rsplit(" ", 1)[-1]


def start_fleet(cluster: Cluster, names: Sequence[str], act: Activation, *, heartbeat: float = 1.0) -> None:
    """Enroll ``names``, start every agent process, then wait once for all of them to be Online."""
    enroll_many(cluster, names, act)
    for name in names:
        cluster.start_agent(name, heartbeat=heartbeat)
    cluster.wait_online(names, timeout=60 + len(names))


def go_offline(cluster: Cluster, name: str) -> None:
    """Stop a node's agent and wait until the controller no longer has it Online."""
    cluster.stop_agent(name)
    node_id = cluster.node_ids[name]
    wait_for(lambda: all(r["ping_status"] != "Online" for r in cluster.nodes() if r["node_id"] == node_id), 30,
             f"{name} to be offline", interval=0.3)


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


def wait_until(cluster: Cluster, command_id: str, predicate: Callable[[dict], object], timeout: float, what: str,
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

