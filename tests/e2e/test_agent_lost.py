"""End to end: what the controller does when an agent goes and does not come back, is cut off
while a cancel comes, or has a copy (issue 17's findings: such invocations stayed InProgress or
Cancelling for good, and two agents on one copied state directory both ran commands)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil

from controller.dev.cluster import OUTPOST
from tests.support.cluster import Cluster, pid_written, process_alive, wait_for
from tests.support.docrun import by_node, popen_outpost, send_script, show, start_agent_with_env, wait_terminal

GRACE = "2"


def _fleet(cluster: Cluster, *controller_args: str) -> str:
    cluster.start_controller("--sweep-interval", "0.5", "--lost-agent-grace", GRACE, *controller_args)
    act = cluster.create_activation("Environment=dev", limit=1)
    cluster.enroll("n1", act)
    cluster.start_agent("n1")
    cluster.wait_online(["n1"])
    return cluster.node_ids["n1"]


def test_an_agent_that_never_comes_back_ends_agent_lost_by_its_deadline(cluster: Cluster, tmp_path: Path) -> None:
    node = _fleet(cluster)
    pidfile = tmp_path / "pid"
    cid = send_script(cluster, node, f"echo $$ > {pidfile}; sleep 60", "--parameters", "executionTimeout=5")
    step_pid = pid_written(pidfile)
    wait_for(lambda: by_node(show(cluster, cid))[node]["started"] != "", 10, "the agent to accept it")
    gone_at = time.monotonic()
    cluster.stop_agent("n1", signal.SIGKILL)
    try:
        # bounded: accepted + the step's 5 s + the 2 s grace (and the sweep's half second)
        waited = subprocess.run([*OUTPOST, "command", "wait", cid, "--output", "json"],
                                env=cluster.env, capture_output=True, text=True, timeout=60)
        ended_in = time.monotonic() - gone_at
        inv = by_node(show(cluster, cid))[node]
        assert (inv["status"], inv["status_detail"]) == ("Failed", "AgentLost"), inv
        assert show(cluster, cid)["status_detail"] == "Failed"  # an error: max-errors 0 is passed
        assert ended_in < 30, ended_in
        assert waited.returncode != 0 and "Traceback" not in waited.stderr
    finally:
        if process_alive(step_pid):
            psutil.Process(step_pid).kill()


def test_a_cancel_while_the_agent_is_cut_off_ends_at_once_and_reaches_the_agent_when_it_is_back(
        cluster: Cluster, tmp_path: Path) -> None:
    node = _fleet(cluster, "--heartbeat-timeout", "3")
    pidfile = tmp_path / "pid"
    cid = send_script(cluster, node, f"echo $$ > {pidfile}; sleep 60")
    step_pid = pid_written(pidfile)
    agent = cluster.agents["n1"]
    agent.send_signal(signal.SIGSTOP)  # alive, running its step, but silent: cut off as far as anyone can tell
    try:
        wait_for(lambda: any(r["node_id"] == node and r["ping_status"] != "Online" for r in cluster.nodes()), 20,
                 "the controller to give up the silent stream")
        began = time.monotonic()
        cluster.outpost("command", "cancel", cid)
        shown = wait_terminal(cluster, cid, 5)
        assert time.monotonic() - began < 5
        assert by_node(shown)[node]["status_detail"] == "Cancelled"
        assert process_alive(step_pid)  # the agent has not heard yet
    finally:
        agent.send_signal(signal.SIGCONT)
    wait_for(lambda: not process_alive(step_pid), 30, "the agent, back, to stop the cancelled command's process")
    assert by_node(show(cluster, cid))[node]["status_detail"] == "Cancelled"
    assert "cancel of" in (cluster.root / "controller.log").read_text()


def test_a_second_agent_with_the_same_identity_is_refused_and_no_command_runs_twice(
        cluster: Cluster, tmp_path: Path) -> None:
    node = _fleet(cluster)
    feed = popen_outpost(cluster, "events", "--follow", "--output", "json")
    time.sleep(1)  # subscribed before the copy comes
    clone_dir = cluster.state_dir("n1-copy")
    shutil.copytree(cluster.state_dir("n1"), clone_dir)  # a VM snapshot, a golden image, a restored backup
    cluster.node_ids["n1-copy"] = node
    start_agent_with_env(cluster, "n1-copy", {"OUTPOST_TEST_COPY": "copy"})
    wait_for(lambda: "already has a live stream" in (cluster.root / "agent-n1-copy.log").read_text(), 30,
             "the copy to be refused")
    rows = [r for r in cluster.nodes() if r["node_id"] == node]
    assert "second agent with this identity" in str(rows[0]["note"]), rows
    counts = tmp_path / "runs"
    counts.mkdir()
    for i in range(5):
        cid = send_script(cluster, node, f"echo {i} >> {counts}/${{OUTPOST_TEST_COPY:-original}}")
        assert by_node(wait_terminal(cluster, cid, 30))[node]["status"] == "Success"
    assert not (counts / "copy").exists()
    assert (counts / "original").read_text().split() == ["0", "1", "2", "3", "4"]
    listed = json.loads(cluster.outpost("node", "list", "--output", "json").stdout)
    assert [r["ping_status"] for r in listed if r["node_id"] == node] == ["Online"]
    assert "second agent" in cluster.outpost("node", "list").stdout
    feed.terminate()
    events = [json.loads(line) for line in feed.communicate(timeout=10)[0].splitlines() if line.strip()]
    noticed = [e for e in events if e["kind"] == "node"]
    assert noticed and noticed[0]["nodeId"] == node and "second agent" in noticed[0]["note"], events
