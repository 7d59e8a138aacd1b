"""AWS IAM names pasted into an Outpost policy (controller/trust/policy.py), mapped onto Outpost's.

Three tables, one per place a name appears: SSM actions, ARNs of documents and instances, and
condition keys. A name with no Outpost equivalent is refused by name, never dropped: a Deny that
silently lost one of its actions or resources would allow what its author meant to deny.

Outpost's own names are given here as text (``"command:Send"``, ``"node/ID"``); policy.py turns them
into its types, so this module imports nothing of it.
"""
from __future__ import annotations

import re

from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown

# SSM action -> Outpost action. `ssm:*` and wildcards such as `ssm:List*` are matched against the
# left column only: what SSM has beyond it has no Outpost equivalent.
SSM_ACTIONS: tuple[tuple[str, str], ...] = (
    ("ssm:SendCommand", "command:Send"),
    ("ssm:CancelCommand", "command:Cancel"),
    ("ssm:GetCommandInvocation", "command:Get"),
    ("ssm:ListCommands", "command:List"),
    ("ssm:ListCommandInvocations", "command:List"),
    ("ssm:CreateDocument", "document:Create"),
    ("ssm:UpdateDocument", "document:Update"),
    ("ssm:DeleteDocument", "document:Delete"),
    ("ssm:GetDocument", "document:Get"),
    ("ssm:DescribeDocument", "document:Get"),
    ("ssm:ListDocumentVersions", "document:Get"),
    ("ssm:UpdateDocumentDefaultVersion", "document:Update"),
    ("ssm:ListDocuments", "document:List"),
    ("ssm:DescribeInstanceInformation", "node:List"),
    ("ssm:AddTagsToResource", "node:Tag"),
    ("ssm:RemoveTagsFromResource", "node:Tag"),
    ("ssm:DeregisterManagedInstance", "node:Deregister"),
    ("ssm:CreateActivation", "activation:Create"),
    ("ssm:DeleteActivation", "activation:Delete"),
    ("ssm:DescribeActivations", "activation:List"),
    ("ssm:PutParameter", "parameter:Put"),
    ("ssm:GetParameter", "parameter:Get"),
    ("ssm:GetParameters", "parameter:Get"),
    ("ssm:GetParametersByPath", "parameter:List"),  # Outpost's list answers no values: less, never more
    ("ssm:DescribeParameters", "parameter:List"),
    ("ssm:DeleteParameter", "parameter:Delete"),
    ("ssm:DeleteParameters", "parameter:Delete"),
)
SSM_SERVICE = "ssm"

# (service, resource type in the ARN) -> Outpost resource type.
ARN_RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("ssm", "document", "document"),
    ("ssm", "parameter", "parameter"),  # parameter/app/db/password: /app/db/password
    ("ssm", "managed-instance", "node"),
    ("ec2", "instance", "node"),
)
# arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE/ID; region and account may be anything, even empty.
_ARN = re.compile(r"arn:(?P<partition>[^:]*):(?P<service>[^:]*):[^:]*:[^:]*:(?P<type>[^/:]*)/(?P<id>.+)", re.DOTALL)
_PARTITION = re.compile(r"aws(-[a-z]+)*|\*")
_ARN_FORMS = ("arn:aws:ssm:REGION:ACCOUNT:document/NAME, arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, "
              "arn:aws:ssm:REGION:ACCOUNT:managed-instance/ID or arn:aws:ec2:REGION:ACCOUNT:instance/ID")

# IAM condition key -> Outpost key; IAM's key names are case-insensitive. A `/` at the end marks a
# prefix: what follows it (a tag's key) is kept as written.
IAM_CONDITION_KEYS: tuple[tuple[str, str], ...] = (
    ("ssm:resourceTag/", "node:tag/"),
    ("aws:ResourceTag/", "node:tag/"),
    ("aws:SourceIp", "request:source_ip"),
)
_IAM_KEY_SERVICES = ("aws", "ssm", "ec2")


def ssm_names() -> str:
    """The SSM actions Outpost maps, for a message."""
    return ", ".join(name for name, _ in SSM_ACTIONS)


def iam_key_names() -> str:
    """The IAM condition keys Outpost maps, for a message."""
    return ", ".join(iam + ("KEY" if iam.endswith("/") else "") for iam, _ in IAM_CONDITION_KEYS)


def is_arn(text: str) -> bool:
    return text.startswith("arn:")


def arn_to_resource(arn: str, where: str) -> str:
    """``document/NAME`` or ``node/ID`` for an SSM document or an instance's ARN; InputError for any other."""
    found = _ARN.fullmatch(arn)
    if found is not None and _PARTITION.fullmatch(found["partition"]):
        for service, arn_type, outpost_type in ARN_RESOURCES:
            if found["service"] == service and found["type"] == arn_type:
                return f"{outpost_type}/{found['id']}"
    raise InputError(where, f"{shown(arn)} has no Outpost equivalent (Outpost maps {_ARN_FORMS})")


def iam_condition_key(key: str, where: str) -> str | None:
    """The Outpost key for an IAM condition key; None for a key in none of IAM's services (Outpost's own,
    or a typo the caller names); InputError for an IAM key Outpost has no equivalent of."""
    lowered = key.lower()
    for iam, outpost in IAM_CONDITION_KEYS:
        if not iam.endswith("/") and lowered == iam.lower():
            return outpost
        if iam.endswith("/") and lowered.startswith(iam.lower()) and len(key) > len(iam):
            return outpost + key[len(iam):]
    if lowered.partition(":")[0] in _IAM_KEY_SERVICES:
        raise InputError(where, f"condition key {shown(key)} has no Outpost equivalent (Outpost maps "
                         f"{iam_key_names()})")
    return None
