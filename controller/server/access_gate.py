"""The door of every admin call: who calls (the verified certificate only), whether that
certificate is revoked, and whether the caller's policies allow what the call asks
(controller/server/permissions.py names it). A refusal ends the call PERMISSION_DENIED in one
line that names what was denied and why; nothing of the call has run.

A send is decided twice: its document when the call opens, and every node its targets resolve to
once they are (``admit_nodes``): one node denied refuses the whole send, naming the nodes denied.
"""
from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

import grpc
from google.protobuf.message import Message

from controller.model import Tag
from controller.server.auth import PeerIdentities
from controller.server.call_audit import CallAudit, Caller
from controller.server.permissions import PERMISSIONS, document_ref
from controller.store.errors import NotFound
from controller.trust.authorizer import Authorizer
from controller.trust.policy import Action
from controller.trust.policy_eval import Decision, Evaluation, Request, ResourceDecision, ResourceRef, evaluate, explain
from controller.trust.revocation import Denylist
from plugins.sdk.errors import OutpostError
from plugins.sdk.limits import shown
from plugins.sdk.wire.identity import Role

log = logging.getLogger(__name__)
NAMED_AT_MOST = 20  # nodes a refusal names; then "and N more"


class AccessDenied(OutpostError):
    """What the caller asked is not allowed; the message says what and why, in one line."""


def source_ip(peer: str) -> str | None:
    """The address in gRPC's peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``), or None."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6":
        host = rest.rpartition(":")[0].strip("[]")
    else:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# every registered node's id and tags (the store's tagged_nodes, off the event loop)
NodeTags = Callable[[], Awaitable[Sequence[tuple[str, Sequence[Tag]]]]]


class AccessGate:
    def __init__(self, identities: PeerIdentities, authorizer: Authorizer, denylist: Denylist,
                 node_tags: NodeTags, audit: CallAudit) -> None:
        self.audit = audit
        self._identities = identities
        self._authorizer = authorizer
        self._denylist = denylist
        self._node_tags = node_tags

    def revoked(self, operator: str, serials: Iterable[str]) -> None:
        """``operator`` is revoked: its certificates are refused from now on, its policies read anew."""
        self._denylist.add(serials)
        self._authorizer.changed(operator)

    def nodes_revoked(self, serials: Iterable[str]) -> None:
        """Node certificates revoked (a node deregistered): refused from now on."""
        self._denylist.add(serials)

    @property
    def denylist(self) -> Denylist:
        """The revoked serials, which the agent service checks when a stream opens."""
        return self._denylist

    def policies_changed(self, operator: str | None = None) -> None:
        """What ``operator`` holds (None: any operator) changed: read anew at its next call."""
        self._authorizer.changed(operator)

    async def admit(self, context: grpc.aio.ServicerContext, method: str, request: Message) -> Caller:
        """The caller, if it may make this call; otherwise the call is aborted PERMISSION_DENIED. Either
        way the audit trail has it (server/call_audit.py) before the call goes on."""
        peer = self._identities.peer(context)
        permission = PERMISSIONS.get(method)
        action = permission.action_of(request) if permission is not None else None
        named = action.value if action is not None else f"AdminService.{method}"
        resources = permission.resources(request) if permission is not None else ()
        address = source_ip(context.peer())
        caller = (Caller(peer.identity.name, address) if peer is not None
                  else Caller("-", address, role="unidentified"))

        async def refuse(why: str) -> None:
            await self.audit.denied(context, caller, named, resources, why)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)

        if peer is None or peer.identity.role is not Role.OPERATOR:  # a node's certificate, say
            who = peer.identity.uri if peer is not None else "an unidentified peer"
            if peer is not None:
                caller = Caller(peer.identity.name, address, role=peer.identity.role.value)
            log.warning("denied AdminService.%s to %s (%s)", method, who, context.peer())
            await refuse(f"AdminService.{method} is not allowed for {who}; it needs a {Role.OPERATOR.value} "
                         "certificate")
            raise AssertionError("abort raises")
        name = peer.identity.name

        if peer.serial in self._denylist:
            log.warning("denied %s to operator %s: its certificate %s is revoked (%s)", method, name, peer.serial,
                        context.peer())
            await refuse(f"the certificate of operator {name} (serial {peer.serial}) is revoked")
        if permission is None or action is None:  # default deny: a call the table does not name
            await refuse(f"AdminService.{method} is allowed to nobody")
            raise AssertionError("abort raises")
        held = await self._authorizer.holding(name)
        if not held.known or held.revoked:
            why = "is revoked" if held.revoked else "is not registered with this controller"
            log.warning("denied %s to operator %s: it %s (%s)", method, name, why, context.peer())
            await refuse(f"operator {name} {why}")
        if not (method == "RenewOperator" and getattr(request, "name", "") in ("", name)):
            # (one's own certificate: any operator in good standing)
            if any(r.is_node for r in resources) and not held.allows_everything(action):
                resources = await self._with_tags(resources)
            evaluation = await self._authorizer.decide(name, caller.source_ip, action, resources)
            for also in permission.also:
                if not evaluation.allowed:
                    break
                evaluation = await self._authorizer.decide(name, caller.source_ip, also, ())
            if not evaluation.allowed:
                await refuse(self._refusal(caller, evaluation))
        await self.audit.admitted(context, caller, action, resources)
        return caller

    async def admit_nodes(self, caller: Caller, document: str, node_ids: Sequence[str]) -> None:
        """A send of ``document`` to ``node_ids``, or AccessDenied naming the nodes denied."""
        held = await self._authorizer.holding(caller.operator)
        if held.known and not held.revoked and held.allows_everything(Action.COMMAND_SEND):
            return  # an administrator's send to 10,000 nodes reads no tags
        resources = await self._with_tags((document_ref(document), *(ResourceRef.node(n) for n in node_ids)))
        evaluation = await self._authorizer.decide(caller.operator, caller.source_ip, Action.COMMAND_SEND, resources)
        if not evaluation.allowed:
            raise AccessDenied(self._refusal(caller, evaluation))

    async def simulate(self, caller: Caller, action: Action, resources: Sequence[ResourceRef]) -> Evaluation:
        """What ``caller``'s policies decide, each resource with its deciding statement (no shortcut for
        an administrator: the simulator names the statement). NotFound: an unknown operator."""
        held = await self._authorizer.holding(caller.operator)
        if not held.known:
            raise NotFound(f"no operator {caller.operator}")
        names = await self._with_tags(resources) if resources else (ResourceRef("*"),)
        if held.revoked:
            return Evaluation(action, Decision.IMPLICIT_DENY,
                              tuple(ResourceDecision(r.name, Decision.IMPLICIT_DENY, None) for r in names))
        return evaluate(held.policies, Request(action, caller.operator, caller.source_ip, names))

    async def _with_tags(self, resources: Sequence[ResourceRef]) -> tuple[ResourceRef, ...]:
        """``resources`` with each node's tags, as the store has them now (an unknown node has none)."""
        wanted = {r.name.partition("/")[2] for r in resources if r.is_node}
        tags = {n: {t.key: t.value for t in node_tags} for n, node_tags in await self._node_tags() if n in wanted}
        return tuple(ResourceRef.node(r.name.partition("/")[2], tags.get(r.name.partition("/")[2], {}))
                     if r.is_node else r for r in resources)

    def _refusal(self, caller: Caller, evaluation: Evaluation) -> str:
        action = evaluation.action.value
        denied = evaluation.denied
        if not denied:
            line = f"operator {caller.operator} may not {action}"
        elif len(denied) > NAMED_AT_MOST:
            line = (f"operator {caller.operator} may not {action} on {len(denied)} resource(s): "
                    f"{', '.join(denied[:NAMED_AT_MOST])} and {len(denied) - NAMED_AT_MOST} more")
        else:
            line = f"operator {caller.operator} may not {action} on {', '.join(denied)}"
        if len(evaluation.resources) <= NAMED_AT_MOST:
            line += f" ({explain(evaluation)})"
        log.warning("access denied: %s%s", line, f" from {caller.source_ip}" if caller.source_ip else "")
        return shown(line) if not line.isprintable() else line
