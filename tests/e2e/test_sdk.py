"""End to end: the Python SDK (controller.sdk) against a real controller and two real agents, as
docs/sdk.md uses it: connect from the CLI's configuration and with explicit files, run and wait,
read invocations, steps and whole output, follow events, nodes and tags, documents and versions,
and the errors it raises."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from controller.runtime.config import CliConfig
from controller.sdk import ApiError, Detail, Outpost, Status, WaitTimeout, targets
from tests.support.cluster import Cluster, started


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("sdk")) as c:
        act = c.create_activation("Role=web", limit=2)
        for name in ("a", "b"):
            c.enroll(name, act)
            c.start_agent(name)
        c.wait_online(["a", "b"])
        yield c


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    return fleet_cluster


@pytest.fixture
def outpost(cluster: Cluster) -> Iterator[Outpost]:
    with Outpost.from_config(cluster.config) as client:
        yield client


def test_run_and_read_what_it_did(cluster: Cluster, outpost: Outpost) -> None:
    cmd = outpost.run("AWS-RunShellScript", {"commands": ["echo out-$OUTPOST_NODE_ID", "echo err >&2"]},
                      targets(tags={"Role": ["web"]}), timeout=120)
    assert cmd.succeeded and cmd.status is Status.SUCCESS and cmd.target_count == 2
    assert {i.node_id for i in cmd.invocations} == {cluster.node_ids["a"], cluster.node_ids["b"]}
    inv = cmd.invocation(cluster.node_ids["a"])
    step = inv.steps[0]
    assert (step.detail, step.response_code, step.stdout, step.stderr) == \
        (Detail.SUCCESS, 0, f"out-{inv.node_id}\n", "err\n")
    whole = {(o.step_name, o.stream): o.text for o in outpost.output(cmd.command_id, inv.node_id)}
    assert whole[(step.name, "stdout")] == f"out-{inv.node_id}\n"
    assert cmd.command_id in [c.command_id for c in outpost.commands(10)]


def test_explicit_files_and_a_failure(cluster: Cluster) -> None:
    config = CliConfig.load(cluster.config)
    with Outpost(config.controller, ca=config.ca, certificate=config.certificate, key=config.key) as client:
        cmd = client.run("AWS-RunShellScript", {"commands": ["exit 3"]}, targets([cluster.node_ids["b"]]),
                         timeout=120)
    assert not cmd.succeeded and cmd.detail is Detail.FAILED
    assert cmd.invocations[0].steps[0].response_code == 3


def test_wait_times_out_and_errors_are_typed(cluster: Cluster, outpost: Outpost) -> None:
    sent = outpost.send("AWS-RunShellScript", {"commands": ["sleep 30"]}, targets([cluster.node_ids["a"]]))
    with pytest.raises(WaitTimeout, match=f"command {sent.command_id} has not ended after 1 s"):
        outpost.wait(sent.command_id, timeout=1)
    cancelled = outpost.cancel(sent.command_id)
    assert cancelled.command_id == sent.command_id
    assert outpost.wait(sent.command_id, timeout=60).detail in (Detail.CANCELLED, Detail.TERMINATED)
    with pytest.raises(ApiError) as err:
        outpost.send("No-Such-Document", {}, targets([cluster.node_ids["a"]]))
    assert err.value.code == "NOT_FOUND" and "No-Such-Document" in err.value.message
    with pytest.raises(ApiError) as err:
        outpost.command("not-a-command")
    assert err.value.code in ("NOT_FOUND", "INVALID_ARGUMENT")


def test_events_nodes_and_documents(cluster: Cluster, outpost: Outpost) -> None:
    seen: list = []
    events = outpost.events()
    sent: set[str] = set()
    done = threading.Event()

    def read() -> None:
        for event in events:
            seen.append(event)
            if event.command_id in sent and event.kind == "invocation" and event.detail is Detail.SUCCESS:
                done.set()
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for _ in range(20):  # the feed starts when the stream is up: the first commands may come before it
        cmd = outpost.run("AWS-RunShellScript", {"commands": ["true"]}, targets([cluster.node_ids["b"]]), timeout=120)
        sent.add(cmd.command_id)
        if done.wait(2):
            break
    assert done.is_set(), seen
    events.close()

    node = outpost.tag(cluster.node_ids["a"], Name="alpha")
    assert node.tag("Name") == "alpha"
    nodes = {n.node_id: n for n in outpost.nodes()}
    assert nodes[cluster.node_ids["a"]].tag("Name") == "alpha" and nodes[cluster.node_ids["a"]].ping_status == "Online"

    doc = ("schemaVersion: '2.2'\ndescription: hello\nparameters:\n  who: {type: String, default: world}\n"
           "mainSteps:\n  - action: aws:runShellScript\n    name: hi\n    inputs:\n"
           "      runCommand: ['echo hello {{ who }}']\n")
    first = outpost.put_document("SdkHello", doc, version_name="v1")
    assert (first.version, first.version_name, first.is_default) == (1, "v1", True)
    outpost.put_document("SdkHello", doc.replace("hello", "hi"), create=False, version_name="v2")
    assert [(v.version, v.version_name) for v in outpost.document_versions("SdkHello")] == [(1, "v1"), (2, "v2")]
    assert outpost.document("SdkHello", version_name="v1").content.decode() == doc
    cmd = outpost.run("SdkHello", {"who": "sdk"}, targets([cluster.node_ids["a"]]), version="2", timeout=120)
    assert cmd.invocations[0].steps[0].stdout == "hi sdk\n"
    with pytest.raises(ApiError) as err:
        outpost.put_document("SdkBad", "schemaVersion: '2.2'\nmainSteps: [{action: aws:nope, name: x, inputs: {}}]\n")
    assert err.value.code == "INVALID_ARGUMENT" and "aws:nope" in err.value.message
    outpost.delete_document("SdkHello", version=2)
    assert [v.version for v in outpost.document_versions("SdkHello")] == [1]
