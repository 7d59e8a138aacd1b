"""End to end: ``outpost swarm`` runs many real agents in one process.

Against a real controller (tests/support/cluster.py) the swarm enrols 20 agents, each with its own
identity under DIR/agent-NNNNNN/, and they come Online with distinguishable hostnames; a command
runs on all of them (no-op steps); a second run from the same state directory, with the real
plugins and no activation at all, comes back as the same 20 nodes and runs each node's own
``echo``; a kill -9 of the swarm mid-command is reported from its one journal file by its next
run. Against the stand-in controller (tests/support/fake_controller.py) a swarm agent still
refuses a replayed and a forged command, as a lone agent does.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from agent.journal_records import read_journal
from controller.dev.cluster import OUTPOST, ROOT
from controller.trust.signing import DocumentSigner
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.document import Document, Step
from tests.support.cluster import Activation, Cluster, free_port_pair, process_alive, wait_for
from tests.support.docrun import by_node, wait_terminal
from tests.support.fake_controller import FakeController

AGENTS = 20


def _swarm(cluster: Cluster, name: str, state_dir: Path, *extra: str) -> subprocess.Popen:
    proc = cluster.spawn(name, ["swarm", "--controller", cluster.address, "--agents", str(AGENTS),
                                 "--state-dir", str(state_dir), "--heartbeat-seconds", "1",
                                 "--connect-rate", "100", "--status-seconds", "1", *extra])
    cluster.agents[name] = proc  # Cluster.close() stops it with the rest
    return proc


def _activation_args(act: Activation) -> list[str]:
    return ["--activation-id", act.activation_id, f"--activation-code={act.code}",
            "--ca-fingerprint", act.ca_fingerprint]


def _online(cluster: Cluster, proc: subprocess.Popen, count: int) -> dict[str, str]:
    """Wait until ``count`` nodes are Online (failing at once if the swarm exits); node id -> hostname."""
    rows: list[dict] = []

    def check() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the swarm exited {proc.returncode}:\n{cluster.logs()}")
        rows[:] = [r for r in cluster.nodes() if r["ping_status"] == "Online"]
        return len(rows) >= count
    wait_for(check, 30, f"{count} swarm nodes to be Online", interval=0.3)
    return {str(r["node_id"]): str(r["hostname"]) for r in rows}


def _run_everywhere(cluster: Cluster, command: str) -> dict:
    sent = cluster.outpost_json("command", "send", "--document", "Outpost-RunShellScript",
                                "--parameters", f"commands={command}", "--all")
    assert isinstance(sent, dict)
    proc = cluster.outpost("command", "wait", str(sent["command_id"]), "--output", "json", check=False, timeout=60)
    row = json.loads(proc.stdout)
    assert proc.returncode == 0 and row["status_detail"] == "Success", json.dumps(row, indent=1)
    return row


def _stop(cluster: Cluster, name: str) -> str:
    proc = cluster.agents.pop(name)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, cluster.logs()
    return (cluster.root / f"{name}.log").read_text()


def test_swarm_enrols_once_runs_commands_and_reuses_its_identities(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_controller()
    act = cluster.create_activation(limit=AGENTS)
    state = tmp_path / "swarm"

    first = _swarm(cluster, "swarm-1", state, *_activation_args(act), "--action", "noop")
    nodes = _online(cluster, first, AGENTS)
    assert sorted(nodes.values()) == [f"swarm-{i:06d}" for i in range(1, AGENTS + 1)]
    stored = {json.loads((state / f"agent-{i:06d}" / "identity.json").read_text())["node_id"]
              for i in range(1, AGENTS + 1)}
    assert stored == set(nodes)  # one identity per agent directory, each its own node

    noop = _run_everywhere(cluster, "true")
    assert {i["node_id"]: i["status_detail"] for i in noop["invocations"]} == dict.fromkeys(nodes, "Success")

    log = _stop(cluster, "swarm-1")
    assert f"swarm stopped: 0/{AGENTS} connected" in log and "Traceback" not in log, log
    wait_for(lambda: not any(r["ping_status"] == "Online" for r in cluster.nodes()), 15,
             "every swarm stream to be closed", interval=0.3)

    # the same state directory: no activation given, none needed; the same nodes come back
    second = _swarm(cluster, "swarm-2", state, "--action", "subprocess")
    assert set(_online(cluster, second, AGENTS)) == set(nodes)
    assert len(cluster.nodes()) == AGENTS

    echo = _run_everywhere(cluster, "echo hi-$OUTPOST_NODE_ID")
    outputs = {i["node_id"]: i["steps"][0]["stdout"] for i in echo["invocations"]}
    assert outputs == {n: f"hi-{n}\n" for n in nodes}

    for i in range(1, AGENTS + 1):  # every agent kept its own ledger across both runs
        ledger = (state / f"agent-{i:06d}" / "ledger").read_text().split()
        assert noop["command_id"] in ledger and echo["command_id"] in ledger
    assert "Traceback" not in _stop(cluster, "swarm-2")


def test_a_swarm_agent_never_runs_a_command_twice_and_refuses_forged_ones(tmp_path: Path) -> None:
    state = tmp_path / "swarm"
    log_path = tmp_path / "swarm.log"
    with FakeController() as fake, open(log_path, "wb") as log:
        fake.write_state(state / "agent-000001")
        proc = subprocess.Popen([*OUTPOST, "swarm", "--controller", fake.address, "--agents", "1",
                                 "--state-dir", str(state), "--heartbeat-seconds", "1"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            fake.give_up = lambda: f"the swarm exited:\n{log_path.read_text()}" if proc.poll() is not None else None
            session = fake.wait_session()
            assert session.hello.facts.hostname == "swarm-000001"
            doc = Document((Step("noop", "shell", {"cmd": "exit 3"}),), "swarm")
            cid = str(uuid.uuid4())
            fake.send_command(fake.sign(cid, doc))
            assert fake.wait_result(cid).exit_code == 0  # noop: nothing ran
            # it ended at once: the result stands for the acceptance (agent/outbox.py), and the ledger has it
            assert fake.received(cid, "ack") == []
            assert cid in (state / "agent-000001" / "ledger").read_text()

            # the same command id again, its result acknowledged (the fake acks at once): never run again,
            # answered with a result that says so
            fake.wait_until(lambda: ("agent-000001", cid) not in read_journal(state / "journal"), "the ack to land")
            since = fake.mark()
            fake.send_command(fake.sign(cid, doc))
            again = fake.wait_message("invocation_result", cid, since=since).msg.invocation_result
            assert again.detail == pb.STATUS_DETAIL_FAILED and "took this command before" in again.error
            assert fake.received(cid, "ack", since=since) == []

            forged = str(uuid.uuid4())
            fake.send_command(fake.sign(forged, doc, signer=DocumentSigner.generate()))
            ack = fake.wait_message("ack", forged).msg.ack
            assert (ack.accepted, ack.refusal_code) == (False, "bad_signature")
            assert forged not in (state / "agent-000001" / "ledger").read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log_path.read_text()


def test_a_swarm_killed_mid_command_reports_each_agent_s_command_from_its_one_journal(
        cluster: Cluster, tmp_path: Path) -> None:
    """A kill -9 of the swarm while every agent runs a step: the swarm's one journal file holds each
    agent's command under that agent's name (agent/journal_file.py); the swarm's next run reports
    each interrupted after killing the step it left, and once the controller has acknowledged those
    results the file holds nothing."""
    cluster.start_controller()
    act = cluster.create_activation(limit=AGENTS)
    state, pids = tmp_path / "swarm", tmp_path / "pids"
    pids.mkdir()
    first = _swarm(cluster, "swarm-1", state, *_activation_args(act), "--action", "subprocess")
    nodes = _online(cluster, first, AGENTS)
    sent = cluster.outpost_json("command", "send", "--document", "Outpost-RunShellScript", "--parameters",
                                f"commands=echo $$ > {pids}/$OUTPOST_NODE_ID; sleep 30", "--all")
    assert isinstance(sent, dict)
    cid = str(sent["command_id"])
    wait_for(lambda: len([p for p in pids.iterdir() if p.read_text().strip()]) == AGENTS, 30,
             "every agent's step to start", interval=0.2)
    step_pids = {p.name: int(p.read_text()) for p in pids.iterdir()}

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    cluster.agents.pop("swarm-1")
    held = read_journal(state / "journal")
    assert {owner for owner, command in held if command == cid} == {f"agent-{i:06d}" for i in range(1, AGENTS + 1)}
    assert all(process_alive(pid) for pid in step_pids.values()), "the steps outlive the swarm's kill -9"

    second = _swarm(cluster, "swarm-2", state, "--action", "subprocess")
    invocations = by_node(wait_terminal(cluster, cid, 60))
    assert set(invocations) == set(nodes)
    for node, inv in invocations.items():
        assert inv["status"] == "Failed" and "interrupted" in json.dumps(inv), inv
        assert not process_alive(step_pids[node]), f"the step {node}'s agent left was not killed"
    wait_for(lambda: (state / "journal").stat().st_size == 0, 15, "the journal to hold nothing once acknowledged",
             interval=0.2)
    assert second.poll() is None
    assert "Traceback" not in _stop(cluster, "swarm-2")


def test_a_swarm_sigtermed_while_it_starts_stops_as_asked(tmp_path: Path) -> None:
    """make chaos, seed 642267 run 30: a swarm SIGTERMed while it started died by the signal (-15).
    Here its start-up is an enrolment with a controller that never answers (a listener that accepts
    nothing), so the SIGTERM lands in it."""
    port = free_port_pair()
    silent = [socket.create_server(("127.0.0.1", p)) for p in (port, port + 1)]
    try:
        proc = subprocess.Popen([*OUTPOST, "swarm", "--controller", f"127.0.0.1:{port}", "--agents", "1",
                                 "--state-dir", str(tmp_path), "--activation-id", str(uuid.uuid4()),
                                 "--activation-code=x", "--ca-fingerprint", "sha256:" + "0" * 64],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):  # still starting (enrolling) after 3 s
            proc.wait(timeout=3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    finally:
        for sock in silent:
            sock.close()
