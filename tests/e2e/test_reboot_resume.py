"""End to end: a step that exits 194 asks for a reboot; the agent journals the command, runs its
reboot command and, back again, runs that step again, then the rest (SSM's rule).

No test can reboot this machine: the reboot command here is a stand-in that stops the agent
(SIGTERM, as a shutdown does) and the test starts it again, as the machine's boot would. Each
test says so in its name."""
from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.cluster import Cluster
from tests.support.docrun import by_node, create_document, send, shell_document, show, wait_terminal


def _start(cluster: Cluster, reboot_command: str) -> None:
    cluster.start_agent("n1", extra=("--reboot-command", reboot_command))


def _one_agent(cluster: Cluster, reboot_command: str) -> str:
    cluster.start_controller()
    cluster.enroll("n1", cluster.create_activation("Environment=dev", limit=1))
    _start(cluster, reboot_command)
    cluster.wait_online(["n1"])
    return cluster.node_ids["n1"]


def _stand_in(reboots: Path) -> str:
    """A reboot stand-in: notes the reboot, then stops the agent as a shutdown would."""
    return f"sh -c {shlex.quote(f'echo reboot >> {reboots}; kill -TERM $OUTPOST_AGENT_PID')}"


def test_exit_194_reruns_the_step_after_a_reboot_with_an_agent_restart_stand_in(cluster: Cluster,
                                                                                 tmp_path: Path) -> None:
    reboots, log, flag = tmp_path / "reboots", tmp_path / "log", tmp_path / "flag"
    node = _one_agent(cluster, _stand_in(reboots))
    create_document(cluster, tmp_path, "Patchy", shell_document(
        f"before: echo before >> {log}",
        f"reboot: if [ -e {flag} ]; then echo again; exit 0; fi; touch {flag}; echo first; exit 194",
        f"after: echo after >> {log}"))
    cid = send(cluster, "--document", "Patchy", "--targets", f"Key=InstanceIds,Values={node}")
    assert cluster.agents["n1"].wait(timeout=30) == 0, "the stand-in stops the agent as a reboot would"
    assert reboots.read_text() == "reboot\n"
    assert by_node(show(cluster, cid))[node]["status"] == "InProgress"  # not ended by the reboot

    _start(cluster, _stand_in(reboots))  # the machine is back
    inv = by_node(wait_terminal(cluster, cid, 60))[node]
    assert inv["status_detail"] == "Success", inv
    assert [(s["name"], s["status_detail"]) for s in inv["steps"]] == [
        ("before", "Success"), ("reboot", "Success"), ("after", "Success")]
    assert log.read_text() == "before\nafter\n", "the steps before the reboot ran once"
    assert reboots.read_text() == "reboot\n"
    outputs = {o["step"]: o["stdout"] for o in cluster.outpost_json("command", "output", cid, "--node", node)}
    assert outputs["reboot"] == "first\nagain\n", "the run after the reboot goes on with the output before it"


def test_a_reboot_command_that_fails_ends_the_step_failed_and_the_agent_goes_on(cluster: Cluster,
                                                                                tmp_path: Path) -> None:
    node = _one_agent(cluster, "sh -c 'echo no reboot for you >&2; exit 3'")
    create_document(cluster, tmp_path, "Wants", shell_document("reboot: exit 194", "never: echo never"))
    cid = send(cluster, "--document", "Wants", "--targets", f"Key=InstanceIds,Values={node}")
    inv = by_node(wait_terminal(cluster, cid, 30))[node]
    assert (inv["status_detail"], inv["exit_code"]) == ("Failed", 194), inv
    (step,) = inv["steps"]
    assert step["error"] == ("asked for a reboot, which did not happen: the reboot command 'sh' exited 3: "
                             "no reboot for you")
    assert cluster.agents["n1"].poll() is None
    again = send(cluster, "--document", "Wants", "--targets", f"Key=InstanceIds,Values={node}")
    assert by_node(wait_terminal(cluster, again, 30))[node]["status_detail"] == "Failed"  # it takes commands still
