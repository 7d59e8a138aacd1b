"""The figures: what each one measures, and the runs that take them.

``catalogue`` makes the table's rows (``Measure``s) for the figures asked for; the group functions
fill them run by run. Runs that need the same expensive state share it: each of the swarm's runs is
a cold connect (controller restarted, every agent starting), then a fan-out on that connected fleet,
then a controller restart under it. A group that breaks marks its rows "failed: ..." rather than
dropping them.
"""
from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from bench.fleet import Fleet, PgSchema, fan_out, send_true, true_request, wait_command
from bench.model import Measure, Scale, failed, percentile, say
from bench.swarmctl import SwarmProcess
from controller.dev.cluster import OUTPOST, ROOT
from controller.sdk.transport import AdminClient, command_end
from outpost.v1 import outpost_pb2 as pb

FIGURES = ("connect", "rss", "fanout", "fanout_pg", "fanout_subprocess", "latency", "idle", "restart", "check",
           "ansible", "salt")
CHECK_PLAYBOOK = ROOT / "playbooks" / "hello.yml"


def catalogue(scale: Scale, wanted: Iterable[str]) -> dict[str, Measure]:
    n, m = f"{scale.agents:,}", f"{scale.subprocess_agents:,}"
    rows = [
        Measure("connect.seconds", f"{n} agents connect to a cold controller: time until all are Online", "s",
                "≤ 60 s", 60),
        Measure("connect.failed_streams", f"{n} agents connect: failed streams", "", "0", 0),
        Measure("rss.per_agent", f"controller RSS per connected agent at {n}", "KB", "≤ 120 KB", 120),
        Measure("fanout.seconds", f"fan-out: one command (noop) to all {n}, max-concurrency 100%: send until "
                "every result is stored and the command is terminal", "s", "≤ 5 s", 5),
        Measure("fanout_pg.seconds", f"the same fan-out to {n} on PostgreSQL", "s"),
        Measure("fanout_pg.ratio", "fan-out on PostgreSQL / on SQLite", "x", "≤ 1.5 × SQLite", 1.5),
        Measure("fanout_subprocess.seconds", f"fan-out with a real subprocess `true` on {m} agents", "s", "≤ 3 s", 3),
        Measure("latency.p50", f"one agent, {scale.latency_commands} sequential `true`: API call to stored result, p50 "
                "(RunCommand: sent and followed on one stream, as `command send --wait` and `playbook apply` do)",
                "ms", "≤ 10 ms", 10),
        Measure("latency.p99", "the same, p99", "ms", "≤ 30 ms", 30),
        Measure("latency.send_watch_p50", "the same with SendCommand, then WatchCommand from its answer, p50", "ms"),
        Measure("idle.rss", f"one real `outpost agent run`, idle for {scale.idle_seconds:g} s: RSS", "MB", "≤ 35 MB",
                35),
        Measure("idle.cpu", "the same: CPU", "%", "≤ 0.1 %", 0.1),
        Measure("restart.seconds", f"controller restarted under {n} connected agents: time until all are Online "
                "again", "s", "≤ 60 s", 60),
        Measure("restart.results_lost", f"controller restart: results lost (a fan-out to "
                f"{min(scale.restart_inflight, scale.agents):,} of them in flight)", "", "0", 0),
        Measure("check.seconds", "`outpost playbook apply --check` on a small playbook, whole process", "s",
                "≤ 0.5 s", 0.5),
        Measure("ansible.ratio", f"per-node cost vs Ansible ({scale.ansible_hosts} hosts, forks 50)", "x",
                "≥ 50 × cheaper", 50, at_least=True),
        *[Measure(f"salt.ratio_{k}", f"per-node cost vs Salt ({k} minions)", "x", "≥ 5 × cheaper", 5, at_least=True)
          for k in scale.salt_minions],
    ]
    want = set(wanted)
    return {r.key: r for r in rows if r.key.split(".")[0] in want}


def fail_rows(board: dict[str, Measure], figures: Iterable[str], exc: BaseException) -> None:
    """Mark the rows of ``figures`` that have no value yet as failed."""
    for fig in figures:
        for key, row in board.items():
            if key.split(".")[0] == fig and not row.runs and row.error is None:
                row.fail(failed(exc))


def _add(board: dict[str, Measure], key: str, value: float) -> None:
    if key in board:
        board[key].runs.append(value)


def _note(board: dict[str, Measure], key: str, note: str) -> None:
    if key in board:
        board[key].note = note


def fanout_run(fleet: Fleet, ids: list[str], scale: Scale, board: dict[str, Measure], key: str) -> float | None:
    """One fan-out into ``board[key]``: its seconds, or the row marked failed (then None; a row that
    failed once takes no more runs, so a slow fan-out costs the bench one timeout, not three)."""
    row = board.get(key)
    if row is not None and row.error:
        return None
    say(f"{fleet.name}: fan-out to {len(ids)} agents")
    outcome = fan_out(fleet.admin, ids, scale.fanout_timeout)
    if not outcome.terminal:
        error = (f"failed: not terminal after {scale.fanout_timeout:.0f} s ({outcome.completed:,} of "
                 f"{outcome.targets:,} results stored; cancelled)")
    elif outcome.not_success:
        error = f"failed: the command ended {outcome.detail} with {outcome.not_success:,} invocations not Success"
    else:
        _add(board, key, outcome.seconds)
        return outcome.seconds
    if row is not None:
        row.fail(error)
    return None


# ---------------------------------------------------------------------- the swarm on SQLite


def cold_connect(fleet: Fleet, swarm: SwarmProcess, scale: Scale) -> tuple[float, int, int, int]:
    """Stop the swarm, restart the controller, start every agent: (seconds to all Online, failed
    streams, controller RSS before, controller RSS with all connected)."""
    swarm.stop()
    fleet.wait_offline()
    fleet.stop_controller()
    fleet.start_controller()
    time.sleep(1.0)
    before = fleet.controller_rss()
    say(f"{fleet.name}: cold connect of {swarm.agents} agents")
    t0 = swarm.start()
    wait = fleet.wait_online(swarm.agents, scale.online_timeout, t0, swarm)
    until = swarm.mark()
    if not wait.reached:
        raise RuntimeError(f"only {wait.online} of {swarm.agents} agents Online after {wait.seconds:.0f} s")
    return wait.seconds, swarm.failed_streams(until=until), before, fleet.controller_rss()


def restart_under_load(fleet: Fleet, swarm: SwarmProcess, ids: list[str], scale: Scale) -> tuple[float, float, int]:
    """A fan-out to ``scale.restart_inflight`` of the agents in flight, SIGTERM the controller, start
    it again: (seconds from SIGTERM until all are Online again, seconds the stop took, results lost
    once that command settled: invocations without a stored Success)."""
    t_send = time.monotonic()
    cid = send_true(fleet.admin, ids[: scale.restart_inflight])
    say(f"{fleet.name}: restarting the controller under {swarm.agents} agents, a fan-out in flight")
    time.sleep(0.3)
    t0 = time.monotonic()
    stop_seconds = fleet.stop_controller()
    fleet.start_controller()
    wait = fleet.wait_online(swarm.agents, scale.online_timeout, t0, swarm)
    if not wait.reached:
        raise RuntimeError(f"only {wait.online} of {swarm.agents} agents Online {wait.seconds:.0f} s after restart")
    outcome = wait_command(fleet.admin, cid, t_send, timeout=600, interval=0.2)  # the delivery timeout
    return wait.seconds, stop_seconds, outcome.not_success


def swarm_group(root: Path, scale: Scale, runs: int, board: dict[str, Measure]) -> None:
    """Connect, RSS, fan-out and restart with the big noop swarm: each run is a cold connect, a
    fan-out on the connected fleet, and a controller restart under it."""
    figs = {k.split(".")[0] for k in board}
    fleet = Fleet(root, "sqlite").open()
    try:
        say(f"sqlite: enrolling {scale.agents} swarm agents")
        enrolled = fleet.enroll(scale.agents)
        _note(board, "connect.seconds", f"one `outpost swarm` process, {scale.connect_rate:g} new streams/s; "
              f"enrolment beforehand {enrolled:.0f} s (not timed); Online counted from the stored status")
        ids = fleet.node_ids(scale.agents)
        swarm = fleet.swarm(scale.agents, "noop", scale.connect_rate)
        stop_s: list[str] = []
        rss: list[str] = []
        for i in range(runs):
            if i == 0 or figs & {"connect", "rss", "restart"}:
                seconds, failures, before, after = cold_connect(fleet, swarm, scale)
                _add(board, "connect.seconds", seconds)
                _add(board, "connect.failed_streams", failures)
                _add(board, "rss.per_agent", (after - before) / scale.agents / 1000)
                rss.append(f"{before / 1e6:.0f} -> {after / 1e6:.0f} MB")
                _note(board, "rss.per_agent", f"controller RSS cold, then all connected: {', '.join(rss)}")
            if "fanout" in figs:
                fanout_run(fleet, ids, scale, board, "fanout.seconds")
            if "restart" in figs:
                seconds, stopped, lost = restart_under_load(fleet, swarm, ids, scale)
                _add(board, "restart.seconds", seconds)
                _add(board, "restart.results_lost", lost)
                stop_s.append(f"{stopped:.1f}")
                _note(board, "restart.seconds", f"from SIGTERM, a fan-out to {min(len(ids), scale.restart_inflight):,}"
                      f" of them in flight; the old process took {', '.join(stop_s)} s to stop")
        swarm.stop()
    finally:
        fleet.close()


def subprocess_group(root: Path, scale: Scale, runs: int, board: dict[str, Measure],
                     outpost_per_node: list[float]) -> None:
    """Fan-outs running a real `true` (the real plugins) on a swarm of ``scale.subprocess_agents``;
    their seconds per agent are Outpost's per-node cost for the peer comparison."""
    fleet = Fleet(root, "subprocess").open()
    try:
        say(f"subprocess: enrolling {scale.subprocess_agents} swarm agents")
        sub = fleet.swarm(scale.subprocess_agents, "subprocess", scale.connect_rate)
        sub.enroll()
        ids = fleet.node_ids(scale.subprocess_agents)
        t0 = sub.start()
        if not fleet.wait_online(scale.subprocess_agents, scale.online_timeout, t0, sub).reached:
            raise RuntimeError("the subprocess swarm did not come Online")
        for _ in range(runs):
            seconds = fanout_run(fleet, ids, scale, board, "fanout_subprocess.seconds")
            if seconds is not None:
                outpost_per_node.append(seconds / scale.subprocess_agents)
        _note(board, "fanout_subprocess.seconds", f"`outpost swarm --action subprocess`: the shell plugin runs "
              f"`true` in its own process group per agent; {scale.subprocess_agents:,} nodes registered")
        sub.stop()
    finally:
        fleet.close()


def postgres_group(root: Path, scale: Scale, runs: int, board: dict[str, Measure], sqlite_runs: list[float]) -> None:
    try:
        schema = PgSchema()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        raise RuntimeError(f"PostgreSQL is not reachable: {failed(exc)}") from exc
    fleet = Fleet(root, "postgresql", schema.url)
    try:
        fleet.open()
        say(f"postgresql: enrolling {scale.agents} swarm agents (schema {schema.name})")
        enrolled = fleet.enroll(scale.agents)
        ids = fleet.node_ids(scale.agents)
        swarm = fleet.swarm(scale.agents, "noop", scale.connect_rate)
        t0 = swarm.start()
        wait = fleet.wait_online(scale.agents, scale.online_timeout, t0, swarm)
        if not wait.reached:
            raise RuntimeError(f"only {wait.online} of {scale.agents} agents Online after {wait.seconds:.0f} s")
        for i in range(runs):
            seconds = fanout_run(fleet, ids, scale, board, "fanout_pg.seconds")
            if seconds is not None and i < len(sqlite_runs):
                _add(board, "fanout_pg.ratio", seconds / sqlite_runs[i])
        _note(board, "fanout_pg.seconds", f"schema {schema.name} (dropped afterwards); enrolment {enrolled:.0f} s, "
              f"connect {wait.seconds:.0f} s")
        _note(board, "fanout_pg.ratio", "run i on PostgreSQL / run i on SQLite, same invocation")
        ratio = board.get("fanout_pg.ratio")
        if ratio is not None and not ratio.runs and not ratio.error:
            ratio.fail("failed: " + ("no SQLite fan-out to compare with" if not sqlite_runs
                                     else "no PostgreSQL fan-out finished"))
    finally:
        fleet.close()
        schema.drop()


# ---------------------------------------------------------------------- one real agent


def round_trips(client: AdminClient, node_id: str, count: int, *, watch_after_send: bool = False) -> list[float]:
    """Milliseconds from each call until the command is terminal (its result stored): one RunCommand
    call, or (``watch_after_send``) a SendCommand call and a WatchCommand started from its answer."""
    out = []
    request = true_request([node_id], "1")
    for _ in range(count):
        t0 = time.perf_counter()
        if watch_after_send:
            cid = client.stub.SendCommand(request, timeout=60).command.command_id
            events = client.stub.WatchCommand(pb.WatchCommandRequest(command_id=cid), timeout=60)
        else:
            events = client.stub.RunCommand(request, timeout=60)
        if command_end(events) is None:
            raise RuntimeError("the command's events ended before the command did")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def single_group(root: Path, scale: Scale, runs: int, board: dict[str, Measure]) -> None:
    """Latency, `playbook apply --check` and idle agents, on a controller with a few real agents."""
    figs = {k.split(".")[0] for k in board}
    fleet = Fleet(root, "single").open()
    cluster = fleet.cluster
    try:
        idle = [f"idle{i}" for i in range(runs)] if "idle" in figs else []
        act = cluster.create_activation(limit=1 + len(idle))
        for name in ["a", *idle]:
            cluster.enroll(name, act)
        cluster.start_agent("a", heartbeat=30.0)
        cluster.wait_online(["a"])
        if "latency" in figs:
            say(f"single: {runs} x {scale.latency_commands} sequential commands")
            round_trips(fleet.admin, cluster.node_ids["a"], 10)  # warm-up
            for _ in range(runs):
                lat = round_trips(fleet.admin, cluster.node_ids["a"], scale.latency_commands)
                _add(board, "latency.p50", statistics.median(lat))
                _add(board, "latency.p99", percentile(lat, 0.99))
                lat = round_trips(fleet.admin, cluster.node_ids["a"], scale.latency_commands, watch_after_send=True)
                _add(board, "latency.send_watch_p50", statistics.median(lat))
        if "check" in figs:
            cmd = [*OUTPOST, "playbook", "apply", str(CHECK_PLAYBOOK), "--check"]
            for i in range(runs + 1):  # the first one warms the page cache
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=60)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise RuntimeError(f"playbook apply --check exited {proc.returncode}: {proc.stderr[-500:]}")
                if i:
                    _add(board, "check.seconds", wall)
            _note(board, "check.seconds", f"{CHECK_PLAYBOOK.relative_to(ROOT)} against 1 node; python start included")
        if idle:
            # every run is one agent; they idle side by side, in the same window, on a quiet controller
            say(f"single: {len(idle)} agents idle for {scale.idle_seconds:g} s")
            procs = [psutil.Process(cluster.start_agent(name, heartbeat=30.0).pid) for name in idle]
            cluster.wait_online(idle)
            time.sleep(2.0)
            t0, cpu0 = time.monotonic(), [_cpu_seconds(p) for p in procs]
            time.sleep(scale.idle_seconds)
            wall = time.monotonic() - t0
            for p, c0 in zip(procs, cpu0, strict=True):
                _add(board, "idle.rss", p.memory_info().rss / 1e6)
                _add(board, "idle.cpu", (_cpu_seconds(p) - c0) / wall * 100)
            _note(board, "idle.rss", f"{len(idle)} agents idle in the same window, heartbeat 30 s; RSS at its end")
    finally:
        fleet.close()
