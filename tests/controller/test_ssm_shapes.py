"""Outpost's records (render.py's ssm_*_record) as the AWS CLI prints SSM's answers: data-driven."""
from __future__ import annotations

import io

import pytest

from controller.cli.ssm import shapes
from controller.cli.ssm.output import emit, text

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20+00:00
CMD = {"command_id": "c-1", "document": "AWS-RunShellScript", "document_version": None, "comment": "hi",
       "parameters": {"commands": ["echo a", "echo b"]}, "targets": [["InstanceIds", ["mi-a", "mi-b"]]],
       "target_count": 2, "status": "Success", "status_detail": "Success", "completed": 2, "errors": 0,
       "delivery_timed_out": 0, "max_concurrency": "50", "max_errors": "0", "created_ms": T0,
       "expires_ms": T0 + 600_000}
STEP = {"name": "runShellScript", "action": "aws:runShellScript", "status": "Success", "status_detail": "Success",
        "exit_code": 0, "started_ms": T0 + 1000, "ended_ms": T0 + 2234, "stdout": "a\n", "stderr": "", "error": ""}
INV = {"command_id": "c-1", "node_id": "mi-a", "status": "Success", "status_detail": "Success", "exit_code": 0,
       "started_ms": T0 + 1000, "ended_ms": T0 + 2234, "steps": [STEP]}


@pytest.mark.parametrize(("record", "expected"), [
    (CMD, {"CommandId": "c-1", "DocumentName": "AWS-RunShellScript", "DocumentVersion": "$DEFAULT",
           "Comment": "hi", "ExpiresAfter": "2023-11-14T22:23:20.000000+00:00",
           "Parameters": {"commands": ["echo a", "echo b"]}, "InstanceIds": ["mi-a", "mi-b"], "Targets": [],
           "RequestedDateTime": "2023-11-14T22:13:20.000000+00:00", "Status": "Success",
           "StatusDetails": "Success", "MaxConcurrency": "50", "MaxErrors": "0", "TargetCount": 2,
           "CompletedCount": 2, "ErrorCount": 0, "DeliveryTimedOutCount": 0, "TimeoutSeconds": 600}),
    ({**CMD, "targets": [["tag:Role", ["web"]], ["InstanceIds", ["mi-a"]]], "document_version": 3},
     {"InstanceIds": [],
      "Targets": [{"Key": "tag:Role", "Values": ["web"]}, {"Key": "InstanceIds", "Values": ["mi-a"]}],
      "DocumentVersion": "3"}),
])
def test_command(record: dict, expected: dict) -> None:
    shaped = shapes.command(record)
    assert {k: shaped[k] for k in expected} == expected
    assert shaped["OutputS3BucketName"] == "" and shaped["CloudWatchOutputConfig"]["CloudWatchOutputEnabled"] is False


@pytest.mark.parametrize(("inv", "details", "expected"), [
    (INV, False, {"CommandId": "c-1", "InstanceId": "mi-a", "DocumentName": "AWS-RunShellScript", "Comment": "hi",
                  "Status": "Success", "StatusDetails": "Success", "CommandPlugins": [],
                  "RequestedDateTime": "2023-11-14T22:13:20.000000+00:00"}),
    (INV, True, {"CommandPlugins": [{"Name": "runShellScript", "Status": "Success", "StatusDetails": "Success",
                                     "ResponseCode": 0, "ResponseStartDateTime": "2023-11-14T22:13:21.000000+00:00",
                                     "ResponseFinishDateTime": "2023-11-14T22:13:22.234000+00:00", "Output": "a\n",
                                     "StandardOutputUrl": "", "StandardErrorUrl": "", "OutputS3Region": "",
                                     "OutputS3BucketName": "", "OutputS3KeyPrefix": ""}]}),
    ({**INV, "steps": [{**STEP, "stdout": "x" * 3000, "status_detail": "InProgress", "status": "InProgress"}]}, True,
     {"CommandPlugins": [{**shapes.plugin({**STEP, "stdout": "x" * 3000, "status_detail": "InProgress",
                                           "status": "InProgress"})}]}),
])
def test_invocation(inv: dict, details: bool, expected: dict) -> None:
    shaped = shapes.invocation(CMD, inv, details)
    assert {k: shaped[k] for k in expected} == expected
    for p in shaped["CommandPlugins"]:
        assert len(p["Output"]) <= 2500


def test_a_running_plugin_has_response_code_minus_one_and_output_is_cut() -> None:
    p = shapes.plugin({**STEP, "stdout": "x" * 3000, "status_detail": "InProgress", "status": "InProgress"})
    assert p["ResponseCode"] == -1 and len(p["Output"]) == 2500 and p["Output"].endswith("--output truncated--")


@pytest.mark.parametrize(("inv", "step", "expected"), [
    (INV, "runShellScript", {"PluginName": "runShellScript", "ResponseCode": 0,
                             "ExecutionStartDateTime": "2023-11-14T22:13:21.000Z", "ExecutionElapsedTime": "PT1.234S",
                             "ExecutionEndDateTime": "2023-11-14T22:13:22.234Z", "Status": "Success",
                             "StandardOutputContent": "a\n", "StandardErrorContent": ""}),
    ({**INV, "steps": [], "status": "InProgress", "status_detail": "InProgress"}, "s",
     {"PluginName": "s", "ResponseCode": -1, "ExecutionStartDateTime": "", "ExecutionElapsedTime": "",
      "Status": "InProgress", "StatusDetails": "InProgress", "StandardOutputContent": ""}),
    ({**INV, "steps": [{**STEP, "stdout": "y" * 30000, "stderr": "z" * 9000, "exit_code": 3,
                        "status": "Failed", "status_detail": "Failed"}]}, "runShellScript",
     {"ResponseCode": 3, "Status": "Failed"}),
])
def test_get_invocation(inv: dict, step: str, expected: dict) -> None:
    shaped = shapes.get_invocation(CMD, inv, step)
    assert {k: shaped[k] for k in expected} == expected
    assert len(shaped["StandardOutputContent"]) <= 24000 and len(shaped["StandardErrorContent"]) <= 8000
    assert list(shaped)[:6] == ["CommandId", "InstanceId", "Comment", "DocumentName", "DocumentVersion", "PluginName"]


NODE = {"node_id": "mi-a", "hostname": "web1", "platform": "linux", "os": "Ubuntu 22.04",
        "ip_addresses": ["10.0.0.5", "fe80::1"], "ping_status": "Online", "agent_version": "1.2.3",
        "last_seen_ms": T0, "registered_ms": T0 - 1000, "activation_id": "act-1", "tags": {"Role": "web"}}


def test_instance() -> None:
    assert shapes.instance(NODE) == {
        "InstanceId": "mi-a", "PingStatus": "Online", "LastPingDateTime": "2023-11-14T22:13:20.000000+00:00",
        "AgentVersion": "1.2.3", "PlatformType": "Linux", "PlatformName": "Ubuntu", "PlatformVersion": "22.04",
        "ActivationId": "act-1", "RegistrationDate": "2023-11-14T22:13:19.000000+00:00",
        "ResourceType": "ManagedInstance", "Name": "web1", "IPAddress": "10.0.0.5", "ComputerName": "web1",
        "SourceId": "mi-a", "SourceType": "AWS::SSM::ManagedInstance"}


DOC = {"name": "AWS-RunShellScript", "version": 1, "default_version": 1, "latest_version": 2, "format": "YAML",
       "builtin": True, "description": "run", "parameters": ["commands"], "sha256": "ab" * 32, "created_ms": T0}
CONTENT = {"schemaVersion": "2.2", "parameters": {"commands": {"type": "StringList", "description": "cmds",
                                                               "default": ["a", "b"]}},
           "mainSteps": [{"action": "aws:runShellScript", "name": "run"}]}


@pytest.mark.parametrize(("content", "expected"), [
    (CONTENT, {"Name": "AWS-RunShellScript", "Owner": "Amazon", "HashType": "Sha256", "DocumentVersion": "1",
               "LatestVersion": "2", "DefaultVersion": "1", "PlatformTypes": ["Linux", "MacOS"],
               "Parameters": [{"Name": "commands", "Type": "StringList", "Description": "cmds", "DefaultValue": "a,b"}],
               "SchemaVersion": "2.2", "DocumentType": "Command", "Status": "Active"}),
    (None, {"Parameters": [{"Name": "commands"}], "PlatformTypes": ["Windows", "Linux", "MacOS"]}),
])
def test_document_description(content: dict | None, expected: dict) -> None:
    shaped = shapes.document_description(DOC, content)
    assert {k: shaped[k] for k in expected} == expected


def test_document_identifier_and_paging() -> None:
    entry = shapes.document_identifier({**DOC, "builtin": False})
    assert entry["Owner"] == "Self" and entry["DocumentVersion"] == "1" and entry["DocumentType"] == "Command"
    assert shapes.paged("DocumentIdentifiers", [entry], "") == {"DocumentIdentifiers": [entry]}
    assert shapes.paged("X", [], "tok") == {"X": [], "NextToken": "tok"}


@pytest.mark.parametrize(("data", "expected"), [
    ({"Commands": [{"CommandId": "c-1", "Status": "Success", "InstanceIds": ["mi-a", "mi-b"]}]},
     "COMMANDS\tc-1\tSuccess\nINSTANCEIDS\tmi-a\nINSTANCEIDS\tmi-b\n"),
    (["a", "b"], "a\tb\n"),
    ({"NextToken": "t", "X": []}, "t\n"),
    ("one", "one\n"),
])
def test_text_output_is_the_aws_clis(data: object, expected: str) -> None:
    assert text(data) == expected


def test_json_output_and_query() -> None:
    out = io.StringIO()
    emit({"Command": {"CommandId": "c-1", "Comment": "é"}}, "json", None, "SendCommand", out)
    assert out.getvalue() == '{\n    "Command": {\n        "CommandId": "c-1",\n        "Comment": "é"\n    }\n}\n'
    out = io.StringIO()
    emit({"Command": {"CommandId": "c-1"}}, "text", "Command.CommandId", "SendCommand", out)
    assert out.getvalue() == "c-1\n"
    out = io.StringIO()
    emit({}, "json", None, "CancelCommand", out)
    assert out.getvalue() == ""
