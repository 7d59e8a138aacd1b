"""End to end: RunCommand sends a command and follows it on one stream (what `command send --wait`
and `playbook apply` use). Real controller, agents and CLI; the operator's real client.

One fleet for the module: a controller and two agents, a and b (Role=web)."""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import grpc
import pytest

from controller.runtime.config import CliConfig
from controller.sdk.transport import AdminClient
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.convert import detail_from_pb
from plugins.sdk.wire.document import Document, Step
from tests.support.cluster import Cluster, started
from tests.support.fleet import start_fleet, targets_for, wait_command


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("run-command")) as c:
        start_fleet(c, ["a", "b"], c.create_activation("Role=web", limit=2))
        yield c


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    """The module's fleet, in place of the conftest's cluster a test."""
    return fleet_cluster


def _request(cluster: Cluster, names: list[str], *lines: str) -> pb.SendCommandRequest:
    steps = tuple(Step(f"s{i}", "shell", {"cmd": line}) for i, line in enumerate(lines))
    doc = Document(steps, "run").canonical_bytes()
    return pb.SendCommandRequest(document=doc, targets=pb.Targets(node_ids=[cluster.node_ids[n] for n in names]),
                                 max_concurrency="1", max_errors="100%", document_name="run")


def _commands(client: AdminClient) -> list[str]:
    return [c.command_id for c in client.stub.ListCommands(pb.ListCommandsRequest(limit=100)).commands]


def test_the_stream_opens_with_the_command_and_ends_with_its_end(cluster: Cluster) -> None:
    with AdminClient(CliConfig.load(cluster.config)) as client:
        events = list(client.stub.RunCommand(_request(cluster, ["a", "b"], "echo out-$OUTPOST_NODE_ID", "exit 3"),
                                             timeout=60))
        shown = client.get_command(events[0].command.command_id)
    kinds = [e.WhichOneof("body") for e in events]
    first, last = events[0].command, events[-1].command
    assert kinds[0] == "command" and kinds[-1] == "command", kinds
    assert detail_from_pb(first.detail).value == "Pending" and first.target_count == 2
    assert detail_from_pb(last.detail).value == "Failed" and last.command_id == first.command_id
    assert (last.completed_count, last.error_count) == (2, 2)
    assert all(not detail_from_pb(e.command.detail).terminal for e in events[:-1] if e.HasField("command"))
    ends = {e.node_id: e.invocation for e in events if e.HasField("invocation")
            and detail_from_pb(e.invocation.detail).terminal}
    assert set(ends) == set(cluster.node_ids.values())  # each invocation's end comes before the command's
    assert {(i.exit_code, detail_from_pb(i.detail).value) for i in ends.values()} == {(3, "Failed")}
    progress = [(e.node_id, detail_from_pb(e.invocation.detail).value) for e in events if e.HasField("invocation")]
    for node in cluster.node_ids.values():  # each one InProgress (again as its steps end), then its end
        seen = [d for n, d in progress if n == node]
        assert [d for i, d in enumerate(seen) if i == 0 or seen[i - 1] != d] == ["InProgress", "Failed"], progress
    output = b"".join(e.output.data for e in events if e.HasField("output") and e.node_id == cluster.node_ids["a"])
    assert output == f"out-{cluster.node_ids['a']}\n".encode()
    assert [(i.node_id, i.exit_code) for i in shown.invocations] == sorted((n, 3) for n in cluster.node_ids.values())


def test_a_bad_request_fails_the_call_and_nothing_is_sent(cluster: Cluster) -> None:
    with AdminClient(CliConfig.load(cluster.config)) as client:
        before = _commands(client)
        bad = _request(cluster, ["a"], "true")
        bad.targets.node_ids.append("mi-00000000000000000")
        with pytest.raises(grpc.RpcError) as unknown:
            list(client.stub.RunCommand(bad, timeout=30))
        broken = pb.SendCommandRequest(document=b'{"schemaVersion": "2.2", "mainSteps": [{"name": "x"}]}',
                                       targets=pb.Targets(node_ids=[cluster.node_ids["a"]]))
        with pytest.raises(grpc.RpcError) as invalid:
            list(client.stub.RunCommand(broken, timeout=30))
        after = _commands(client)
    assert unknown.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert unknown.value.details() == "targets.node_ids: unknown node mi-00000000000000000"
    assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "mainSteps[0]" in invalid.value.details()
    assert after == before


def test_no_matching_node_is_one_terminal_event(cluster: Cluster) -> None:
    request = _request(cluster, ["a"], "true")
    request.targets.Clear()
    request.targets.tags.add(key="Role", values=["db"])
    with AdminClient(CliConfig.load(cluster.config)) as client:
        events = list(client.stub.RunCommand(request, timeout=30))
    assert [e.WhichOneof("body") for e in events] == ["command"]
    assert detail_from_pb(events[0].command.detail).value == "NoInstancesInTag"


def test_a_caller_that_goes_away_does_not_stop_the_command(cluster: Cluster) -> None:
    with AdminClient(CliConfig.load(cluster.config)) as client:
        call = client.stub.RunCommand(_request(cluster, ["a"], "sleep 1", "echo done"), timeout=30)
        cid = next(call).command.command_id
        call.cancel()
        time.sleep(0.2)
    rc, row = wait_command(cluster, cid)
    assert rc == 0 and row["status_detail"] == "Success", row
    assert [(i["node_id"], i["status_detail"]) for i in row["invocations"]] == [(cluster.node_ids["a"], "Success")]


def test_send_wait_follows_the_command_on_one_stream(cluster: Cluster) -> None:
    ok = cluster.outpost("command", "send", "--document", "Outpost-RunShellScript", "--parameters", "commands=true",
                         "--targets", targets_for(cluster, ["a"]), "--wait", "--output", "json", check=False)
    bad = cluster.outpost("command", "send", "--document", "Outpost-RunShellScript", "--parameters", "commands=exit 4",
                          "--targets", targets_for(cluster, ["a"]), "--wait", check=False)
    assert ok.returncode == 0, ok.stderr
    assert '"status_detail": "Success"' in ok.stdout and cluster.node_ids["a"] in ok.stdout
    assert bad.returncode == 1 and "Failed" in bad.stdout, (bad.stdout, bad.stderr)


def test_an_inline_document_in_other_json_runs_as_its_canonical_form(cluster: Cluster) -> None:
    request = _request(cluster, ["a"], "echo spaced")
    canonical = request.document
    request.document = json.dumps(json.loads(canonical), indent=2).encode()  # a client's own JSON
    with AdminClient(CliConfig.load(cluster.config)) as client:
        events = list(client.stub.RunCommand(request, timeout=60))
        shown = client.get_command(events[0].command.command_id)
    assert detail_from_pb(events[-1].command.detail).value == "Success"
    assert shown.document == canonical and events[0].command.document_sha256 == hashlib.sha256(canonical).digest()
    assert b"".join(e.output.data for e in events if e.HasField("output")) == b"spaced\n"
