"""End to end: the controller goes away while commands run, and agents go silent.

Agents keep running their documents while the controller is down, reconnect when it is back and
deliver their results then: nothing is lost and nothing runs twice. Ping status follows the
streams and their heartbeats.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from controller.dev.cluster import OUTPOST, ROOT
from tests.support.cluster import Cluster, wait_for

SLEEP_SECONDS = 4


def _two_agents(cluster: Cluster) -> None:
    act = cluster.create_activation("Environment=dev", limit=2)
    cluster.enroll("n1", act)
    cluster.enroll("n2", act)
    cluster.start_agent("n1")
    cluster.start_agent("n2")
    cluster.wait_online(["n1", "n2"])


def _show(cluster: Cluster, command_id: str) -> dict[str, object]:
    shown = cluster.outpost_json("command", "show", command_id)
    assert isinstance(shown, dict)
    return shown


def _statuses(shown: dict[str, object]) -> dict[str, str]:
    invocations = shown["invocations"]
    assert isinstance(invocations, list)
    return {str(i["node_id"]): str(i["status"]) for i in invocations}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_controller_restart_while_a_command_runs_loses_nothing(cluster: Cluster, tmp_path: Path,
                                                               sig: signal.Signals) -> None:
    cluster.start_controller()
    _two_agents(cluster)
    want = {cluster.node_ids["n1"], cluster.node_ids["n2"]}

    book = tmp_path / "slow.yml"
    book.write_text(
        "- name: slow\n"
        "  targets: {tags: {Environment: dev}}\n"
        "  tasks:\n"
        f"    - {{name: nap, shell: 'sleep {SLEEP_SECONDS}; echo done-$OUTPOST_NODE_ID'}}\n")
    # the apply may well fail when its controller goes away; only the command matters here
    with open(tmp_path / "apply.log", "wb") as out:
        apply = subprocess.Popen([*OUTPOST, "playbook", "apply", str(book), "--output", "json"], env=cluster.env,
                                 cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        command_id = ""

        def sent() -> bool:
            nonlocal command_id
            rows = cluster.outpost_json("command", "list")
            assert isinstance(rows, list)
            if rows:
                command_id = str(rows[0]["command_id"])
            return bool(rows)
        wait_for(sent, 30, "the playbook's command to exist", interval=0.2)

        def running() -> bool:
            statuses = _statuses(_show(cluster, command_id))
            assert set(statuses) == want, statuses
            assert not {"Success", "Failed", "TimedOut", "Cancelled"} & set(statuses.values()), statuses
            return all(s == "InProgress" for s in statuses.values())
        wait_for(running, 15, "both invocations to be InProgress", interval=0.1)

        cluster.stop_controller(sig)
        time.sleep(1)
        cluster.start_controller()

        def succeeded() -> bool:
            shown = _show(cluster, command_id)
            return shown["status"] == "Success" and set(_statuses(shown).values()) == {"Success"}
        wait_for(succeeded, 30, "the command to succeed on both nodes after the restart", interval=0.3)

        shown = _show(cluster, command_id)
        assert shown["completed"] == 2 and shown["errors"] == 0, shown
        invocations = shown["invocations"]
        assert isinstance(invocations, list)
        assert all(i["exit_code"] == 0 for i in invocations), invocations
        for node_id in want:
            out = cluster.outpost_json("command", "output", command_id, "--node", node_id)
            assert out == [{"step": "nap", "stdout": f"done-{node_id}\n", "stderr": "", "stdout_truncated": False,
                            "stderr_truncated": False}], out
        # each agent ran it exactly once (a redelivery after the reconnect is not a second run)
        for name in ("n1", "n2"):
            log = (cluster.root / f"agent-{name}.log").read_text(errors="replace")
            runs = [line for line in log.splitlines() if command_id in line and "running shell" in line]
            assert len(runs) == 1, runs
        # exactly one command, and both nodes are back Online
        assert len(cluster.outpost_json("command", "list")) == 1
        cluster.wait_online(["n1", "n2"])
    finally:
        if apply.poll() is None:
            apply.kill()
        apply.wait(timeout=10)


def test_an_agent_waits_for_a_controller_that_is_down_says_why_and_connects_once_it_is_back(
        cluster: Cluster) -> None:
    """While the controller is down, the agent's stream waits for it (no retry storm of streams
    failing at once); it says why at once, and again after each --unreachable-report-seconds."""
    cluster.start_controller()
    cluster.enroll("n1", cluster.create_activation("Environment=dev", limit=1))
    cluster.stop_controller()
    cluster.agents["n1"] = cluster.spawn("agent-n1", [
        "agent", "run", "--state-dir", str(cluster.state_dir("n1")), "--backoff-base-seconds", "0.2",
        "--unreachable-report-seconds", "3"])
    time.sleep(7.5)
    log = cluster.root / "agent-n1.log"
    ended = [line for line in log.read_text(errors="replace").splitlines() if "ended:" in line]
    # at 0 s, then after each 2.25-3 s of waiting (and the backoff between): 4 at most by now, where
    # streams failing at once with this backoff (0.2 s doubling, up to 3.0 s in all for the first four
    # pauses) would have ended at least 6 times
    assert 2 <= len(ended) <= 4, ended
    assert all("UNAVAILABLE" in line and "Connection refused" in line for line in ended), ended
    cluster.start_controller()
    cluster.wait_online(["n1"], timeout=20)
    assert "connected to" in log.read_text(errors="replace")


def _ping(cluster: Cluster) -> dict[str, str]:
    return {str(r["node_id"]): str(r["ping_status"]) for r in cluster.nodes()}


def test_heartbeats_drive_ping_status(cluster: Cluster) -> None:
    cluster.start_controller("--heartbeat-timeout", "3")
    _two_agents(cluster)
    n1, n2 = cluster.node_ids["n1"], cluster.node_ids["n2"]

    # a killed agent: its connection closes and the node is ConnectionLost, the other stays Online
    cluster.stop_agent("n1", signal.SIGKILL)
    wait_for(lambda: _ping(cluster)[n1] == "ConnectionLost", 10, "n1 to be ConnectionLost", interval=0.3)
    # past the heartbeat timeout, the live agent's heartbeats keep it Online
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        assert _ping(cluster)[n2] == "Online", _ping(cluster)
        time.sleep(0.5)
    cluster.start_agent("n1")
    cluster.wait_online(["n1", "n2"], timeout=15)

    # a frozen agent keeps its TCP connection open but stops sending heartbeats: the controller
    # drops its stream after the heartbeat timeout
    frozen = cluster.agents["n2"]
    frozen.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: _ping(cluster)[n2] == "ConnectionLost", 10, "the frozen n2 to be ConnectionLost",
                 interval=0.3)
        assert _ping(cluster)[n1] == "Online"
        controller_log = (cluster.root / "controller.log").read_text(errors="replace")
        assert f"node {n2} sent nothing for 3 s" in controller_log, controller_log
    finally:
        frozen.send_signal(signal.SIGCONT)
    cluster.wait_online(["n1", "n2"], timeout=15)
