"""End to end: `command invocations`, `command get`, `command wait --node` and the filters of
`command list` and `node list`, through the real CLI against a real controller and agents.

One fleet for the module: a controller and two agents, a and b (Role=web); two commands sent once:
a two-step document to both nodes (its second step fails with 3) and a one-step script to a."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.clierrors import error_lines
from tests.support.cluster import Cluster, started
from tests.support.docrun import create_document, send, send_script, shell_document, wait_terminal
from tests.support.fleet import start_fleet, targets_for


@dataclass(frozen=True)
class Sent:
    cluster: Cluster
    two_steps: str  # Inv-Two to a and b: Failed
    one_step: str  # a script to a: Success
    two_created: str  # the two-step command's created time, ISO


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("invocations")) as c:
        start_fleet(c, ["a", "b"], c.create_activation("Role=web", limit=2))
        yield c


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    return fleet_cluster


@pytest.fixture(scope="module")
def sent(fleet: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Sent:
    doc = shell_document("first: echo one-$OUTPOST_NODE_ID", "second: echo two >&2; exit 3")
    create_document(fleet, tmp_path_factory.mktemp("docs"), "Inv-Two", doc)
    two = send(fleet, "--document", "Inv-Two", "--targets", targets_for(fleet, ["a", "b"]), "--max-errors", "100%")
    two_row = wait_terminal(fleet, two)
    one = send_script(fleet, fleet.node_ids["a"], "echo hello")
    assert wait_terminal(fleet, one)["status_detail"] == "Success"
    assert two_row["status_detail"] == "Failed", two_row
    return Sent(fleet, two, one, str(two_row["created"]))


def _json(cluster: Cluster, *args: str) -> object:
    return cluster.outpost_json(*args)


def _refused(cluster: Cluster, *args: str, code: int = 2) -> str:
    proc = cluster.outpost(*args, check=False)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ---------------------------------------------------------------- command invocations

def test_invocations_one_row_per_node(sent: Sent, cluster: Cluster) -> None:
    a, b = cluster.node_ids["a"], cluster.node_ids["b"]
    rows = _json(cluster, "command", "invocations", sent.two_steps)
    assert isinstance(rows, list)
    assert sorted((r["node_id"], r["status"], r["status_detail"], r["response_code"]) for r in rows) == \
        sorted([(a, "Failed", "Failed", 3), (b, "Failed", "Failed", 3)])
    assert all(r["started"] and r["ended"] and r["duration"].endswith("s") and "steps" not in r for r in rows)
    only_b = _json(cluster, "command", "invocations", sent.two_steps, "--node", b)
    assert [r["node_id"] for r in only_b] == [b]  # type: ignore[union-attr]
    table = cluster.outpost("command", "invocations", sent.two_steps).stdout
    assert a in table and b in table and "Failed" in table


def test_invocations_details_has_each_step_with_its_output(sent: Sent, cluster: Cluster) -> None:
    a = cluster.node_ids["a"]
    (row,) = _json(cluster, "command", "invocations", sent.two_steps, "--node", a, "--details")  # type: ignore[misc]
    steps = [(s["name"], s["action"], s["status_detail"], s["response_code"]) for s in row["steps"]]
    assert steps == [("first", "aws:runShellScript", "Success", 0), ("second", "aws:runShellScript", "Failed", 3)]
    assert row["steps"][0]["stdout"] == f"one-{a}\n" and row["steps"][1]["stderr"] == "two\n"
    table = cluster.outpost("command", "invocations", sent.two_steps, "--node", a, "--details").stdout
    assert f"one-{a}" in table and "second" in table


def test_invocations_of_a_node_the_command_did_not_reach(sent: Sent, cluster: Cluster) -> None:
    line = _refused(cluster, "command", "invocations", sent.one_step, "--node", cluster.node_ids["b"], code=1)
    assert "--node" in line and cluster.node_ids["b"] in line


# ---------------------------------------------------------------- command get

def test_get_one_step_of_one_node(sent: Sent, cluster: Cluster) -> None:
    a = cluster.node_ids["a"]
    first = _json(cluster, "command", "get", sent.two_steps, "--node", a, "--step", "first")
    second = _json(cluster, "command", "get", sent.two_steps, "--node", a, "--step", "second")
    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["step"], first["status"], first["response_code"], first["stdout"], first["stderr"]) == \
        ("first", "Success", 0, f"one-{a}\n", "")
    assert (second["status_detail"], second["response_code"], second["stderr"]) == ("Failed", 3, "two\n")
    assert first["command_id"] == sent.two_steps and first["node_id"] == a and first["started"] and first["ended"]
    block = cluster.outpost("command", "get", sent.two_steps, "--node", a, "--step", "first")
    assert f"one-{a}" in block.stdout and "response code: 0" in block.stdout


def test_get_needs_the_step_when_there_are_several(sent: Sent, cluster: Cluster) -> None:
    line = _refused(cluster, "command", "get", sent.two_steps, "--node", cluster.node_ids["a"])
    assert "--step" in line and "first, second" in line
    line = _refused(cluster, "command", "get", sent.two_steps, "--node", cluster.node_ids["a"], "--step", "third")
    assert "--step" in line and "third" in line


def test_get_of_a_one_step_command_needs_no_step(sent: Sent, cluster: Cluster) -> None:
    row = _json(cluster, "command", "get", sent.one_step, "--node", cluster.node_ids["a"])
    assert isinstance(row, dict) and row["stdout"] == "hello\n" and row["status_detail"] == "Success"
    _refused(cluster, "command", "get", sent.one_step, "--node", cluster.node_ids["b"], code=1)


# ---------------------------------------------------------------- command list filters

def _listed(cluster: Cluster, *filters: str) -> list[str]:
    rows = _json(cluster, "command", "list", "--limit", "1000", *filters)
    assert isinstance(rows, list)
    return [r["command_id"] for r in rows]


def test_list_by_status_and_document(sent: Sent, cluster: Cluster) -> None:
    assert sent.one_step in _listed(cluster, "--status", "success")
    assert sent.two_steps not in _listed(cluster, "--status", "Success")
    assert sent.two_steps in _listed(cluster, "--status", "FAILED")
    assert _listed(cluster, "--document", "Inv-Two") == [sent.two_steps]
    assert _listed(cluster, "--status", "Success", "--document", "Inv-Two") == []
    line = _refused(cluster, "command", "list", "--status", "Done")
    assert "--status" in line and "InProgress" in line and "TimedOut" in line


def test_list_by_node(sent: Sent, cluster: Cluster) -> None:
    on_b = _listed(cluster, "--node", cluster.node_ids["b"])
    assert sent.two_steps in on_b and sent.one_step not in on_b
    on_a = _listed(cluster, "--node", cluster.node_ids["a"])
    assert {sent.two_steps, sent.one_step} <= set(on_a)
    assert len(_json(cluster, "command", "list", "--node", cluster.node_ids["a"], "--limit", "1")) == 1  # type: ignore[arg-type]


def test_list_by_time(sent: Sent, cluster: Cluster) -> None:
    assert sent.two_steps in _listed(cluster, "--invoked-after", sent.two_created)
    later = (dt.datetime.fromisoformat(sent.two_created.replace("Z", "+00:00")) + dt.timedelta(seconds=1)).isoformat()
    assert sent.two_steps in _listed(cluster, "--invoked-before", later)  # created is shown to the second
    assert sent.two_steps not in _listed(cluster, "--invoked-after", later)
    assert _listed(cluster, "--invoked-after", "2999-01-01") == []
    assert _listed(cluster, "--invoked-before", "2000-01-01T00:00:00Z") == []
    for option in ("--invoked-after", "--invoked-before"):
        line = _refused(cluster, "command", "list", option, "yesterday")
        assert option in line and "ISO 8601" in line


# ---------------------------------------------------------------- node list filters

def _node_ids(cluster: Cluster, *filters: str) -> set[str]:
    rows = _json(cluster, "node", "list", *filters)
    assert isinstance(rows, list)
    return {r["node_id"] for r in rows}


def test_node_list_filters(cluster: Cluster) -> None:
    both = set(cluster.node_ids.values())
    version = next(r["agent_version"] for r in cluster.nodes())
    assert _node_ids(cluster, "--ping-status", "online") == both
    assert _node_ids(cluster, "--ping-status", "ConnectionLost") == set()
    assert _node_ids(cluster, "--platform", "linux") == both
    assert _node_ids(cluster, "--platform", "Windows") == set()
    assert _node_ids(cluster, "--agent-version", str(version)) == both
    assert _node_ids(cluster, "--agent-version", "0.0.0-none") == set()
    assert _node_ids(cluster, "--tag", "Role=web") == both
    assert _node_ids(cluster, "--tag", "Role=web", "--tag", "Role=db") == set()
    assert "--tag" in _refused(cluster, "node", "list", "--tag", "Role")
    assert "--platform" in _refused(cluster, "node", "list", "--platform", "Solaris")


# ---------------------------------------------------------------- command wait --node

def test_wait_for_one_node(cluster: Cluster) -> None:
    a = cluster.node_ids["a"]
    ok = send_script(cluster, a, "sleep 1; echo done")
    proc = cluster.outpost("command", "wait", ok, "--node", a, "--output", "json", check=False)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert (row["node_id"], row["status_detail"], row["response_code"]) == (a, "Success", 0)
    bad = send_script(cluster, a, "exit 5")
    failed = cluster.outpost("command", "wait", bad, "--node", a, check=False)
    assert failed.returncode == 1 and "Failed" in failed.stdout, (failed.stdout, failed.stderr)
    line = _refused(cluster, "command", "wait", ok, "--node", cluster.node_ids["b"], code=1)
    assert cluster.node_ids["b"] in line


def test_wait_for_one_node_times_out(cluster: Cluster) -> None:
    a = cluster.node_ids["a"]
    slow = send_script(cluster, a, "sleep 30")
    try:
        line = _refused(cluster, "command", "wait", slow, "--node", a, "--timeout", "1", code=1)
        assert "timed out waiting" in line
        assert "--timeout" in _refused(cluster, "command", "wait", slow, "--node", a, "--timeout", "0")
    finally:
        cluster.outpost("command", "cancel", slow, check=False)
        wait_terminal(cluster, slow)
