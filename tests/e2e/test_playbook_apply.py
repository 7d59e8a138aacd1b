"""End to end: a controller and 3 agents as processes, enrolled and driven through the CLI.

One fleet for the module (web1 and web2 tagged Environment=dev,Role=web, db1 Environment=prod,Role=db);
a test that asserts what was sent compares the commands before and after, so tests do not see each
other's commands.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.cluster import Cluster, started


def _enroll_three(cluster: Cluster) -> None:
    dev = cluster.create_activation("Environment=dev,Role=web", limit=2)
    prod = cluster.create_activation("Environment=prod,Role=db", limit=1)
    cluster.enroll("web1", dev)
    cluster.enroll("web2", dev)
    cluster.enroll("db1", prod)
    for name in ("web1", "web2", "db1"):
        cluster.start_agent(name)
    cluster.wait_online(["web1", "web2", "db1"])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("playbook")) as c:
        _enroll_three(c)
        yield c


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    """The module's fleet, in place of the conftest's cluster a test."""
    return fleet_cluster


def _command_ids(cluster: Cluster) -> list[str]:
    rows = cluster.outpost_json("command", "list", "--limit", "1000")
    assert isinstance(rows, list)
    return [str(r["command_id"]) for r in rows]


def test_playbook_runs_on_tagged_nodes_with_real_output(cluster: Cluster, tmp_path: Path) -> None:
    before = set(_command_ids(cluster))
    nodes = {n["node_id"]: n for n in cluster.nodes()}
    assert nodes[cluster.node_ids["db1"]]["tags"] == {"Environment": "prod", "Role": "db"}
    assert nodes[cluster.node_ids["web1"]]["platform"] == "Linux"

    book = tmp_path / "site.yml"
    book.write_text(
        "- name: greet\n"
        "  targets: {tags: {Environment: dev}}\n"
        "  vars: {word: hi}\n"
        "  tasks:\n"
        "    - name: say\n"
        "      shell: echo \"{{ word }} $OUTPOST_NODE_ID\"; echo oops >&2\n"
        "    - name: pwd-and-env\n"
        "      shell: {cmd: 'echo \"$GREETING\"', env: {GREETING: \"{{ greeting }}\"}}\n")
    proc = cluster.outpost("playbook", "apply", str(book), "-e", "greeting=howdy", "--output", "json")
    result = json.loads(proc.stdout)
    (play,) = result["plays"]
    assert play["status"] == "Success" and play["targets"] == 2 and play["completed"] == 2
    by_node = {i["node_id"]: i for i in play["invocations"]}
    assert set(by_node) == {cluster.node_ids["web1"], cluster.node_ids["web2"]}
    for node_id, inv in by_node.items():
        assert inv["status"] == "Success" and inv["exit_code"] == 0
        assert [s["name"] for s in inv["steps"]] == ["say", "pwd-and-env"]
        out = cluster.outpost_json("command", "output", play["command_id"], "--node", node_id)
        assert out[0] == {"step": "say", "stdout": f"hi {node_id}\n", "stderr": "oops\n", "stdout_truncated": False,
                          "stderr_truncated": False}
        assert out[1]["stdout"] == "howdy\n"

    # the table form streams every node's lines prefixed by its id and ends with a per-node table
    proc = cluster.outpost("playbook", "apply", str(book), "-e", "greeting=yo")
    for name in ("web1", "web2"):
        nid = cluster.node_ids[name]
        assert f"{nid} | hi {nid}" in proc.stdout
        assert f"{nid} | yo" in proc.stdout
    assert cluster.node_ids["db1"] not in proc.stdout
    assert "Success" in proc.stdout

    listed = cluster.outpost_json("command", "list")
    mine = [c for c in listed if c["command_id"] not in before]  # this test's two applies
    assert len(mine) == 2 and all(c["status"] == "Success" for c in mine)
    # SSM's --command-id filter: that command only, whatever the limit
    (one,) = cluster.outpost_json("command", "list", "--command-id", play["command_id"], "--limit", "1")
    assert one["command_id"] == play["command_id"] and one == next(c for c in listed
                                                                  if c["command_id"] == play["command_id"])
    missing = cluster.outpost("command", "list", "--command-id", "no-such-command", check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    shown = cluster.outpost_json("command", "show", play["command_id"])
    assert shown["completed"] == 2 and len(shown["invocations"]) == 2


def test_failure_timeout_and_exit_status(cluster: Cluster, tmp_path: Path) -> None:
    book = tmp_path / "fail.yml"
    book.write_text(
        "- name: mixed\n"
        "  targets: {tags: {Role: [web, db]}}\n"
        "  tasks:\n"
        "    - {name: tolerated, shell: 'exit 3', ignore_errors: true}\n"
        "    - {name: fails-on-db, shell: 'test \"$(cat /nonexistent 2>/dev/null)\" || [ $OUTPOST_NODE_ID != "
        + cluster.node_ids["db1"] + " ] || exit 7'}\n"
        "    - {name: slow, shell: 'sleep 30', timeout: 1}\n")
    proc = cluster.outpost("playbook", "apply", str(book), "--output", "json", check=False)
    assert proc.returncode == 1, proc.stderr
    (play,) = json.loads(proc.stdout)["plays"]
    assert play["status"] == "Failed" and play["status_detail"] == "Failed" and play["errors"] == 3
    inv = {i["node_id"]: i for i in play["invocations"]}
    db = inv[cluster.node_ids["db1"]]
    assert db["status"] == "Failed" and db["exit_code"] == 7
    # an ignored failure, then the real one, which ends the document (Ansible): the rest is skipped
    assert [s["status_detail"] for s in db["steps"]] == ["Failed", "Failed", "Skipped"]
    web = inv[cluster.node_ids["web1"]]
    assert (web["status"], web["status_detail"]) == ("TimedOut", "ExecutionTimedOut")
    assert [s["status_detail"] for s in web["steps"]] == ["Failed", "Success", "ExecutionTimedOut"]
    # the timed-out step's process group is gone
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "30"]]


def test_check_mode_resolves_and_sends_nothing(cluster: Cluster) -> None:
    before = _command_ids(cluster)
    proc = cluster.outpost("playbook", "apply", "playbooks/hello.yml", "--check", "--output", "json")
    plan = json.loads(proc.stdout)
    (play,) = plan["plays"]
    assert {n["node_id"] for n in play["nodes"]} == {cluster.node_ids["web1"], cluster.node_ids["web2"]}
    assert play["document"]["mainSteps"][0]["action"] == "shell"
    assert _command_ids(cluster) == before


def test_malformed_playbook_names_file_and_line_and_sends_nothing(cluster: Cluster, tmp_path: Path) -> None:
    before = _command_ids(cluster)
    book = tmp_path / "site.yml"
    book.write_text(
        "- name: ok\n"
        "  targets: {tags: {Environment: dev}}\n"
        "  tasks:\n"
        "    - name: fine\n"
        "      shell: touch /tmp/should-not-exist\n"
        "    - name: broken\n"
        "      shell:\n"
        "        cmd: {a: 1}\n")
    proc = cluster.outpost("playbook", "apply", str(book), check=False)
    assert proc.returncode == 2
    assert "site.yml:8: tasks[1].shell.cmd: expected a string, got a mapping" in proc.stderr
    assert _command_ids(cluster) == before


def test_agent_listens_on_no_port(cluster: Cluster) -> None:
    cluster.wait_online(["web1"])
    agent = psutil.Process(cluster.agents["web1"].pid)
    family = [agent, *agent.children(recursive=True)]
    conns = [c for p in family for c in p.net_connections(kind="inet")]
    assert conns, "the agent should hold its outbound connection"
    assert not [c for c in conns if c.status == psutil.CONN_LISTEN]
    assert all(c.raddr and c.raddr.port == cluster.port for c in conns if c.status == psutil.CONN_ESTABLISHED)


def test_apply_ends_on_the_streamed_end_as_the_stored_command_shows_it(cluster: Cluster, tmp_path: Path) -> None:
    """The per-node rows come from RunCommand's stream (no read-back when it lost nothing): they are
    what `command show` reads from the store, output previews and their cuts included."""
    book = tmp_path / "big.yml"
    book.write_text(
        "- name: big\n"
        "  targets: {tags: {Environment: dev}}\n"
        "  tasks:\n"
        "    - name: lots\n"
        "      shell: head -c 30000 /dev/zero | tr '\\\\0' o; head -c 9000 /dev/zero | tr '\\\\0' e >&2\n"
        "    - name: little\n"
        "      shell: echo \"bye $OUTPOST_NODE_ID\"\n")
    (play,) = cluster.outpost_json("playbook", "apply", str(book))["plays"]
    assert play["status"] == "Success", play
    shown = cluster.outpost_json("command", "show", play["command_id"])
    assert play["invocations"] == shown["invocations"]
    steps = play["invocations"][0]["steps"]
    assert (len(steps[0]["stdout"]), steps[0]["stdout_truncated"], len(steps[0]["stderr"]),
            steps[0]["stderr_truncated"]) == (24_000, True, 8_000, True)
    assert steps[1]["stdout"] == f"bye {play['invocations'][0]['node_id']}\n"
