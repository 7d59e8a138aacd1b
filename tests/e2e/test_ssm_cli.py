"""End to end: ``outpost ssm ...`` as the AWS CLI's ``aws ssm`` is used in scripts (its argument
forms, its JSON, --query, paging, the waiter, refusals). Real controller, agents and CLI.

One fleet for the module: a controller and two agents, a and b (Role=web)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, started
from tests.support.fleet import start_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("ssm-cli")) as c:
        start_fleet(c, ["a", "b"], c.create_activation("Role=web", limit=2))
        yield c


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    return fleet_cluster


def ssm(cluster: Cluster, *argv: str, check: bool = True, timeout: float = 60) -> object:
    proc = cluster.outpost("ssm", *argv, check=False, timeout=timeout)
    if check:
        assert proc.returncode == 0, (argv, proc.returncode, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc


def _ids(cluster: Cluster) -> list[str]:
    return [cluster.node_ids["a"], cluster.node_ids["b"]]


def _wait(cluster: Cluster, command_id: str, node: str) -> int:
    proc = ssm(cluster, "wait", "command-executed", "--command-id", command_id, "--instance-id", node,
               check=False, timeout=130)
    return proc.returncode  # type: ignore[union-attr]


def test_send_command_json_forms_query_wait_and_get(cluster: Cluster) -> None:
    targets = json.dumps([{"Key": "InstanceIds", "Values": _ids(cluster)}])
    proc = ssm(cluster, "send-command", "--document-name", "AWS-RunShellScript", "--targets", targets,
               "--parameters", json.dumps({"commands": ["echo one", "echo two"]}), "--comment", "from a script",
               "--query", "Command.CommandId", "--output", "text", check=False)
    assert proc.returncode == 0, proc.stderr  # type: ignore[union-attr]
    command_id = proc.stdout.strip()  # type: ignore[union-attr]
    assert command_id and "\t" not in command_id
    for node in _ids(cluster):
        assert _wait(cluster, command_id, node) == 0
    got = ssm(cluster, "get-command-invocation", "--command-id", command_id, "--instance-id", _ids(cluster)[0])
    assert isinstance(got, dict)
    assert got["Status"] == "Success" and got["ResponseCode"] == 0 and got["StandardOutputContent"] == "one\ntwo\n"
    assert got["Comment"] == "from a script" and got["DocumentName"] == "AWS-RunShellScript"
    assert got["ExecutionElapsedTime"].startswith("PT") and got["ExecutionStartDateTime"].endswith("Z")
    listed = ssm(cluster, "list-commands", "--command-id", command_id)
    assert isinstance(listed, dict) and [c["CommandId"] for c in listed["Commands"]] == [command_id]
    shown = listed["Commands"][0]
    assert shown["Status"] == "Success" and shown["TargetCount"] == 2 and shown["CompletedCount"] == 2
    assert shown["InstanceIds"] == sorted(_ids(cluster)) or shown["InstanceIds"] == _ids(cluster)
    assert shown["RequestedDateTime"].endswith("+00:00")


def test_send_command_shorthand_and_list_invocations_with_details(cluster: Cluster) -> None:
    sent = ssm(cluster, "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", *_ids(cluster),
               "--parameters", "commands=echo x,echo y", "--max-concurrency", "1", "--timeout-seconds", "60")
    assert isinstance(sent, dict)
    command = sent["Command"]
    assert command["Parameters"] == {"commands": ["echo x", "echo y"]} and command["MaxConcurrency"] == "1"
    assert sorted(command["InstanceIds"]) == sorted(_ids(cluster)) and command["Targets"] == []
    for node in _ids(cluster):
        assert _wait(cluster, command["CommandId"], node) == 0
    listed = ssm(cluster, "list-command-invocations", "--command-id", command["CommandId"], "--details")
    assert isinstance(listed, dict) and "NextToken" not in listed
    invocations = listed["CommandInvocations"]
    assert sorted(i["InstanceId"] for i in invocations) == sorted(_ids(cluster))
    for i in invocations:
        assert i["Status"] == "Success" and i["CommandPlugins"], i
        assert i["CommandPlugins"][0]["Output"] == "x\ny\n" and i["CommandPlugins"][0]["ResponseCode"] == 0
    short = ssm(cluster, "list-command-invocations", "--command-id", command["CommandId"],
                "--query", "CommandInvocations[].CommandPlugins")
    assert short == [[], []]


def test_cli_input_json_from_a_file(cluster: Cluster, tmp_path: Path) -> None:
    request = tmp_path / "send.json"
    request.write_text(json.dumps({"DocumentName": "AWS-RunShellScript", "InstanceIds": [_ids(cluster)[0]],
                                   "Parameters": {"commands": ["echo from-file"]}, "Comment": "file"}))
    sent = ssm(cluster, "send-command", "--cli-input-json", f"file://{request}", "--comment", "line wins")
    assert isinstance(sent, dict) and sent["Command"]["Comment"] == "line wins"
    assert _wait(cluster, sent["Command"]["CommandId"], _ids(cluster)[0]) == 0


def test_describe_instance_information_pages_one_at_a_time(cluster: Cluster) -> None:
    seen, token, calls = [], None, 0
    while calls < 4:
        argv = ["describe-instance-information", "--max-results", "1"] + (["--next-token", token] if token else [])
        page = ssm(cluster, *argv)
        assert isinstance(page, dict)
        calls += 1
        assert len(page["InstanceInformationList"]) <= 1
        seen += [e["InstanceId"] for e in page["InstanceInformationList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(_ids(cluster))
    whole = ssm(cluster, "describe-instance-information", "--filters", "Key=PingStatus,Values=Online")
    assert isinstance(whole, dict) and "NextToken" not in whole
    entry = whole["InstanceInformationList"][0]
    assert entry["ResourceType"] == "ManagedInstance" and entry["PingStatus"] == "Online"
    assert entry["LastPingDateTime"].endswith("+00:00")
    text = ssm(cluster, "describe-instance-information", "--query", "InstanceInformationList[].InstanceId",
               "--output", "text", check=False)
    assert sorted(text.stdout.split()) == sorted(_ids(cluster))  # type: ignore[union-attr]


def test_wait_command_executed_exits_255_on_failure(cluster: Cluster) -> None:
    sent = ssm(cluster, "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", _ids(cluster)[0],
               "--parameters", "commands=exit 3")
    assert isinstance(sent, dict)
    proc = ssm(cluster, "wait", "command-executed", "--command-id", sent["Command"]["CommandId"],
               "--instance-id", _ids(cluster)[0], check=False, timeout=130)
    assert proc.returncode == 255 and "Failed" in proc.stderr, proc.stderr  # type: ignore[union-attr]


def test_output_s3_bucket_name_is_refused_and_nothing_is_sent(cluster: Cluster) -> None:
    before = ssm(cluster, "list-commands", "--query", "length(Commands)")
    proc = ssm(cluster, "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", _ids(cluster)[0],
               "--parameters", "commands=true", "--output-s3-bucket-name", "my-bucket", check=False)
    assert proc.returncode == 252  # type: ignore[union-attr]
    assert "--output-s3-bucket-name" in proc.stderr and "get-command-invocation" in proc.stderr  # type: ignore
    assert ssm(cluster, "list-commands", "--query", "length(Commands)") == before


def test_documents(cluster: Cluster) -> None:
    listed = ssm(cluster, "list-documents", "--filters", "Key=Owner,Values=Amazon")
    assert isinstance(listed, dict) and listed["DocumentIdentifiers"]
    described = ssm(cluster, "describe-document", "--name", "AWS-RunShellScript")
    assert isinstance(described, dict) and described["Document"]["HashType"] == "Sha256"
    assert any(p["Name"] == "commands" for p in described["Document"]["Parameters"])
