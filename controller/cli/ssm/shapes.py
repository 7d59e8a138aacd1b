"""Outpost's records (controller/cli/render.py's ``ssm_*_record``: plain dicts) as SSM's response
shapes: the field names, order and forms the AWS CLI prints (botocore's ssm/2014-11-06 model).

Timestamps (``RequestedDateTime``, ``LastPingDateTime``, ...) are printed as the AWS CLI v2 prints
them, ISO 8601 with microseconds and an offset (always UTC here: ``+00:00``); the fields SSM types
as strings (GetCommandInvocation's ``ExecutionStartDateTime``...) as SSM sends them, with ``Z``."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from controller.fleet.targets import KEY_NODE_IDS

Record = Mapping[str, Any]
LIST_OUTPUT_CHARS = 2500  # ListCommandInvocations' CommandPlugins[].Output
STDOUT_CHARS = 24000  # GetCommandInvocation's StandardOutputContent
STDERR_CHARS = 8000  # and StandardErrorContent
TRUNCATED = "\n--output truncated--"
PLATFORM_TYPES = {"linux": "Linux", "macos": "MacOS", "darwin": "MacOS", "windows": "Windows"}
_OWNER_OUTPOST = "Amazon"  # a built-in document: SSM's owner of AWS-* documents


def timestamp(ms: int) -> str:
    """A timestamp field as the AWS CLI prints it ("" when there is none)."""
    if not ms:
        return ""
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="microseconds")
    except (OverflowError, ValueError, OSError):
        return ""


def string_time(ms: int) -> str:
    """A date SSM sends as a string (GetCommandInvocation's Execution*DateTime): ``...sssZ``."""
    if not ms:
        return ""
    try:
        text = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    except (OverflowError, ValueError, OSError):
        return ""
    return text.replace("+00:00", "Z")


def elapsed(start_ms: int, end_ms: int) -> str:
    """ExecutionElapsedTime: an ISO 8601 duration, ``PT1.234S``."""
    if not start_ms or not end_ms or end_ms < start_ms:
        return ""
    return f"PT{(end_ms - start_ms) / 1000:.3f}S"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - len(TRUNCATED)] + TRUNCATED


def response_code(status_detail: str, started_ms: int, exit_code: int, terminal: bool) -> int:
    return exit_code if started_ms and terminal else -1


def _targets(record: Record) -> tuple[list[str], list[dict]]:
    """(InstanceIds, Targets): a command sent to node ids only shows them as InstanceIds, as one sent
    with --instance-ids; any other targeting as Targets."""
    pairs = [(k, list(v)) for k, v in record.get("targets", [])]
    if len(pairs) == 1 and pairs[0][0] == KEY_NODE_IDS and pairs[0][1] != ["*"]:
        return pairs[0][1], []
    return [], [{"Key": k, "Values": v} for k, v in pairs]


def _version(record: Record) -> str:
    v = record.get("document_version")
    return str(v) if v else "$DEFAULT"


def _timeout_seconds(record: Record) -> int:
    created, expires = int(record.get("created_ms") or 0), int(record.get("expires_ms") or 0)
    return max(0, round((expires - created) / 1000)) if created and expires else 0


def command(record: Record) -> dict:
    """SSM's Command."""
    instance_ids, targets = _targets(record)
    return {
        "CommandId": record["command_id"], "DocumentName": record["document"],
        "DocumentVersion": _version(record), "Comment": record.get("comment", ""),
        "ExpiresAfter": timestamp(int(record.get("expires_ms") or 0)),
        "Parameters": {k: list(v) for k, v in dict(record.get("parameters", {})).items()},
        "InstanceIds": instance_ids, "Targets": targets,
        "RequestedDateTime": timestamp(int(record.get("created_ms") or 0)),
        "Status": record["status"], "StatusDetails": record["status_detail"],
        "OutputS3Region": "", "OutputS3BucketName": "", "OutputS3KeyPrefix": "",
        "MaxConcurrency": record.get("max_concurrency", ""), "MaxErrors": record.get("max_errors", ""),
        "TargetCount": record.get("target_count", record.get("targets_count", 0)),
        "CompletedCount": record.get("completed", 0), "ErrorCount": record.get("errors", 0),
        "DeliveryTimedOutCount": record.get("delivery_timed_out", 0), "ServiceRole": "",
        "NotificationConfig": _notification(record),
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        "TimeoutSeconds": _timeout_seconds(record), "TriggeredAlarms": [],
    }


def _notification(record: Record) -> dict:
    """SSM's NotificationConfig: the command's webhook URL (masked past its origin) for the topic ARN."""
    n = record.get("notification") or {"url": "", "events": [], "type": ""}
    return {"NotificationArn": n["url"], "NotificationEvents": list(n["events"]), "NotificationType": n["type"]}


def _terminal(detail: str) -> bool:
    from plugins.sdk.status import Detail  # the one list of terminal details

    try:
        return Detail(detail).terminal
    except ValueError:
        return False


def plugin(step: Record) -> dict:
    """One CommandPlugins entry (ListCommandInvocations --details)."""
    output = f"{step.get('stdout', '')}{step.get('stderr', '')}"
    return {"Name": step["name"], "Status": step["status"], "StatusDetails": step["status_detail"],
            "ResponseCode": response_code(step["status_detail"], int(step.get("started_ms") or 0),
                                          int(step.get("exit_code") or 0), _terminal(step["status_detail"])),
            "ResponseStartDateTime": timestamp(int(step.get("started_ms") or 0)),
            "ResponseFinishDateTime": timestamp(int(step.get("ended_ms") or 0)),
            "Output": cut(output, LIST_OUTPUT_CHARS), "StandardOutputUrl": "", "StandardErrorUrl": "",
            "OutputS3Region": "", "OutputS3BucketName": "", "OutputS3KeyPrefix": ""}


def invocation(cmd: Record, inv: Record, details: bool) -> dict:
    """SSM's CommandInvocation: the invocation ``inv`` of the command ``cmd``."""
    return {"CommandId": cmd["command_id"], "InstanceId": inv["node_id"], "InstanceName": "",
            "Comment": cmd.get("comment", ""), "DocumentName": cmd["document"], "DocumentVersion": _version(cmd),
            "RequestedDateTime": timestamp(int(cmd.get("created_ms") or 0)), "Status": inv["status"],
            "StatusDetails": inv["status_detail"], "TraceOutput": "", "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "CommandPlugins": [plugin(s) for s in inv.get("steps", [])] if details else [],
            "ServiceRole": "",
            "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}}


def get_invocation(cmd: Record, inv: Record, step_name: str) -> dict:
    """GetCommandInvocation's answer for ``step_name``: the step's result once the node reported it;
    before that the invocation's status, ResponseCode -1 and no output."""
    reported = [s for s in inv.get("steps", []) if s["name"] == step_name]
    step = reported[0] if reported else None
    start = int(step.get("started_ms") or 0) if step else 0
    end = int(step.get("ended_ms") or 0) if step else 0
    detail = step["status_detail"] if step else inv["status_detail"]
    return {"CommandId": cmd["command_id"], "InstanceId": inv["node_id"], "Comment": cmd.get("comment", ""),
            "DocumentName": cmd["document"], "DocumentVersion": _version(cmd), "PluginName": step_name,
            "ResponseCode": response_code(detail, start, int(step.get("exit_code") or 0), _terminal(detail))
            if step else -1,
            "ExecutionStartDateTime": string_time(start), "ExecutionElapsedTime": elapsed(start, end),
            "ExecutionEndDateTime": string_time(end),
            "Status": step["status"] if step else inv["status"], "StatusDetails": detail,
            "StandardOutputContent": cut(str(step.get("stdout", "")), STDOUT_CHARS) if step else "",
            "StandardOutputUrl": "",
            "StandardErrorContent": cut(str(step.get("stderr", "")), STDERR_CHARS) if step else "",
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}}


def platform_type(platform: str) -> str:
    return PLATFORM_TYPES.get(platform.lower(), platform.capitalize() if platform else "")


def instance(node: Record) -> dict:
    """One InstanceInformationList entry: an Outpost node is a hybrid ("ManagedInstance") node."""
    os_name, _, os_version = str(node.get("os", "")).partition(" ")
    ips = list(node.get("ip_addresses", []))
    return {"InstanceId": node["node_id"], "PingStatus": node.get("ping_status", ""),
            "LastPingDateTime": timestamp(int(node.get("last_seen_ms") or 0)),
            "AgentVersion": node.get("agent_version", ""),
            "PlatformType": platform_type(str(node.get("platform", ""))), "PlatformName": os_name,
            "PlatformVersion": os_version, "ActivationId": node.get("activation_id", ""),
            "RegistrationDate": timestamp(int(node.get("registered_ms") or 0)),
            "ResourceType": "ManagedInstance", "Name": node.get("hostname", ""),
            "IPAddress": ips[0] if ips else "", "ComputerName": node.get("hostname", ""),
            "SourceId": node["node_id"], "SourceType": "AWS::SSM::ManagedInstance"}


def _owner(doc: Record) -> str:
    return _OWNER_OUTPOST if doc.get("builtin") else "Self"


def _platforms(content: Mapping[str, Any] | None) -> list[str]:
    actions = {str(s.get("action", "")) for s in (content or {}).get("mainSteps", []) if isinstance(s, Mapping)}
    if actions and all(a in ("aws:runShellScript", "shell") for a in actions):
        return ["Linux", "MacOS"]
    if actions and all(a in ("aws:runPowerShellScript", "powershell") for a in actions):
        return ["Windows"]
    return ["Windows", "Linux", "MacOS"]


def document_identifier(doc: Record, content: Mapping[str, Any] | None = None) -> dict:
    """One DocumentIdentifiers entry (ListDocuments)."""
    schema = str((content or {}).get("schemaVersion", "2.2"))
    return {"Name": doc["name"], "CreatedDate": timestamp(int(doc.get("created_ms") or 0)), "Owner": _owner(doc),
            "PlatformTypes": _platforms(content), "DocumentVersion": str(doc.get("default_version") or ""),
            "DocumentType": "Command", "SchemaVersion": schema, "DocumentFormat": doc.get("format") or "YAML",
            "Tags": []}


def _parameters(doc: Record, content: Mapping[str, Any] | None) -> list[dict]:
    declared = (content or {}).get("parameters")
    if not isinstance(declared, Mapping):
        return [{"Name": n} for n in doc.get("parameters", [])]
    out = []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, Mapping) else {}
        entry = {"Name": str(name), "Type": str(spec.get("type", "String")),
                 "Description": str(spec.get("description", ""))}
        if "default" in spec:
            default = spec["default"]
            entry["DefaultValue"] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        out.append(entry)
    return out


def document_description(doc: Record, content: Mapping[str, Any] | None = None) -> dict:
    """DescribeDocument's Document."""
    return {"Hash": doc.get("sha256", ""), "HashType": "Sha256", "Name": doc["name"], "Owner": _owner(doc),
            "CreatedDate": timestamp(int(doc.get("created_ms") or 0)), "Status": "Active",
            "DocumentVersion": str(doc.get("version") or ""), "Description": doc.get("description", ""),
            "Parameters": _parameters(doc, content), "PlatformTypes": _platforms(content),
            "DocumentType": "Command", "SchemaVersion": str((content or {}).get("schemaVersion", "2.2")),
            "LatestVersion": str(doc.get("latest_version") or ""),
            "DefaultVersion": str(doc.get("default_version") or ""), "DocumentFormat": doc.get("format") or "YAML",
            "Tags": [], **({"VersionName": doc["version_name"]} if doc.get("version_name") else {})}


def document_version(doc: Record) -> dict:
    """One DocumentVersions entry (ListDocumentVersions)."""
    return {"Name": doc["name"], "DocumentVersion": str(doc.get("version") or ""),
            **({"VersionName": doc["version_name"]} if doc.get("version_name") else {}),
            "CreatedDate": timestamp(int(doc.get("created_ms") or 0)),
            "IsDefaultVersion": doc.get("version") == doc.get("default_version"),
            "DocumentFormat": doc.get("format") or "YAML", "Status": "Active"}


def default_version(doc: Record) -> dict:
    """UpdateDocumentDefaultVersion's Description."""
    return {"Name": doc["name"], "DefaultVersion": str(doc.get("default_version") or ""),
            **({"DefaultVersionName": doc["version_name"]} if doc.get("version_name") else {})}


def paged(key: str, items: Sequence[dict], next_token: str) -> dict:
    """A listing's answer: its items under ``key``, and NextToken when there is more."""
    return {key: list(items), **({"NextToken": next_token} if next_token else {})}
