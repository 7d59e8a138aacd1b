"""End to end: enrolment with hybrid activations through the real ``outpost agent enroll``.

Every refusal is clear on the agent's side, adds no node, and (when the request reached the
controller) is recorded in the store with its reason. A wrong CA pin stops the agent before it
sends anything.
"""
from __future__ import annotations

import dataclasses
import stat
import time
from pathlib import Path

from controller.model import Targets
from controller.runtime.config import CliConfig, ControllerDir
from controller.sdk.transport import AdminClient
from controller.store import Store
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.document import Document, Step
from tests.support.clierrors import error_lines
from tests.support.cluster import Activation, Cluster
from tests.support.keys import controller_sealer


def _failures(cluster: Cluster) -> list[tuple[str, str]]:
    """(activation_id, reason) of every enrolment failure the controller recorded."""
    url = ControllerDir(cluster.controller_dir).load_settings().database_url
    store = Store.open(url, controller_sealer(cluster.controller_dir))
    try:
        return [(f.activation_id, f.reason) for f in store.list_enrolment_failures()]
    finally:
        store.close()


def _node_ids(cluster: Cluster) -> set[str]:
    return {str(r["node_id"]) for r in cluster.nodes()}


def _registrations(cluster: Cluster, act: Activation) -> str:
    rows = cluster.outpost_json("activation", "list")
    assert isinstance(rows, list)
    (row,) = [r for r in rows if r["activation_id"] == act.activation_id]
    return str(row["registrations"])


def _refused(cluster: Cluster, name: str, act: Activation) -> str:
    """Enrol ``name`` expecting a refusal; returns stderr. No identity may be left behind."""
    proc = cluster.enroll(name, act, check=False)
    assert proc.returncode != 0, f"enrolment should have been refused:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not (cluster.state_dir(name) / "identity.json").exists()
    assert not (cluster.state_dir(name) / "node.crt").exists()
    return proc.stderr


def test_wrong_code_is_refused_and_recorded(cluster: Cluster) -> None:
    cluster.start_controller()
    act = cluster.create_activation(limit=2)
    cluster.enroll("good", act)
    before = _node_ids(cluster)

    err = _refused(cluster, "bad", dataclasses.replace(act, code=act.code[:-4] + "AAAA"))
    assert "wrong activation code" in err and act.activation_id in err, err
    assert _node_ids(cluster) == before
    assert _failures(cluster) == [(act.activation_id, "wrong_code")]
    assert _registrations(cluster, act) == "1/2"  # a refusal does not use up a registration

    # the same state directory enrols fine with the right code afterwards
    cluster.enroll("bad", act)
    assert len(_node_ids(cluster)) == 2


def test_expired_activation_is_refused_and_recorded(cluster: Cluster) -> None:
    cluster.start_controller()
    act = cluster.create_activation(expires="1s")
    time.sleep(2)
    err = _refused(cluster, "late", act)
    assert "expired" in err and act.activation_id in err, err
    assert _node_ids(cluster) == set()
    assert _failures(cluster) == [(act.activation_id, "expired")]


def test_exhausted_activation_is_refused_and_recorded(cluster: Cluster) -> None:
    cluster.start_controller()
    act = cluster.create_activation(limit=1)
    cluster.enroll("first", act)
    err = _refused(cluster, "second", act)
    assert "registration limit" in err and act.activation_id in err, err
    assert _node_ids(cluster) == {cluster.node_ids["first"]}
    assert _failures(cluster) == [(act.activation_id, "exhausted")]
    assert _registrations(cluster, act) == "1/1"


def test_unknown_activation_is_refused(cluster: Cluster) -> None:
    cluster.start_controller()
    real = cluster.create_activation()
    unknown = dataclasses.replace(real, activation_id="00000000-0000-4000-8000-000000000000")
    err = _refused(cluster, "x", unknown)
    assert unknown.activation_id in err and "does not exist" in err, err
    assert _node_ids(cluster) == set()
    assert _failures(cluster) == [(unknown.activation_id, "unknown_activation")]


def test_wrong_ca_fingerprint_sends_nothing(cluster: Cluster) -> None:
    cluster.start_controller()
    act = cluster.create_activation()
    pinned = "sha256:" + "0" * 64
    err = _refused(cluster, "x", dataclasses.replace(act, ca_fingerprint=pinned))
    assert "pinned CA" in err and pinned in err, err
    assert act.ca_fingerprint in err  # it says what the controller did present
    assert _node_ids(cluster) == set()
    assert _failures(cluster) == []  # the Enroll call was never made
    assert _registrations(cluster, act) == "0/5"
    controller_log = (cluster.root / "controller.log").read_text(errors="replace")
    assert "enrolment refused" not in controller_log


def test_activation_create_validation(cluster: Cluster) -> None:
    cluster.start_controller()
    cases = [
        (["--limit", "0"], "'--limit': 0 is not in the range 1<=x<=1000"),
        (["--limit", "1001"], "'--limit': 1001 is not in the range 1<=x<=1000"),
        (["--expires", "31d"], "'--expires': must be 1s to 30d"),
        (["--expires", "soon"], "'--expires': expected a duration"),
    ]
    for args, words in cases:  # usage errors, refused as the command line is read
        proc = cluster.outpost("activation", "create", *args, check=False)
        assert proc.returncode == 2, (args, proc.stdout)
        assert "Traceback" not in proc.stderr, proc.stderr
        (line,) = error_lines(proc.stderr)
        assert line.startswith("Error: Invalid value for") and words in line, (args, proc.stderr)
    assert cluster.outpost_json("activation", "list") == []
    # the limits themselves are allowed
    cluster.create_activation(limit=1000, expires="30d")
    cluster.create_activation(limit=1, expires="1s")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_keys_are_private(cluster: Cluster) -> None:
    cluster.start_controller()
    act = cluster.create_activation()
    cluster.enroll("a", act)
    state = cluster.state_dir("a")
    assert _mode(state / "node.key") == 0o600
    assert _mode(state) & 0o077 == 0, oct(_mode(state))
    cdir = cluster.controller_dir
    for name in ("ca.key", "signing.key", "server.key", "operators/admin.key"):
        assert _mode(cdir / name) == 0o600, (name, oct(_mode(cdir / name)))


def test_the_operator_client_pages_through_every_node(cluster: Cluster) -> None:
    cluster.start_controller()
    act = cluster.create_activation(limit=3)
    for name in ("p1", "p2", "p3"):
        cluster.enroll(name, act)
    with AdminClient(CliConfig.load(cluster.config)) as client:
        one_by_one = [n.node_id for n in client.list_nodes(page_size=1)]
        first = client.stub.ListNodes(pb.ListNodesRequest(max_results=2))
        doc = Document((Step("hi", "shell", {"cmd": "echo hi"}),), "paged").canonical_bytes()
        cid = client.stub.SendCommand(pb.SendCommandRequest(document=doc, targets=pb.Targets(node_ids=one_by_one),
                                                            max_concurrency="100%")).command.command_id
        invocations = [i.node_id for i in client.get_command(cid, page_size=2).invocations]  # pending: offline
        shown = cluster.outpost_json("command", "show", cid)
        resolved = [n.node_id for n in client.resolve_targets(Targets(node_ids=tuple(one_by_one[1:])), page_size=1)]
    assert one_by_one == sorted(_node_ids(cluster)) and len(one_by_one) == 3  # the CLI's `node list`
    assert [n.node_id for n in first.nodes] == one_by_one[:2] and first.next_token
    assert invocations == one_by_one and resolved == one_by_one[1:]
    assert isinstance(shown, dict) and [i["node_id"] for i in shown["invocations"]] == one_by_one
