"""controller.trust.policy_eval: (policies, request) -> (decision, deciding statement per resource),
as the one-line explanation names them; IAM's semantics and Outpost's one deliberate difference."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.trust.policy import ADMINISTRATOR_ACCESS, ADMINISTRATOR_ACCESS_NAME, Action, parse_policy
from controller.trust.policy_eval import Decision, Request, ResourceRef, evaluate, explain
from plugins.sdk.errors import InputError

POLICIES = Path(__file__).parent / "policies"
ALLOWED, EXPLICIT, IMPLICIT = Decision.ALLOWED, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
IMP = "(implicit: no statement allows command:Send on it)"

PROD = ResourceRef.node("mi-prod", {"Environment": "prod", "Team": "web"})
DEV = ResourceRef.node("mi-dev", {"Environment": "dev", "Team": "db"})
BARE = ResourceRef.node("mi-bare")
SHELL = ResourceRef.document("shell", ("AWS-RunShellScript",))
DEPLOY = ResourceRef.document("deploy")
ANY = ResourceRef("*")


def st(effect: str, action: str | list[str], resource: str | list[str], condition: object = None, *,
       sid: str = "", not_action: bool = False, not_resource: bool = False) -> dict[str, object]:
    out: dict[str, object] = {"Effect": effect, "NotAction" if not_action else "Action": action,
                              "NotResource" if not_resource else "Resource": resource}
    if condition is not None:
        out["Condition"] = condition
    if sid:
        out["Sid"] = sid
    return out


def text(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def send(*resources: ResourceRef, action: Action = Action.COMMAND_SEND, operator: str = "alice",
         ip: str | None = None) -> Request:
    return Request(action=action, operator=operator, source_ip=ip, resources=resources)


def _nodes(allowed: str) -> str:
    """The explanation for a send to PROD, DEV and BARE of which only ``allowed`` (prod, dev, bare) are allowed."""
    names, ok = ("prod", "dev", "bare"), allowed.split()
    denied = [f"node/mi-{n} {IMP}" for n in names if n not in ok]
    parts = [f"denied: {', '.join(denied)}"] if denied else []
    if ok:
        parts.append("allowed by p:Statement[0] for " + ", ".join(f"node/mi-{n}" for n in names if n in ok))
    return "; ".join(parts)


ALLOW_ALL = text(st("Allow", "*", "*"))
ENV_PROD = {"StringEquals": {"node:tag/Environment": "prod"}}

CASES = [
    # -- deciding ----------------------------------------------------------------------------------
    ("allow", [("p", ALLOW_ALL)], send(DEPLOY, DEV), ALLOWED,
     "allowed by p:Statement[0] for document/deploy, node/mi-dev"),
    ("no statement matches", [("p", text(st("Allow", "command:Get", "*")))], send(DEPLOY), IMPLICIT,
     f"denied: document/deploy {IMP}"),
    ("no policy at all", [], send(DEPLOY), IMPLICIT, f"denied: document/deploy {IMP}"),
    ("explicit deny beats allow, across policies",
     [("allow", ALLOW_ALL), ("deny", text(st("Deny", "command:Send", "node/mi-dev", sid="NoDev")))],
     send(DEPLOY, DEV, PROD), EXPLICIT,
     "denied: node/mi-dev (explicit: denied by deny:NoDev); "
     "allowed by allow:Statement[0] for document/deploy, node/mi-prod"),
    ("explicit deny beats allow, deny given first", [("deny", text(st("Deny", "command:Send", "node/mi-dev"))),
                                                     ("allow", ALLOW_ALL)],
     send(DEV), EXPLICIT, "denied: node/mi-dev (explicit: denied by deny:Statement[0])"),
    ("explicit deny outranks implicit in the whole", [("p", text(st("Allow", "*", "document/*"),
                                                                 st("Deny", "*", "node/mi-dev", sid="D")))],
     send(DEPLOY, BARE, DEV), EXPLICIT,
     f"denied: node/mi-bare {IMP}, node/mi-dev (explicit: denied by p:D); "
     "allowed by p:Statement[0] for document/deploy"),
    ("the first allow decides", [("a", text(st("Allow", "command:Send", "node/*"))), ("b", ALLOW_ALL)],
     send(DEPLOY, DEV), ALLOWED,
     "allowed by b:Statement[0] for document/deploy; allowed by a:Statement[0] for node/mi-dev"),
    ("the built-in administrator", [(ADMINISTRATOR_ACCESS_NAME, None)], send(DEPLOY, BARE, action=Action.AUDIT_READ),
     ALLOWED, "allowed by AdministratorAccess:Statement[0] for document/deploy, node/mi-bare"),
    # -- actions: IAM's wildcards, case-insensitive ---------------------------------------------------
    ("action service wildcard", [("p", text(st("Allow", "command:*", "*")))], send(DEPLOY), ALLOWED,
     "allowed by p:Statement[0] for document/deploy"),
    ("action case-insensitive", [("p", text(st("Allow", "COMMAND:send", "*")))], send(DEPLOY), ALLOWED,
     "allowed by p:Statement[0] for document/deploy"),
    ("action prefix wildcard, matching", [("p", text(st("Allow", "document:Get*", "*")))],
     send(DEPLOY, action=Action.DOCUMENT_GET), ALLOWED, "allowed by p:Statement[0] for document/deploy"),
    ("action prefix wildcard, not matching", [("p", text(st("Allow", "document:Get*", "*")))],
     send(DEPLOY, action=Action.DOCUMENT_LIST), IMPLICIT,
     "denied: document/deploy (implicit: no statement allows document:List on it)"),
    ("action ? and service wildcard", [("p", text(st("Allow", "*:?et", "*")))],
     send(ANY, action=Action.POLICY_GET), ALLOWED, "allowed by p:Statement[0] for *"),
    ("action list", [("p", text(st("Allow", ["node:Tag", "command:Send"], "*")))], send(DEV), ALLOWED,
     "allowed by p:Statement[0] for node/mi-dev"),
    # -- resources: case-sensitive, `*` crosses `/`, aliases ------------------------------------------------------
    ("resource wildcard", [("p", text(st("Allow", "*", "document/dep*")))], send(DEPLOY), ALLOWED,
     "allowed by p:Statement[0] for document/deploy"),
    ("resource case-sensitive", [("p", text(st("Allow", "*", "document/Dep*")))], send(DEPLOY), IMPLICIT,
     f"denied: document/deploy {IMP}"),
    ("resource ?", [("p", text(st("Allow", "*", "node/mi-?ev")))], send(DEV, BARE), IMPLICIT,
     f"denied: node/mi-bare {IMP}; allowed by p:Statement[0] for node/mi-dev"),
    ("resource * crosses /", [("p", text(st("Allow", "*", "document/*")))], send(ResourceRef.document("team/x")),
     ALLOWED, "allowed by p:Statement[0] for document/team/x"),
    ("resource type must match", [("p", text(st("Allow", "*", "node/*")))], send(DEPLOY), IMPLICIT,
     f"denied: document/deploy {IMP}"),
    ("resource by alias", [("p", text(st("Allow", "*", "document/AWS-RunShellScript")))], send(SHELL), ALLOWED,
     "allowed by p:Statement[0] for document/shell"),
    ("a list action names *: node/* does not cover it", [("p", text(st("Allow", "node:List", "node/*")))],
     send(ANY, action=Action.NODE_LIST), IMPLICIT, "denied: * (implicit: no statement allows node:List on it)"),
    ("a list action names *: * covers it", [("p", text(st("Allow", "node:List", "*")))],
     send(ANY, action=Action.NODE_LIST), ALLOWED, "allowed by p:Statement[0] for *"),
    # -- NotAction, NotResource -------------------------------------------------------------------------------------
    ("NotAction excludes", [("p", text(st("Allow", "command:Send", "*", not_action=True)))], send(DEPLOY), IMPLICIT,
     f"denied: document/deploy {IMP}"),
    ("NotAction covers every other action", [("p", text(st("Allow", "command:Send", "*", not_action=True)))],
     send(ANY, action=Action.POLICY_CREATE), ALLOWED, "allowed by p:Statement[0] for *"),
    ("Deny NotAction", [("p", text(st("Deny", "document:Get", "*", not_action=True, sid="ReadOnly"),
                                   st("Allow", "*", "*")))],
     send(DEPLOY, action=Action.DOCUMENT_DELETE), EXPLICIT, "denied: document/deploy (explicit: denied by p:ReadOnly)"),
    ("Deny NotAction spares its action", [("p", text(st("Deny", "document:Get", "*", not_action=True),
                                                    st("Allow", "*", "*")))],
     send(DEPLOY, action=Action.DOCUMENT_GET), ALLOWED, "allowed by p:Statement[1] for document/deploy"),
    ("NotResource", [("p", text(st("Allow", "command:Send", "node/mi-dev", not_resource=True)))],
     send(DEPLOY, DEV, PROD), IMPLICIT, f"denied: node/mi-dev {IMP}; "
     "allowed by p:Statement[0] for document/deploy, node/mi-prod"),
    ("Deny NotResource", [("p", text(st("Deny", "*", ["document/*", "node/mi-prod"], not_resource=True, sid="Only"),
                                     st("Allow", "*", "*")))],
     send(DEPLOY, DEV, PROD), EXPLICIT,
     "denied: node/mi-dev (explicit: denied by p:Only); allowed by p:Statement[1] for document/deploy, node/mi-prod"),
    ("NotResource by alias", [("p", text(st("Deny", "*", "document/AWS-RunShellScript", not_resource=True),
                                         st("Allow", "*", "*")))],
     send(SHELL), ALLOWED, "allowed by p:Statement[1] for document/shell"),
    # -- conditions: each operator; values ORed, keys and operators ANDed; absent keys ---------------------------
    *[(f"{op} {value} on node:tag", [("p", text(st("Allow", "*", "node/*", {op: {"node:tag/Environment": value}})))],
       send(PROD, DEV, BARE), ALLOWED if allowed == "prod dev bare" else IMPLICIT, _nodes(allowed))
      for op, value, allowed in [
        ("StringEquals", "prod", "prod"),
        ("StringEquals", "Prod", ""),
        ("StringNotEquals", "prod", "dev bare"),  # absent: a negated operator holds
        ("StringEqualsIgnoreCase", "PROD", "prod"),
        ("StringNotEqualsIgnoreCase", "PROD", "dev bare"),
        ("StringLike", "pr*", "prod"),
        ("StringLike", "Pr*", ""),
        ("StringLike", "*", "prod dev"),  # absent: a positive operator does not
        ("StringNotLike", "p?od", "dev bare"),
        ("StringEqualsIfExists", "prod", "prod bare"),
        ("StringEqualsIgnoreCaseIfExists", "DEV", "dev bare"),
        ("StringLikeIfExists", "d*", "dev bare"),
        ("StringNotEqualsIfExists", "prod", "dev bare"),
        ("StringNotLikeIfExists", "*", "bare"),
        ("StringEquals", ["prod", "dev"], "prod dev"),  # values ORed
        ("StringNotEquals", ["prod", "dev"], "bare"),  # negated: none of them
    ]],
    ("tag keys are case-sensitive",
     [("p", text(st("Allow", "*", "*", {"StringEquals": {"node:tag/environment": "prod"}})))],
     send(PROD), IMPLICIT, f"denied: node/mi-prod {IMP}"),
    ("keys under one operator ANDed", [("p", text(st("Allow", "*", "*", {"StringEquals": {
        "node:tag/Environment": ["prod", "dev"], "node:tag/Team": "web"}})))], send(PROD, DEV), IMPLICIT,
     f"denied: node/mi-dev {IMP}; allowed by p:Statement[0] for node/mi-prod"),
    ("operators ANDed", [("p", text(st("Allow", "*", "*", {"StringLike": {"node:tag/Environment": "*"},
                                                              "StringNotEquals": {"node:tag/Team": "web"}})))],
     send(PROD, DEV, BARE), IMPLICIT, f"denied: node/mi-prod {IMP}, "
     f"node/mi-bare {IMP}; allowed by p:Statement[0] for node/mi-dev"),
    ("operator:name", [("p", text(st("Allow", "*", "*", {"StringEquals": {"operator:name": "alice"}})))],
     send(DEV, operator="bob"), IMPLICIT, f"denied: node/mi-dev {IMP}"),
    ("StringEqualsIgnoreCase folds both sides", [("p", text(st("Allow", "*", "*", {"StringEqualsIgnoreCase": {
        "operator:name": "alice"}})))], send(DEV, operator="ALICE"), ALLOWED,
     "allowed by p:Statement[0] for node/mi-dev"),
    ("operator:name matches", [("p", text(st("Allow", "*", "*", {"StringLike": {"operator:name": "al*"}})))],
     send(DEV), ALLOWED, "allowed by p:Statement[0] for node/mi-dev"),
    ("document:name reaches the nodes of a send", [("p", text(st("Allow", "*", "*", {"StringEquals": {
        "document:name": "deploy"}})))], send(SHELL, DEV), IMPLICIT,
     f"denied: document/shell {IMP}, "
     f"node/mi-dev {IMP}"),
    ("document:name, by alias", [("p", text(st("Allow", "*", "*", {"StringEquals": {
        "document:name": "AWS-RunShellScript"}})))], send(SHELL, DEV), ALLOWED,
     "allowed by p:Statement[0] for document/shell, node/mi-dev"),
    ("document:name negated: no name of the document may match", [("p", text(st("Allow", "*", "*", {
        "StringNotEquals": {"document:name": "AWS-RunShellScript"}})))], send(SHELL), IMPLICIT,
     f"denied: document/shell {IMP}"),
    ("document:name absent: positive false",
     [("p", text(st("Allow", "*", "*", {"StringLike": {"document:name": "*"}})))],
     send(DEV, action=Action.NODE_TAG), IMPLICIT, "denied: node/mi-dev (implicit: no statement allows node:Tag on it)"),
    ("document:name absent: negated true",
     [("p", text(st("Allow", "*", "*", {"StringNotLike": {"document:name": "x"}})))],
     send(DEV, action=Action.NODE_TAG), ALLOWED, "allowed by p:Statement[0] for node/mi-dev"),
    # -- addresses ---------------------------------------------------------------------------------------------------
    *[(f"IpAddress {cidr} from {ip}", [("p", text(st("Allow", "*", "*", {"IpAddress": {"request:source_ip": cidr}})))],
       send(DEV, ip=ip), ALLOWED if allowed else IMPLICIT,
       "allowed by p:Statement[0] for node/mi-dev" if allowed else
       f"denied: node/mi-dev {IMP}") for cidr, ip, allowed in [
        ("10.0.0.0/8", "10.1.2.3", True),
        ("10.0.0.0/8", "11.1.2.3", False),
        ("10.0.0.0/8", None, False),
        ("10.0.0.0/8", "::ffff:10.1.2.3", True),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7", "203.0.113.8", False),
        ("2001:db8::/32", "2001:db8:1::1", True),
        ("2001:db8::/32", "2001:db9::1", False),
        ("2001:db8::/32", "10.0.0.1", False),
        (["192.0.2.0/24", "2001:db8::/32"], "2001:db8::5", True),
    ]],
    ("IpAddressIfExists, no address", [("p", text(st("Allow", "*", "*", {"IpAddressIfExists": {
        "aws:SourceIp": "10.0.0.0/8"}})))], send(DEV), ALLOWED, "allowed by p:Statement[0] for node/mi-dev"),
    *[(f"Deny NotIpAddress from {ip}",
       [("p", text(st("Deny", "*", "*", {"NotIpAddress": {"request:source_ip": "10.0.0.0/8"}}, sid="Office"),
                   st("Allow", "*", "*")))],
       send(DEV, ip=ip), decision, expected) for ip, decision, expected in [
        ("10.9.9.9", ALLOWED, "allowed by p:Statement[1] for node/mi-dev"),
        ("192.168.1.1", EXPLICIT, "denied: node/mi-dev (explicit: denied by p:Office)"),
        (None, EXPLICIT, "denied: node/mi-dev (explicit: denied by p:Office)"),
    ]],
    # -- node:tag keys on other resources (the deliberate difference from IAM) ---------------------------------------
    ("an Allow skips a node:tag key on a document", [("p", text(st("Allow", "*", "*", ENV_PROD)))],
     send(DEPLOY, PROD, DEV), IMPLICIT, f"denied: node/mi-dev {IMP}; "
     "allowed by p:Statement[0] for document/deploy, node/mi-prod"),
    ("a Deny with a node:tag key denies the nodes, not the document",
     [("p", text(st("Deny", "command:Send", "*", ENV_PROD, sid="NoProd"), st("Allow", "*", "*")))],
     send(SHELL, PROD, DEV), EXPLICIT,
     "denied: node/mi-prod (explicit: denied by p:NoProd); allowed by p:Statement[1] for document/shell, node/mi-dev"),
    ("so a send to other nodes is allowed",
     [("p", text(st("Deny", "command:Send", "*", ENV_PROD), st("Allow", "*", "*")))],
     send(SHELL, DEV), ALLOWED, "allowed by p:Statement[1] for document/shell, node/mi-dev"),
    ("a negated node:tag Deny: untagged nodes, not the document",
     [("p", text(st("Deny", "*", "*", {"StringNotEqualsIfExists": {"node:tag/Team": "db"}}, sid="DbOnly"),
                 st("Deny", "*", "*", {"StringNotEquals": {"node:tag/Environment": ["prod", "dev"]}}, sid="Known"),
                 st("Allow", "*", "*")))],
     send(SHELL, DEV, BARE), EXPLICIT,
     "denied: node/mi-bare (explicit: denied by p:DbOnly); allowed by p:Statement[2] for document/shell, node/mi-dev"),
    ("a node:tag key beside another key still scopes a Deny to nodes",
     [("p", text(st("Deny", "*", "*", {"StringEquals": {"node:tag/Environment": "prod", "document:name": "shell"}}),
                 st("Allow", "*", "*")))],
     send(SHELL, PROD), EXPLICIT,
     "denied: node/mi-prod (explicit: denied by p:Statement[0]); allowed by p:Statement[1] for document/shell"),
]


def _policies(named: list[tuple[str, str | None]]) -> tuple[tuple[str, object], ...]:
    return tuple((name, ADMINISTRATOR_ACCESS if body is None else parse_policy(body)) for name, body in named)


@pytest.mark.parametrize(("policies", "request_", "decision", "explanation"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_decides_each_resource_and_names_the_statement(policies: list[tuple[str, str | None]], request_: Request,
                                                       decision: Decision, explanation: str) -> None:
    result = evaluate(_policies(policies), request_)  # type: ignore[arg-type]
    assert (result.decision, explain(result)) == (decision, explanation)
    assert result.allowed == (decision is ALLOWED)
    assert result.denied == tuple(r.resource for r in result.resources if r.decision is not ALLOWED)


LEAST_PRIVILEGE = [
    (send(SHELL, PROD), ALLOWED, "allowed by lp:Statement[0] for document/shell, node/mi-prod"),
    (send(SHELL, DEV), IMPLICIT, f"denied: node/mi-dev {IMP}; "
     "allowed by lp:Statement[0] for document/shell"),
    (send(DEPLOY, PROD), IMPLICIT, f"denied: document/deploy {IMP}; "
     "allowed by lp:Statement[0] for node/mi-prod"),
    (send(SHELL, PROD, DEV, BARE), IMPLICIT, f"denied: node/mi-dev {IMP}, "
     f"node/mi-bare {IMP}; allowed by lp:Statement[0] for "
     "document/shell, node/mi-prod"),
    (send(SHELL, PROD, action=Action.COMMAND_CANCEL), IMPLICIT, "denied: document/shell (implicit: no statement "
     "allows command:Cancel on it), node/mi-prod (implicit: no statement allows command:Cancel on it)"),
]


@pytest.mark.parametrize("fixture", ["ssm-least-privilege.json", "ssm-least-privilege.yaml"])
@pytest.mark.parametrize(("request_", "decision", "explanation"), LEAST_PRIVILEGE)
def test_ssm_least_privilege_example(fixture: str, request_: Request, decision: Decision, explanation: str) -> None:
    """Pasted from IAM or written in Outpost's words: the same decisions, the same deciding statement."""
    policy = parse_policy((POLICIES / fixture).read_text())
    result = evaluate((("lp", policy),), request_)
    assert (result.decision, explain(result)) == (decision, explanation)


def test_ssm_least_privilege_mixed_send_is_refused_naming_only_the_dev_node() -> None:
    policy = parse_policy((POLICIES / "ssm-least-privilege.json").read_bytes())
    assert evaluate((("lp", policy),), send(SHELL, PROD, DEV)).denied == ("node/mi-dev",)


MAPPED = frozenset(a for a in Action if a.service in ("command", "document", "node", "activation", "parameter"))


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_a_pasted_deny_of_ssm_star_blocks_every_mapped_action(action: Action) -> None:
    deny = parse_policy((POLICIES / "deny-ssm.json").read_text())
    result = evaluate((("admin", ADMINISTRATOR_ACCESS), ("no-ssm", deny)), send(DEV, action=action))
    expected = "denied: node/mi-dev (explicit: denied by no-ssm:NoSsm)" if action in MAPPED else \
        "allowed by admin:Statement[0] for node/mi-dev"
    assert explain(result) == expected
    assert len(MAPPED) == 19


@pytest.mark.parametrize(("build", "message"), [
    (lambda: send(), "request.resources: names no resource (a request on no particular one names '*')"),
    (lambda: send(DEV, ip="10.0.0.300"), "request.source_ip: '10.0.0.300' is not an IP address"),
    (lambda: ResourceRef("document/x", (), (("node:tag/Environment", "prod"),)),
     "document/x.context: a document has no key 'node:tag/Environment'"),
    (lambda: ResourceRef("node/x", (), (("document:name", "x"),)), "node/x.context: a node has no key 'document:name'"),
], ids=["no resources", "a bad address", "a tag on a document", "a document name on a node"])
def test_a_malformed_request_is_refused(build: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        build()  # type: ignore[operator]
    assert str(info.value) == message
