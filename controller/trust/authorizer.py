"""Whether an operator may do what it asks: the policies attached to it (the store), parsed once
and kept until they change, evaluated by controller/trust/policy_eval.py.

Default deny: an operator the store does not know, or one revoked, may do nothing. An operator
holding a policy that allows everything, with no Deny covering the action in any policy it holds,
is allowed without evaluating each resource (a send to 10,000 nodes by an administrator costs
nothing here); any other request is decided resource by resource.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from controller.trust.policy import Action, Effect, Policy, parse_policy
from controller.trust.policy_eval import Decision, Evaluation, Request, ResourceDecision, ResourceRef, evaluate
from plugins.sdk.errors import InputError

log = logging.getLogger(__name__)
_DENY_ALL = parse_policy('{"Statement": {"Sid": "Unreadable", "Effect": "Deny", "Action": "*", "Resource": "*"}}')


@dataclass(frozen=True)
class Holding:
    """What one operator holds, as the store had it when loaded."""
    operator: str
    known: bool  # the store has the operator
    revoked: bool
    policies: tuple[tuple[str, Policy], ...]

    def allows_everything(self, action: Action) -> bool:
        """A policy allows every action on every resource unconditionally, and no Deny covers ``action``."""
        statements = [st for _, p in self.policies for st in p.statements]
        if any(st.effect is Effect.DENY and st.covers(action) for st in statements):
            return False
        return any(st.effect is Effect.ALLOW and not st.not_action and len(st.actions) == len(Action)
                   and not st.not_resource and any(r.text == "*" for r in st.resources) and not st.conditions
                   for st in statements)


# (operator) -> (known, revoked, [(policy name, document)]): read from the store, off the event loop
LoadHolding = Callable[[str], Awaitable[tuple[bool, bool, Sequence[tuple[str, str]]]]]


class Authorizer:
    def __init__(self, load: LoadHolding) -> None:
        self._load = load
        self._held: dict[str, Holding] = {}

    def changed(self, operator: str | None = None) -> None:
        """Policies or operators changed: load ``operator``'s (everyone's, for None) again when next asked."""
        if operator is None:
            self._held.clear()
        else:
            self._held.pop(operator, None)

    async def holding(self, operator: str) -> Holding:
        held = self._held.get(operator)
        if held is None:
            known, revoked, documents = await self._load(operator)
            held = Holding(operator, known, revoked, tuple(_parsed(operator, name, doc) for name, doc in documents))
            self._held[operator] = held
        return held

    async def decide(self, operator: str, source_ip: str | None, action: Action,
                     resources: Sequence[ResourceRef]) -> Evaluation:
        """The decision on ``action`` over ``resources`` (``ResourceRef("*")`` for a request on none in
        particular); the caller refuses what is not allowed."""
        held = await self.holding(operator)
        names = tuple(resources) or (ResourceRef("*"),)
        if not held.known or held.revoked:  # default deny (the caller tells why first)
            return Evaluation(action, Decision.IMPLICIT_DENY,
                              tuple(ResourceDecision(r.name, Decision.IMPLICIT_DENY, None) for r in names))
        if held.allows_everything(action):
            return Evaluation(action, Decision.ALLOWED, ())
        return evaluate(held.policies, Request(action, operator, source_ip, names))


def _parsed(operator: str, name: str, document: str) -> tuple[str, Policy]:
    try:
        return name, parse_policy(document)
    except InputError as exc:  # stored by an older controller, or edited in the database: fail closed (a
        # Deny in it must not be lost), denying its holder everything until it is mended
        log.error("policy %s no longer parses, so operator %s is denied everything: %s", name, operator, exc)
        return name, _DENY_ALL
