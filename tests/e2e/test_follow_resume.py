"""End to end: every follow of the CLI goes on across a controller's kill -9 and restart on the same
state directory, resuming where it stopped (controller/cli/follow.py), and the fleet's events are in
the store (controller/store/events.py) with seqs that do not restart.

One slow command (a line a second, through ``playbook apply``) on a real agent, followed by
``events --follow --since 0``, ``command logs --follow`` and ``command wait``, and another through
``command send --wait``, on SQLite and on PostgreSQL; the controller is killed (-9)
once its first lines are stored and started again. Each follower says once that the stream broke,
reconnects, and prints what it missed and what follows: every status change once in seq order,
every output line once; the waits end as the command did. ``events`` without --follow lists the
same events afterwards. A follower left without a controller gives up past --reconnect-timeout in
one line.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.dev.cluster import OUTPOST, ROOT
from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import AgentSpec, start_fleet

LINES = 8  # the script prints line-1 .. line-8, a second apart


@contextmanager
def background(cluster: Cluster, directory: Path, name: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``outpost ARGS`` with its stdout and stderr in DIRECTORY/NAME.out and .err; killed at the end
    if it is still running."""
    with open(directory / f"{name}.out", "wb") as out, open(directory / f"{name}.err", "wb") as err:
        proc = subprocess.Popen([*OUTPOST, *args], env=cluster.env, cwd=ROOT, stdout=out, stderr=err,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _text(directory: Path, name: str) -> str:
    return (directory / name).read_text(errors="replace")


def _events(directory: Path) -> list[dict]:
    return [json.loads(line) for line in _text(directory, "events.out").splitlines() if line.strip()]


def _stored_lines(cluster: Cluster, command_id: str, node_id: str) -> str:
    rows = cluster.outpost_json("command", "output", command_id, "--node", node_id)
    assert isinstance(rows, list)
    return "".join(str(r["stdout"]) for r in rows)


def test_every_follow_resumes_across_a_controller_kill_9(cluster_on: Cluster, tmp_path: Path) -> None:
    cluster = cluster_on
    start_fleet(cluster, [AgentSpec("n1", "Role=web")])
    node = cluster.node_ids["n1"]
    book = tmp_path / "slow.yml"
    book.write_text("- name: slow\n"
                    "  targets: {tags: {Role: web}}\n"
                    "  tasks:\n"
                    f"    - {{name: count, shell: 'for i in $(seq 1 {LINES}); do echo line-$i; sleep 1; done'}}\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    # from seq 0: what is stored first (whenever it connects), then live
    with background(cluster, logs, "events", "events", "--follow", "--since", "0", "--output", "json",
                    "--reconnect-timeout", "60") as follower:
        with background(cluster, logs, "apply", "playbook", "apply", str(book), "--reconnect-timeout", "60") as apply:
            command_id = ""

            def sent() -> bool:
                nonlocal command_id
                rows = cluster.outpost_json("command", "list")
                assert isinstance(rows, list)
                command_id = str(rows[0]["command_id"]) if rows else ""
                return bool(rows)
            wait_for(sent, 30, "the playbook's command", interval=0.2)
            script = f"commands=for i in $(seq 1 {LINES}); do echo other-$i; sleep 1; done"
            with background(cluster, logs, "logs", "command", "logs", command_id, "--follow") as tail, \
                    background(cluster, logs, "wait", "command", "wait", command_id, "--output", "json") as waiter, \
                    background(cluster, logs, "send", "command", "send", "--document", "Outpost-RunShellScript",
                               "--targets", "Key=tag:Role,Values=web", "--parameters", script, "--wait",
                               "--output", "json") as sender:
                wait_for(lambda: "line-2" in _stored_lines(cluster, command_id, node), 30, "line-2 to be stored",
                         interval=0.2)
                wait_for(lambda: "line-2" in _text(logs, "logs.out"), 30, "the logs follower to print line-2",
                         interval=0.2)
                wait_for(lambda: any(e["commandId"] == command_id for e in _events(logs)), 30,
                         "the events follower to print the command", interval=0.2)
                wait_for(lambda: len(cluster.outpost_json("command", "list")) == 2, 30, "send --wait's command",
                         interval=0.2)
                cluster.stop_controller(signal.SIGKILL)
                time.sleep(1)
                cluster.start_controller()
                for proc, name in ((apply, "apply"), (tail, "logs"), (waiter, "wait"), (sender, "send")):
                    assert proc.wait(timeout=90) == 0, f"{name}: {_text(logs, f'{name}.err')}"

        def told_the_end() -> bool:
            return any(e["kind"] == "command" and e["commandId"] == command_id and e["status"] == "Success"
                       for e in _events(logs))
        wait_for(told_the_end, 30, "the events follower to print the command's end", interval=0.2)
        assert follower.poll() is None, _text(logs, "events.err")

    # a follower left without a controller gives up, in one line, past its --reconnect-timeout
    with background(cluster, logs, "quitter", "events", "--follow", "--since", "0",
                    "--reconnect-timeout", "3") as quitter:
        wait_for(lambda: _text(logs, "quitter.out") != "", 30, "the quitter to connect (it replays from seq 0)",
                 interval=0.2)
        cluster.stop_controller(signal.SIGKILL)
        assert quitter.wait(timeout=60) == 1
    cluster.start_controller()

    # every status change of the command, each once, in seq order, across the restart
    printed = [e for e in _events(logs) if e["commandId"] == command_id]
    seqs = [e["seq"] for e in _events(logs)]
    assert seqs == sorted(set(seqs)), seqs
    assert [(e["kind"], e["nodeId"], e["statusDetails"]) for e in printed] == [
        ("command", "", "Pending"), ("invocation", node, "InProgress"), ("command", "", "InProgress"),
        ("invocation", node, "Success"), ("command", "", "Success")], printed
    err = _text(logs, "events.err")
    assert err.count("the stream broke") == 1 and err.count("reconnected") == 1, err
    assert "Traceback" not in err

    # the output printed by both followers of it: every line once, in order
    for name in ("logs", "apply"):
        out = _text(logs, f"{name}.out")
        found = [f"line-{i}" for i in range(1, LINES + 1) for _ in range(out.count(f"line-{i}\n"))]
        assert found == [f"line-{i}" for i in range(1, LINES + 1)], (name, out)
        assert _text(logs, f"{name}.err").count("the stream broke") == 1, (name, _text(logs, f"{name}.err"))
    waited = json.loads(_text(logs, "wait.out"))
    assert waited["status"] == "Success" and waited["command_id"] == command_id, waited
    sent = json.loads(_text(logs, "send.out"))  # send --wait: RunCommand's stream, then WatchCommand's
    assert sent["status"] == "Success" and sent["command_id"] != command_id, sent
    assert _text(logs, "send.err").count("the stream broke") == 1, _text(logs, "send.err")

    quit_err = _text(logs, "quitter.err").strip().splitlines()
    assert quit_err[-1].startswith("error: events: no controller for 3 s") and "Traceback" not in "".join(quit_err)
    assert quit_err[-1].endswith("gave up (--reconnect-timeout)"), quit_err

    # after the restarts: the same events, from the store, without --follow
    out = cluster.outpost("events", "--command", command_id, "--output", "json").stdout
    assert [json.loads(line) for line in out.splitlines()] == printed
    newest = [json.loads(line) for line in cluster.outpost("events", "--limit", "2", "--output", "json").stdout
              .splitlines()]
    assert len(newest) == 2 and newest[0]["seq"] < newest[1]["seq"] and newest[1]["seq"] >= printed[-1]["seq"]
    table = cluster.outpost("events", "--since", str(printed[2]["seq"]), "--command", command_id).stdout
    assert [line.split()[0] for line in table.splitlines()] == [str(e["seq"]) for e in printed[3:]], table

    # a follow from a seq replays the stored events past it first, then goes on live
    with background(cluster, logs, "replay", "events", "--follow", "--since", str(printed[1]["seq"]), "--command",
                    command_id, "--output", "json") as replay:
        wait_for(lambda: _text(logs, "replay.out").count("\n") >= 3, 30, "the replay", interval=0.2)
        assert replay.poll() is None, _text(logs, "replay.err")
    assert [json.loads(line) for line in _text(logs, "replay.out").splitlines()] == printed[2:]
