"""What each AdminService call asks to do, in policy terms (controller/trust/policy.py): its action
and the resources its request names. One table: a method missing from it is denied to everyone
(default deny), and tests/controller/test_permissions.py checks that every method of the service
is in it.

The nodes a send reaches are decided once its targets are resolved (controller/server/access_gate.py);
here a send names its document only. A node named here is decided with its tags (the gate reads them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from controller.documents.catalog import BUILTIN_ALIASES
from controller.trust.policy import Action
from controller.trust.policy_eval import ResourceRef

Resources = Callable[[Message], tuple[ResourceRef, ...]]


def _none(_request: Message) -> tuple[ResourceRef, ...]:
    return ()


def _named(kind: str, field: str) -> Resources:
    def resources(request: Message) -> tuple[ResourceRef, ...]:
        value = getattr(request, field)
        return (ResourceRef(f"{kind}/{value}"),) if value else ()
    return resources


def _parameter(request: Message) -> tuple[ResourceRef, ...]:
    """``parameter/app/db/password`` for /app/db/password, as the parameter's ARN names it."""
    name = str(request.name)
    return (ResourceRef("parameter/" + name.removeprefix("/")),) if name else ()


def document_ref(name: str) -> ResourceRef:
    """``document/NAME``, matched by its built-in aliases too (AWS-RunShellScript is aws:runShellScript's)."""
    return ResourceRef.document(name, BUILTIN_ALIASES.get(name, ()))


def _document(field: str) -> Resources:
    def resources(request: Message) -> tuple[ResourceRef, ...]:
        name = getattr(request, field)
        return (document_ref(name),) if name else ()
    return resources


INLINE_DOCUMENT = "(inline)"  # every inline document (a play): document/(inline), never a stored name


def sent_document(request: Message) -> str:
    """The document a send is judged by: an inline one is ``(inline)`` whatever name it gives itself
    (a name is no proof of content: an inline document calling itself AWS-RunShellScript is not it)."""
    if getattr(request, "document", b""):
        return INLINE_DOCUMENT
    return str(getattr(request, "document_name", ""))


def _send(request: Message) -> tuple[ResourceRef, ...]:
    return (document_ref(sent_document(request)),)


@dataclass(frozen=True)
class Permission:
    action: Action
    resources: Resources = _none
    action_if: Callable[[Message], Action] | None = None  # the action depends on the request (create or update)
    also: tuple[Action, ...] = ()  # asked too, on no resource in particular (RunCommand streams what it sent)

    def action_of(self, request: Message) -> Action:
        return self.action_if(request) if self.action_if is not None else self.action


def _put_document(request: Message) -> Action:
    return Action.DOCUMENT_CREATE if request.create else Action.DOCUMENT_UPDATE


def _put_policy(request: Message) -> Action:
    return Action.POLICY_CREATE if request.create else Action.POLICY_UPDATE


def _attach(request: Message) -> Action:
    return Action.POLICY_DETACH if request.detach else Action.POLICY_ATTACH


PERMISSIONS: dict[str, Permission] = {
    "CreateActivation": Permission(Action.ACTIVATION_CREATE),
    "ListActivations": Permission(Action.ACTIVATION_LIST),
    "DeleteActivation": Permission(Action.ACTIVATION_DELETE, _named("activation", "activation_id")),
    "DeregisterNode": Permission(Action.NODE_DEREGISTER, _named("node", "node_id")),
    "ListNodes": Permission(Action.NODE_LIST),
    "ResolveTargets": Permission(Action.NODE_LIST),
    "SendCommand": Permission(Action.COMMAND_SEND, _send),
    "RunCommand": Permission(Action.COMMAND_SEND, _send, also=(Action.COMMAND_GET,)),  # `send --wait`
    "ExpandDocument": Permission(Action.DOCUMENT_GET),
    "ListCommands": Permission(Action.COMMAND_LIST),
    "GetCommand": Permission(Action.COMMAND_GET),
    "GetOutput": Permission(Action.COMMAND_GET),
    "StreamOutput": Permission(Action.COMMAND_GET),
    "WatchCommand": Permission(Action.COMMAND_GET),
    "WatchEvents": Permission(Action.COMMAND_LIST),
    "ListEvents": Permission(Action.COMMAND_LIST),
    "CancelCommand": Permission(Action.COMMAND_CANCEL),
    "PutDocument": Permission(Action.DOCUMENT_CREATE, _document("name"), _put_document),
    "ListDocuments": Permission(Action.DOCUMENT_LIST),
    "GetDocument": Permission(Action.DOCUMENT_GET, _document("name")),
    "DeleteDocument": Permission(Action.DOCUMENT_DELETE, _document("name")),
    "ListDocumentVersions": Permission(Action.DOCUMENT_GET, _document("name")),
    "SetDefaultVersion": Permission(Action.DOCUMENT_UPDATE, _document("name")),
    "PutGroup": Permission(Action.GROUP_PUT, lambda r: (ResourceRef(f"group/{r.group.name}"),)),  # type: ignore[attr-defined]
    "ListGroups": Permission(Action.GROUP_LIST),
    "GetGroup": Permission(Action.GROUP_GET, _named("group", "name")),
    "DeleteGroup": Permission(Action.GROUP_DELETE, _named("group", "name")),
    "TagNode": Permission(Action.NODE_TAG, _named("node", "node_id")),
    "CreateOperator": Permission(Action.OPERATOR_CREATE, _named("operator", "name")),
    "RenewOperator": Permission(Action.OPERATOR_RENEW, _named("operator", "name")),  # oneself: always
    "ListOperators": Permission(Action.OPERATOR_LIST),
    "GetOperator": Permission(Action.OPERATOR_GET, _named("operator", "name")),
    "RevokeOperator": Permission(Action.OPERATOR_REVOKE, _named("operator", "name")),
    "PutPolicy": Permission(Action.POLICY_CREATE, _named("policy", "name"), _put_policy),
    "ListPolicies": Permission(Action.POLICY_LIST),
    "GetPolicy": Permission(Action.POLICY_GET, _named("policy", "name")),
    "DeletePolicy": Permission(Action.POLICY_DELETE, _named("policy", "name")),
    "AttachPolicy": Permission(Action.POLICY_ATTACH, _named("policy", "policy"), _attach),
    "SimulatePolicy": Permission(Action.POLICY_SIMULATE),
    "ReadAudit": Permission(Action.AUDIT_READ),
    "RotateMasterKey": Permission(Action.CONTROLLER_ROTATE_MASTER_KEY),
    "RotateSigningKey": Permission(Action.CONTROLLER_ROTATE_SIGNING_KEY),
    "PublishAgentRelease": Permission(Action.AGENT_RELEASE_PUBLISH),  # a stream: its version is in the wheel
    "ListAgentReleases": Permission(Action.AGENT_RELEASE_LIST),
    "DeleteAgentRelease": Permission(Action.AGENT_RELEASE_DELETE, _named("agent-release", "version")),
    "PutContent": Permission(Action.CONTENT_PUT),  # a stream: its name is in its first message
    "ListContent": Permission(Action.CONTENT_LIST),
    "DeleteContent": Permission(Action.CONTENT_DELETE, _named("content", "name")),
    "PutBaseline": Permission(Action.BASELINE_PUT, _named("baseline", "name")),
    "ListBaselines": Permission(Action.BASELINE_LIST),
    "GetBaseline": Permission(Action.BASELINE_GET, _named("baseline", "name")),
    "DeleteBaseline": Permission(Action.BASELINE_DELETE, _named("baseline", "name")),
    "ListCompliance": Permission(Action.COMPLIANCE_LIST),
    "PutParameter": Permission(Action.PARAMETER_PUT, _parameter),
    "GetParameter": Permission(Action.PARAMETER_GET, _parameter),  # a SecureString's value: with_decryption
    "ListParameters": Permission(Action.PARAMETER_LIST),  # names and types, no values
    "DeleteParameter": Permission(Action.PARAMETER_DELETE, _parameter),
    "GetCompliance": Permission(Action.COMPLIANCE_GET, _named("node", "node_id")),
}
