"""End to end: `outpost node deregister` (SSM's DeregisterManagedInstance) and `outpost activation
delete` (issue 18, point 5). A deregistered node's stream closes at once and its reconnects are
refused by its certificate's serial; what it was running ends AgentLost and what waited for it
Undeliverable, at once; it leaves `node list`; the call is on the audit trail. A deleted activation
enrols nothing."""
from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support.cluster import Cluster, pid_written, wait_for
from tests.support.docrun import by_node, send_script, show


def _two_nodes(c: Cluster) -> tuple[str, str]:
    c.start_controller()
    act = c.create_activation("Environment=dev", limit=2)
    for name in ("n1", "n2"):
        c.enroll(name, act)
        c.start_agent(name)
    c.wait_online(["n1", "n2"])
    return c.node_ids["n1"], c.node_ids["n2"]


def test_a_deregistered_node_is_cut_off_at_once_and_its_invocations_end(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    n1, n2 = _two_nodes(c)
    pidfile = tmp_path / "pid"
    running = send_script(c, n1, f"echo $$ > {pidfile}; sleep 60")
    pid_written(pidfile)
    wait_for(lambda: by_node(show(c, running))[n1]["started"] != "", 10, "n1 to accept the command")
    c.stop_agent("n2")  # its next command waits for it (Delayed)
    waiting = send_script(c, n2, "echo never")
    wait_for(lambda: by_node(show(c, waiting))[n2]["status_detail"] in ("Delayed", "Pending"), 10, "n2's to wait")

    began = time.monotonic()
    out = c.outpost("node", "deregister", n1).stdout
    assert out.startswith(f"node {n1} deregistered: certificate(s) ") and out.rstrip().endswith(
        "revoked, 1 invocation(s) ended"), out
    assert c.outpost("node", "deregister", n2).stdout.rstrip().endswith("1 invocation(s) ended")
    inv1, inv2 = by_node(show(c, running))[n1], by_node(show(c, waiting))[n2]
    assert (inv1["status"], inv1["status_detail"]) == ("Failed", "AgentLost"), inv1
    assert (inv2["status"], inv2["status_detail"]) == ("Failed", "Undeliverable"), inv2
    assert time.monotonic() - began < 15  # at once, not by a deadline of 60 s and more
    assert {n1, n2}.isdisjoint(r["node_id"] for r in c.nodes())

    # n1's agent is still running and keeps trying: refused each time, by its revoked certificate
    wait_for(lambda: "is revoked" in (c.root / "controller.log").read_text(), 20, "n1's reconnect to be refused")
    time.sleep(1)
    assert n1 not in {r["node_id"] for r in c.nodes()}
    refused = [json.loads(line) for line in c.outpost("audit", "export", "--action", "node:Connect",
                                                      "--format", "jsonl").stdout.splitlines()]
    assert [(r["actor"], r["outcome"]) for r in refused] == [(f"node/{n1}", "AccessDenied")]  # once, not a try
    again = c.outpost("node", "deregister", n1, check=False)
    assert again.returncode != 0 and again.stderr == f"error: no node {n1}\n"

    records = [json.loads(line) for line in c.outpost("audit", "export", "--action", "node:Deregister",
                                                      "--format", "jsonl").stdout.splitlines()]
    assert [r["outcome"] for r in records if r["resource"] == f"node/{n1}"] == [
        "Allowed", "Succeeded", "Allowed", "Failed"], records  # the second: no such node


def test_a_deleted_activation_enrols_nothing(cluster: Cluster) -> None:
    c = cluster
    c.start_controller()
    act = c.create_activation("Environment=dev", limit=5)
    c.enroll("first", act)
    out = c.outpost("activation", "delete", act.activation_id).stdout
    assert out == f"activation {act.activation_id} deleted (1 registration(s) made with it)\n"
    refused = c.enroll("second", act, check=False)
    assert refused.returncode != 0 and "does not exist" in refused.stderr and "Traceback" not in refused.stderr
    assert act.activation_id not in c.outpost("activation", "list", "--output", "json").stdout
    assert c.node_ids["first"] in {r["node_id"] for r in c.nodes()}  # what it enrolled stays
    gone = c.outpost("activation", "delete", act.activation_id, check=False)
    assert gone.returncode != 0 and gone.stderr == f"error: no activation {act.activation_id}\n"
