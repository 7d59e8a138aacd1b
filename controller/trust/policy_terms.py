"""The words of Outpost's access policies (controller/trust/policy.py): its actions, effects, versions,
resource types, condition operators and condition keys. Every action of the admin API is one of
these (controller/server/permissions.py maps each method to its action)."""
from __future__ import annotations

import enum


class Action(enum.Enum):
    """Everything an operator can be allowed to do; the value is the name policies and the server use."""
    COMMAND_SEND = "command:Send"
    COMMAND_CANCEL = "command:Cancel"
    COMMAND_GET = "command:Get"
    COMMAND_LIST = "command:List"
    DOCUMENT_CREATE = "document:Create"
    DOCUMENT_UPDATE = "document:Update"
    DOCUMENT_DELETE = "document:Delete"
    DOCUMENT_GET = "document:Get"
    DOCUMENT_LIST = "document:List"
    NODE_LIST = "node:List"
    NODE_TAG = "node:Tag"
    NODE_DEREGISTER = "node:Deregister"
    GROUP_PUT = "group:Put"
    GROUP_GET = "group:Get"
    GROUP_LIST = "group:List"
    GROUP_DELETE = "group:Delete"
    ACTIVATION_CREATE = "activation:Create"
    ACTIVATION_DELETE = "activation:Delete"
    ACTIVATION_LIST = "activation:List"
    OPERATOR_CREATE = "operator:Create"
    OPERATOR_RENEW = "operator:Renew"
    OPERATOR_GET = "operator:Get"
    OPERATOR_LIST = "operator:List"
    OPERATOR_REVOKE = "operator:Revoke"
    POLICY_CREATE = "policy:Create"
    POLICY_UPDATE = "policy:Update"
    POLICY_DELETE = "policy:Delete"
    POLICY_GET = "policy:Get"
    POLICY_LIST = "policy:List"
    POLICY_ATTACH = "policy:Attach"
    POLICY_DETACH = "policy:Detach"
    POLICY_SIMULATE = "policy:Simulate"
    AUDIT_READ = "audit:Read"
    CONTROLLER_ROTATE_MASTER_KEY = "controller:RotateMasterKey"
    CONTROLLER_ROTATE_SIGNING_KEY = "controller:RotateSigningKey"
    AGENT_RELEASE_PUBLISH = "agentRelease:Publish"
    AGENT_RELEASE_LIST = "agentRelease:List"
    AGENT_RELEASE_DELETE = "agentRelease:Delete"
    CONTENT_PUT = "content:Put"
    CONTENT_LIST = "content:List"
    CONTENT_DELETE = "content:Delete"
    BASELINE_PUT = "baseline:Put"
    BASELINE_GET = "baseline:Get"
    BASELINE_LIST = "baseline:List"
    BASELINE_DELETE = "baseline:Delete"
    COMPLIANCE_GET = "compliance:Get"
    COMPLIANCE_LIST = "compliance:List"
    PARAMETER_PUT = "parameter:Put"
    PARAMETER_GET = "parameter:Get"
    PARAMETER_LIST = "parameter:List"
    PARAMETER_DELETE = "parameter:Delete"

    @property
    def service(self) -> str:
        return self.value.partition(":")[0]


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class PolicyVersion(enum.Enum):
    V2012_10_17 = "2012-10-17"
    V2008_10_17 = "2008-10-17"


class ResourceType(enum.Enum):
    DOCUMENT = "document"
    NODE = "node"
    GROUP = "group"
    OPERATOR = "operator"
    POLICY = "policy"
    ACTIVATION = "activation"
    AGENT_RELEASE = "agent-release"
    CONTENT = "content"
    BASELINE = "baseline"
    PARAMETER = "parameter"


class ConditionOperator(enum.Enum):
    STRING_EQUALS = "StringEquals"
    STRING_NOT_EQUALS = "StringNotEquals"
    STRING_EQUALS_IGNORE_CASE = "StringEqualsIgnoreCase"
    STRING_NOT_EQUALS_IGNORE_CASE = "StringNotEqualsIgnoreCase"
    STRING_LIKE = "StringLike"
    STRING_NOT_LIKE = "StringNotLike"
    IP_ADDRESS = "IpAddress"
    NOT_IP_ADDRESS = "NotIpAddress"

    @property
    def negated(self) -> bool:
        """True for the operators that hold when no value matches (and when the key is absent)."""
        return "Not" in self.value

    @property
    def on_addresses(self) -> bool:
        return self.value.endswith("IpAddress")


class KeyKind(enum.Enum):
    NODE_TAG = "node:tag/"
    DOCUMENT_NAME = "document:name"
    OPERATOR_NAME = "operator:name"
    SOURCE_IP = "request:source_ip"
