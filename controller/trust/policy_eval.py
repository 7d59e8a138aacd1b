"""Whether an operator's request is allowed by the policies attached to it (controller/trust/policy.py),
decided as IAM decides identity policies, once per resource the request touches.

- A resource is denied by an explicit Deny in any statement of any policy, else allowed by an Allow,
  else denied implicitly. The deciding statement is the first that matches, in the order the
  policies, then their statements, are given.
- The request is ALLOWED only if every resource is; EXPLICIT_DENY if any resource is denied
  explicitly; else IMPLICIT_DENY. It names at least one resource: one on no particular resource (a
  List) names ``*``, which only ``Resource: "*"`` or a NotResource covers, as for IAM's list actions.
- A statement applies to a resource when it covers the action, one of its Resource patterns matches
  the resource's name or one of its aliases (NotResource: none does), and its conditions hold on the
  resource's context merged over the request's.
- Context: ``operator:name`` and ``request:source_ip`` are the request's; ``document:name`` holds
  the names (name and aliases) of the document the request touches; a resource's own keys (a node's
  tags, a document's names) win. A key with several values (a document's names) matches a positive
  operator if any value does, a negated one if none does. An IPv4-mapped IPv6 source address
  (``::ffff:a.b.c.d``, as a dual-stack listener sees an IPv4 peer) is compared as the IPv4 one.
- Deliberate difference from IAM (it is what makes SSM's least-privilege example, an Allow naming a
  document and instances under one ``ssm:resourceTag`` condition, work): a ``node:tag/...`` key
  applies to node resources only. On any other resource an Allow skips it (the condition on that
  key holds), so that one statement allows the document and the nodes so tagged, no other node.
  A Deny does not apply there at all: a Deny its author scoped to nodes by their tags denies those
  nodes, and so refuses a send to them naming them, but never the document itself; skipping the key
  in a Deny too would deny the document, hence its every send, to any node.
"""
from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.trust.policy import Action, Condition, ConditionOperator, Effect, KeyKind, Policy, Statement
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NODE = "node/"
_DOCUMENT = "document/"


class Decision(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class ResourceRef:
    """A resource a request touches: its name (``node/mi-0123``), the names it also answers to
    (``document/AWS-RunShellScript``) and its context keys as (key, value) pairs; a key may repeat."""
    name: str
    aliases: tuple[str, ...] = ()
    context: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("resource", "has no name")
        for key, _ in self.context:
            node_tag = self.is_node and key.startswith(KeyKind.NODE_TAG.value)
            if not node_tag and not (self.name.startswith(_DOCUMENT) and key == KeyKind.DOCUMENT_NAME.value):
                raise InputError(f"{self.name}.context", f"a {self.name.partition('/')[0]} has no key {shown(key)}")

    @classmethod
    def node(cls, node_id: str, tags: Mapping[str, str] | None = None) -> ResourceRef:
        return cls(_NODE + node_id, (), tuple((KeyKind.NODE_TAG.value + k, v) for k, v in (tags or {}).items()))

    @classmethod
    def document(cls, name: str, aliases: Sequence[str] = ()) -> ResourceRef:
        names = (name, *aliases)
        return cls(_DOCUMENT + name, tuple(_DOCUMENT + a for a in aliases),
                   tuple((KeyKind.DOCUMENT_NAME.value, n) for n in names))

    @property
    def is_node(self) -> bool:
        return self.name.startswith(_NODE)


@dataclass(frozen=True)
class Request:
    action: Action
    operator: str
    source_ip: str | None
    resources: tuple[ResourceRef, ...]
    address: IPAddress | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.resources:
            raise InputError("request.resources", "names no resource (a request on no particular one names '*')")
        address = None
        if self.source_ip is not None:
            try:
                address = ipaddress.ip_address(self.source_ip)
            except ValueError:
                raise InputError("request.source_ip", f"{shown(self.source_ip)} is not an IP address") from None
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
        object.__setattr__(self, "address", address)


@dataclass(frozen=True)
class StatementRef:
    """A statement, named as explanations name it: ``policy:Sid`` or ``policy:Statement[i]``."""
    policy: str
    label: str
    effect: Effect

    def __str__(self) -> str:
        return f"{self.policy}:{self.label}"


@dataclass(frozen=True)
class ResourceDecision:
    resource: str
    decision: Decision
    statement: StatementRef | None  # None for an implicit deny


@dataclass(frozen=True)
class Evaluation:
    action: Action
    decision: Decision
    resources: tuple[ResourceDecision, ...]

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED

    @property
    def denied(self) -> tuple[str, ...]:
        """The resources not allowed, in the request's order: a send is refused naming them."""
        return tuple(r.resource for r in self.resources if r.decision is not Decision.ALLOWED)


def evaluate(policies: Sequence[tuple[str, Policy]], request: Request) -> Evaluation:
    """Decide ``request`` under the named ``policies`` (those attached to its operator)."""
    covering = tuple((name, st) for name, policy in policies for st in policy.statements
                     if st.covers(request.action))
    denies = tuple(pair for pair in covering if pair[1].effect is Effect.DENY)
    allows = tuple(pair for pair in covering if pair[1].effect is Effect.ALLOW)
    base: dict[str, tuple[str, ...]] = {KeyKind.OPERATOR_NAME.value: (request.operator,)}
    documents = tuple(v for r in request.resources for k, v in r.context if k == KeyKind.DOCUMENT_NAME.value)
    if documents:
        base[KeyKind.DOCUMENT_NAME.value] = documents
    decided = tuple(_decide(resource, denies, allows, base, request.address) for resource in request.resources)
    if any(d.decision is Decision.EXPLICIT_DENY for d in decided):
        decision = Decision.EXPLICIT_DENY
    elif any(d.decision is Decision.IMPLICIT_DENY for d in decided):
        decision = Decision.IMPLICIT_DENY
    else:
        decision = Decision.ALLOWED
    return Evaluation(request.action, decision, decided)


def explain(evaluation: Evaluation) -> str:
    """One line: ``denied: node/mi-abc (implicit: no statement allows command:Send on it); allowed by
    prod-senders:Statement[0] for document/shell``."""
    denied: list[str] = []
    allowed: dict[StatementRef, list[str]] = {}
    for r in evaluation.resources:
        if r.decision is Decision.EXPLICIT_DENY:
            denied.append(f"{r.resource} (explicit: denied by {r.statement})")
        elif r.decision is Decision.IMPLICIT_DENY:
            denied.append(f"{r.resource} (implicit: no statement allows {evaluation.action.value} on it)")
        elif r.statement is not None:
            allowed.setdefault(r.statement, []).append(r.resource)
    parts = [f"denied: {', '.join(denied)}"] if denied else []
    parts += [f"allowed by {ref} for {', '.join(names)}" for ref, names in allowed.items()]
    return "; ".join(parts)


def _decide(resource: ResourceRef, denies: tuple[tuple[str, Statement], ...],
            allows: tuple[tuple[str, Statement], ...], base: Mapping[str, tuple[str, ...]],
            address: IPAddress | None) -> ResourceDecision:
    context = dict(base)
    own: dict[str, tuple[str, ...]] = {}
    for key, value in resource.context:
        own[key] = (*own.get(key, ()), value)
    context.update(own)
    names = (resource.name, *resource.aliases)
    for statements, decision in ((denies, Decision.EXPLICIT_DENY), (allows, Decision.ALLOWED)):
        for policy, st in statements:
            if _applies(st, resource, names, context, address):
                return ResourceDecision(resource.name, decision, StatementRef(policy, st.label, st.effect))
    return ResourceDecision(resource.name, Decision.IMPLICIT_DENY, None)


def _applies(st: Statement, resource: ResourceRef, names: tuple[str, ...], context: Mapping[str, tuple[str, ...]],
             address: IPAddress | None) -> bool:
    if any(p.glob.matches(n) for p in st.resources for n in names) == st.not_resource:
        return False
    for condition in st.conditions:
        if condition.key.kind is KeyKind.NODE_TAG and not resource.is_node:
            if st.effect is Effect.DENY:
                return False  # not applicable: a node-scoped Deny does not reach a document (see above)
            continue
        if not _holds(condition, context.get(condition.key.name, ()), address):
            return False
    return True


def _holds(condition: Condition, values: tuple[str, ...], address: IPAddress | None) -> bool:
    negated = condition.operator.negated
    if condition.key.kind is KeyKind.SOURCE_IP:
        if address is None:
            return condition.if_exists or negated
        return any(address in network for network in condition.networks) != negated
    if not values:
        return condition.if_exists or negated
    return any(_matches(condition, value) for value in values) != negated


def _matches(condition: Condition, value: str) -> bool:
    op = condition.operator
    if op in (ConditionOperator.STRING_LIKE, ConditionOperator.STRING_NOT_LIKE):
        return any(glob.matches(value) for glob in condition.globs)
    if op in (ConditionOperator.STRING_EQUALS_IGNORE_CASE, ConditionOperator.STRING_NOT_EQUALS_IGNORE_CASE):
        folded = value.casefold()
        return any(folded == v.casefold() for v in condition.values)
    return value in condition.values
