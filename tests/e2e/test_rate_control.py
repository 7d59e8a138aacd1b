"""End to end: SSM's rate control (max-concurrency, max-errors, what counts as an error) with a real
controller, real agents and the CLI (docs/statuses.md, "Rate control")."""
from __future__ import annotations

import time
from pathlib import Path

import psutil

from tests.support.cluster import Cluster, wait_for
from tests.support.fleet import (
    alive,
    by_node,
    details,
    go_offline,
    max_overlap,
    processes_with_cmdline,
    send,
    show,
    start_fleet,
    targets_for,
    wait_command,
    wait_until,
)

WEB = "Key=tag:Role,Values=web"


def _overlap_script(log: Path) -> list[str]:
    # `>>` opens with O_APPEND and echo writes its short line in one write(2): lines never interleave
    return [f"echo start $OUTPOST_NODE_ID $(date +%s%N) >> {log}",
            "sleep 1",
            f"echo end $OUTPOST_NODE_ID $(date +%s%N) >> {log}"]


def test_max_concurrency_is_never_exceeded(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_controller()
    names = [f"n{i}" for i in range(8)]
    start_fleet(cluster, names, cluster.create_activation("Role=web", limit=8))
    ids = {cluster.node_ids[n] for n in names}

    for limit, expected in (("3", 3), ("25%", 2)):  # 25 % of 8 targets is 2
        log = tmp_path / f"overlap-{expected}.log"
        sent = send(cluster, "--targets", WEB, "--max-concurrency", limit, commands=_overlap_script(log))
        assert (sent["targets"], sent["max_concurrency"]) == (8, limit)
        rc, final = wait_command(cluster, sent["command_id"], timeout=90)
        assert rc == 0
        assert (final["status"], final["status_detail"]) == ("Success", "Success")
        assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (8, 8, 0, 0)
        assert set(details(final).values()) == {"Success"} and set(details(final)) == ids
        peak, order = max_overlap(log)
        assert sorted(order) == sorted(ids), "every node ran exactly once"
        assert peak == expected, f"--max-concurrency {limit}: at most {expected} at once, got {peak}"


def test_ssm_worked_example_50_targets_10_percent_max_errors(cluster: Cluster, tmp_path: Path) -> None:
    """SSM's own example: 10 % of 50 targets is 5 errors allowed, so dispatch stops at the 6th."""
    cluster.start_controller()
    names = [f"n{i:02d}" for i in range(50)]
    t0 = time.monotonic()
    start_fleet(cluster, names, cluster.create_activation("Role=web", limit=50), heartbeat=10)
    print(f"50 agents enrolled and Online in {time.monotonic() - t0:.1f} s")
    marks = tmp_path / "marks"
    marks.mkdir()

    sent = send(cluster, "--targets", WEB, "--max-concurrency", "1", "--max-errors", "10%",
                commands=[f"touch {marks}/started-$OUTPOST_NODE_ID", "exit 1"])
    assert sent["targets"] == 50
    rc, final = wait_command(cluster, sent["command_id"], timeout=120)
    assert rc == 1
    assert (final["status"], final["status_detail"]) == ("Failed", "Failed")
    assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (50, 50, 6, 0)
    invs = final["invocations"]
    failed = {i["node_id"] for i in invs if i["status_detail"] == "Failed"}
    terminated = [i for i in invs if i["status_detail"] == "Terminated"]
    assert len(failed) == 6 and len(terminated) == 44
    assert all(i["status"] == "Failed" and i["exit_code"] == 1 for i in invs if i["node_id"] in failed)
    assert all(i["status"] == "Cancelled" and i["exit_code"] == -1 and not i["started"] and not i["steps"]
               for i in terminated)
    started = {p.name.removeprefix("started-") for p in marks.iterdir()}
    assert started == failed, "exactly the 6 failed nodes ran the script, no Terminated one did"


def _fail_on(node_ids: list[str]) -> str:
    return f"case $OUTPOST_NODE_ID in {'|'.join(node_ids)}) exit 1;; esac"


def test_errors_within_max_errors_let_the_rest_run_and_end_incomplete(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_controller()
    names = [f"n{i}" for i in range(6)]
    start_fleet(cluster, names, cluster.create_activation("Role=web", limit=6))
    ids = sorted(cluster.node_ids[n] for n in names)
    failing = [ids[1], ids[4]]

    # two errors, two allowed: everything runs, the command is Incomplete (status Success)
    ran = tmp_path / "ran.log"
    sent = send(cluster, "--targets", WEB, "--max-errors", "2",
                commands=[f"echo $OUTPOST_NODE_ID >> {ran}", _fail_on(failing)])
    rc, final = wait_command(cluster, sent["command_id"])
    assert rc == 1, "command wait exits 0 only for Success"
    assert (final["status"], final["status_detail"]) == ("Success", "Incomplete")
    assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (6, 6, 2, 0)
    assert details(final) == {n: "Failed" if n in failing else "Success" for n in ids}
    assert sorted(ran.read_text().split()) == ids

    # one error allowed, one at a time: the 2nd error stops dispatch; the rest never start (Terminated).
    # The script fails the 2nd and the 4th run, whatever the order the nodes are dispatched in.
    count, order = tmp_path / "count", tmp_path / "order.log"
    sent = send(cluster, "--targets", WEB, "--max-errors", "1", "--max-concurrency", "1",
                commands=[f"n=$(cat {count} 2>/dev/null || echo 0)", "n=$((n + 1))", f"echo $n > {count}",
                          f"echo $OUTPOST_NODE_ID >> {order}", '[ "$n" -ne 2 ] && [ "$n" -ne 4 ]'])
    rc, final = wait_command(cluster, sent["command_id"])
    assert rc == 1
    assert (final["status"], final["status_detail"]) == ("Failed", "Failed")
    assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (6, 6, 2, 0)
    run_order = order.read_text().split()
    assert len(run_order) == 4, f"dispatch must stop at the 2nd error (the 4th run), ran {run_order}"
    got = details(final)
    assert [got[n] for n in run_order] == ["Success", "Failed", "Success", "Failed"]
    rest = set(ids) - set(run_order)
    assert len(rest) == 2 and {got[n] for n in rest} == {"Terminated"}
    assert {by_node(final)[n]["status"] for n in rest} == {"Cancelled"}


def test_only_failed_and_execution_timed_out_count(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_controller("--sweep-interval", "1")
    names = ["off", "r1", "r2", "r3"]
    start_fleet(cluster, names, cluster.create_activation("Role=web", limit=4))
    go_offline(cluster, "off")
    off = cluster.node_ids["off"]

    # DeliveryTimedOut: the offline node never takes it; with --max-errors 0 that is no error
    dto = send(cluster, "--targets", WEB, "--max-errors", "0", "--timeout-seconds", "30",
               commands=["echo ok $OUTPOST_NODE_ID"])
    # ExecutionTimedOut (meanwhile, on two running nodes, one at a time): the first one's timeout is
    # an error, which passes --max-errors 0, so the second never starts
    eto = send(cluster, "--targets", targets_for(cluster, ["r1", "r2"]), "--max-errors", "0",
               "--max-concurrency", "1", commands=["sleep 30"], parameters=["executionTimeout=5"])
    roots = [p.pid for p in cluster.agents.values()]
    wait_until(cluster, eto["command_id"], lambda r: any(i["started"] for i in r["invocations"]), 30,
               "the execution-timeout command to start")
    sleeps: list[psutil.Process] = []

    def sleeping() -> bool:
        sleeps[:] = processes_with_cmdline(["sleep", "30"], roots)
        return len(sleeps) == 1
    wait_for(sleeping, 30, "the sleep 30 process")

    rc, final = wait_command(cluster, eto["command_id"], timeout=60)
    assert rc == 1
    assert (final["status"], final["status_detail"]) == ("TimedOut", "ExecutionTimedOut")
    assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (2, 2, 1, 0)
    assert sorted(details(final).values()) == ["ExecutionTimedOut", "Terminated"]
    (timed_out,) = [i for i in final["invocations"] if i["status_detail"] == "ExecutionTimedOut"]
    assert timed_out["status"] == "TimedOut" and timed_out["exit_code"] == -1
    assert [s["status_detail"] for s in timed_out["steps"]] == ["ExecutionTimedOut"]
    assert not alive(sleeps), "the timed-out step's process is killed"

    row = show(cluster, dto["command_id"])
    assert details(row)[off] == "Delayed"
    rc, final = wait_command(cluster, dto["command_id"], timeout=60)
    assert rc == 1
    assert (final["status"], final["status_detail"]) == ("Success", "Incomplete")
    assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (4, 4, 0, 1)
    got = by_node(final)
    assert (got[off]["status"], got[off]["status_detail"], got[off]["exit_code"]) == ("TimedOut", "DeliveryTimedOut",
                                                                                     -1)
    for name in ("r1", "r2", "r3"):
        inv = got[cluster.node_ids[name]]
        assert (inv["status_detail"], inv["exit_code"]) == ("Success", 0)
        assert inv["steps"][0]["stdout"] == f"ok {cluster.node_ids[name]}\n"


def test_passing_max_errors_terminates_delayed_invocations(cluster: Cluster, tmp_path: Path) -> None:
    """docs/statuses.md: once the errors exceed max-errors, "the queued and the Delayed ones end
    Terminated" (SSM: never-started invocations end Terminated). A Delayed invocation has not started:
    it must not wait for its node, nor run when the node comes back."""
    cluster.start_controller("--sweep-interval", "1")
    start_fleet(cluster, ["off", "bad"], cluster.create_activation("Role=web", limit=2))
    go_offline(cluster, "off")
    off, bad = cluster.node_ids["off"], cluster.node_ids["bad"]
    marks = tmp_path / "marks"
    marks.mkdir()

    # a delivery timeout far beyond the waits below, so that DeliveryTimedOut cannot end it instead
    sent = send(cluster, "--targets", WEB, "--max-errors", "0", "--timeout-seconds", "300",
                commands=[f"touch {marks}/ran-$OUTPOST_NODE_ID", "exit 1"])
    cid = sent["command_id"]
    final = wait_until(cluster, cid, lambda r: r["status_detail"] not in {"Pending", "InProgress"}, 20,
                       "the command to end once max-errors is passed")
    assert details(final) == {bad: "Failed", off: "Terminated"}
    assert (final["status"], final["status_detail"]) == ("Failed", "Failed")
    assert (final["targets"], final["completed"], final["errors"], final["delivery_timed_out"]) == (2, 2, 1, 0)

    cluster.start_agent("off")
    cluster.wait_online(["off"])
    time.sleep(2)
    assert [p.name for p in marks.iterdir()] == [f"ran-{bad}"], "a Terminated invocation must never run"
    again = show(cluster, cid)
    assert details(again) == {bad: "Failed", off: "Terminated"} and again["errors"] == 1
