"""Operators and policies: an operator reaching past its policy (another environment's nodes, more
rights, a built-in's name, an inline document), policies that would allow more than they say, and the
simulator's word against the send it simulates."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security.rig import DEV, PROD, SHELL, Rig, now, refused
from tests.support.cluster import wait_for

PROD_ONLY = """\
Statement:
  - Sid: ShellOnProd
    Effect: Allow
    Action: command:Send
    Resource: [document/Outpost-RunShellScript, node/*]
    Condition: {StringEquals: {node:tag/Environment: prod}}
"""


@pytest.fixture(scope="module")
def prod_only(rig: Rig) -> Path:
    """Operator sec-prod: may send the shell document to nodes tagged Environment=prod, nothing else."""
    rig.policy("sec-prod-shell", PROD_ONLY)
    return rig.operator("sec-prod", "sec-prod-shell")


def test_an_operator_with_no_policy_sends_a_command(rig: Rig) -> None:
    config, since = rig.operator("sec-nopolicy"), now()
    line = rig.send_refused(config, rig.marker("nopolicy"), "--targets", PROD)
    assert "operator sec-nopolicy may not command:Send" in line
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-nopolicy", outcome="AccessDenied")


def test_control_the_prod_only_operator_does_reach_prod(rig: Rig, prod_only: Path) -> None:
    """Not an attack: what the attacks below are refused is refused by the policy, not for any other
    reason; the same operator's send to prod runs."""
    marker = rig.marker("prod-control")
    out = rig.ok("command", "send", "--document", SHELL, "--targets", PROD, "--parameters",
                 f"commands=touch {marker}", config=prod_only)
    assert "may not" not in out
    wait_for(marker.exists, 30, "the prod-only operator's command to run on prod")
    assert marker.exists()


@pytest.mark.parametrize("targets", [
    pytest.param(lambda rig: ["--targets", DEV], id="by-tag"),
    pytest.param(lambda rig: ["--targets", "Key=tag:Environment,Values=prod,dev"], id="hidden-among-prod"),
    pytest.param(lambda rig: ["--targets", f"Key=InstanceIds,Values={rig.node('prod')},{rig.node('dev')}"],
                 id="by-instance-id"),
    pytest.param(lambda rig: ["--targets", "Key=resource-groups:Name,Values=sec-prod-and-dev"], id="by-group"),
    pytest.param(lambda rig: ["--all"], id="all-nodes"),
])
def test_a_prod_only_operator_reaches_a_dev_node(rig: Rig, prod_only: Path,
                                                 targets: Callable[[Rig], list[str]]) -> None:
    """A send reaching one node the operator may not touch is refused whole, naming the nodes denied
    (never the allowed prod node), however the dev node is reached."""
    if "sec-prod-and-dev" not in {g["name"] for g in rig.json("group", "list")}:
        rig.ok("group", "create", "sec-prod-and-dev", "--targets", "Key=tag:Environment,Values=prod,dev")
    since, dev, prod = now(), rig.node("dev"), rig.node("prod")
    line = rig.send_refused(prod_only, rig.marker("prod-only-reaching-dev"), *targets(rig))
    denied = line.split(" (")[0]  # "operator sec-prod may not command:Send on node/A, node/B" (then why)
    assert denied.startswith("error: operator sec-prod may not command:Send on ") and f"node/{dev}" in denied
    assert prod not in denied, "the allowed node is named as denied"
    record = rig.audited("command:Send", "the refusal on its nodes", since, actor="operator/sec-prod",
                         outcome="AccessDenied")
    assert f"node/{dev}" in record["detail"]


def test_an_explicit_deny_beats_administrator_access(rig: Rig) -> None:
    rig.policy("sec-no-send", "Statement:\n  - {Sid: NoSends, Effect: Deny, Action: 'command:*', Resource: '*'}\n")
    config, since = rig.operator("sec-denied-admin", "AdministratorAccess", "sec-no-send"), now()
    line = rig.send_refused(config, rig.marker("deny-wins"), "--targets", PROD)
    assert "explicit: denied by sec-no-send:NoSends" in line
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-denied-admin", outcome="AccessDenied")


def test_a_source_address_condition_refuses_a_caller_elsewhere(rig: Rig) -> None:
    """An administrator allowed only from 10.0.0.0/8 calls from 127.0.0.1."""
    rig.policy("sec-from-vpn", "Statement:\n  - Effect: Allow\n    Action: '*'\n    Resource: '*'\n"
               "    Condition: {IpAddress: {request:source_ip: 10.0.0.0/8}}\n")
    config, since = rig.operator("sec-vpn-only", "sec-from-vpn"), now()
    line = rig.send_refused(config, rig.marker("wrong-address"), "--targets", PROD)
    assert "operator sec-vpn-only may not command:Send" in line and "implicit" in line
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-vpn-only", outcome="AccessDenied",
                sourceIp="127.0.0.1")


def test_a_revoked_operator_sends_and_renews(rig: Rig) -> None:
    """Revoked, an administrator's certificate does nothing, and it cannot renew itself back."""
    config = rig.operator("sec-revoked", "AdministratorAccess")
    rig.ok("operator", "revoke", "sec-revoked")
    since = now()
    line = rig.send_refused(config, rig.marker("revoked"), "--targets", PROD)
    assert "revoked" in line
    refused(rig.cli("operator", "renew", config=config), "revoked")
    for action in ("command:Send", "operator:Renew"):
        rig.audited(action, "the refusal", since, actor="operator/sec-revoked", outcome="AccessDenied")
    shown = rig.json("operator", "show", "sec-revoked")
    assert len(shown["certificates"]) == 1 and shown["certificates"][0]["revoked"], "a certificate was issued"


@dataclass(frozen=True)
class Escalation:
    argv: Callable[[Rig], list[str]]
    denied: Callable[[Rig], str]  # what the line says the operator may not do
    state: Callable[[Rig], object]  # what must be the same before and after


ESCALATIONS = {
    "create-an-administrator": Escalation(
        lambda rig: ["operator", "create", "sec-evil", "--policy", "AdministratorAccess", "--out",
                     str(rig.bundle("sec-evil"))],
        lambda rig: "operator:Create on operator/sec-evil",
        lambda rig: sorted(o["name"] for o in rig.json("operator", "list"))),
    "attach-administrator-access-to-itself": Escalation(
        lambda rig: ["policy", "attach", "AdministratorAccess", "--operator", "sec-prod"],
        lambda rig: "policy:Attach on policy/AdministratorAccess",
        lambda rig: rig.json("operator", "show", "sec-prod")["policies"]),
    "write-a-policy-of-its-own": Escalation(
        lambda rig: ["policy", "create", "sec-mine", "--file",
                     str(rig.write("mine.yaml", "Statement:\n  - {Effect: Allow, Action: '*', Resource: '*'}\n"))],
        lambda rig: "policy:Create on policy/sec-mine",
        lambda rig: sorted(p["name"] for p in rig.json("policy", "list"))),
    "renew-the-administrator-s-certificate": Escalation(
        lambda rig: ["operator", "renew", "admin", "--out", str(rig.bundle("stolen-admin"))],
        lambda rig: "operator:Renew on operator/admin",
        lambda rig: (len(rig.json("operator", "show", "admin")["certificates"]),
                     sorted(p.name for p in rig.bundle("stolen-admin").glob("*")))),
    "retag-a-dev-node-as-prod": Escalation(
        lambda rig: ["node", "tag", rig.node("dev"), "Environment=prod"],
        lambda rig: f"node:Tag on node/{rig.node('dev')}",
        lambda rig: [n["tags"] for n in rig.json("node", "list") if n["node_id"] == rig.node("dev")]),
    "enrol-a-node-of-its-own": Escalation(
        lambda rig: ["activation", "create", "--tags", "Environment=prod"],
        lambda rig: "activation:Create",
        lambda rig: len(rig.json("activation", "list"))),
}


@pytest.mark.parametrize("name", list(ESCALATIONS))
def test_a_prod_only_operator_escalates(rig: Rig, prod_only: Path, name: str) -> None:
    """The prod-only operator reaches for more than its policy: each refused by name, nothing done."""
    attack = ESCALATIONS[name]
    before, since = attack.state(rig), now()
    line = refused(rig.cli(*attack.argv(rig), config=prod_only), f"operator sec-prod may not {attack.denied(rig)}")
    action = attack.denied(rig).split(" ")[0]
    assert rig.audited(action, "the refusal", since, actor="operator/sec-prod", outcome="AccessDenied")["detail"] \
        == line.removeprefix("error: ")
    assert attack.state(rig) == before


def test_an_inline_document_poses_as_the_allowed_built_in(rig: Rig, prod_only: Path) -> None:
    """A playbook's play is an inline document: it is document/(inline) whatever it calls itself, so
    an operator allowed only the built-in shell document cannot send its own script under that name."""
    marker = rig.marker("inline")
    book = rig.write("inline.yml", "- name: Outpost-RunShellScript\n  targets: {tags: {Environment: prod}}\n"
                                   f"  tasks:\n    - {{name: t, shell: 'touch {marker}'}}\n")
    before, since = rig.command_ids(), now()
    run = rig.cli("playbook", "apply", str(book), config=prod_only)
    refused(run, "operator sec-prod may not command:Send on document/(inline)")
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-prod", outcome="AccessDenied",
                resource="document/(inline)")
    assert rig.command_ids() == before and not marker.exists()


@pytest.mark.parametrize("name", ["AWS-RunShellScript", "aws-runshellscript", "Outpost-Shell"])
def test_a_document_named_like_a_built_in(rig: Rig, name: str) -> None:
    """A policy pasted from IAM allows document/AWS-RunShellScript (the built-in shell document): an
    operator that may create documents must not put its own script under a built-in's name."""
    author = f"sec-author-{uuid.uuid4().hex[:8]}"
    rig.policy(author, "Statement:\n  - {Effect: Allow, Action: 'document:*', Resource: '*'}\n")
    config = rig.operator(author, author)
    path = rig.write(f"posing-{name}.yaml", 'schemaVersion: "2.2"\nmainSteps:\n  - {action: aws:runShellScript, '
                     f"name: t, inputs: {{runCommand: ['touch {rig.marker('posing')}']}}}}\n")
    since = now()
    refused(rig.cli("document", "create", name, "--file", str(path), config=config), "reserved for built-in")
    rig.audited("document:Create", "the failure", since, actor=f"operator/{author}", outcome="Failed")
    assert name not in {d["name"] for d in rig.json("document", "list")}


@pytest.mark.parametrize(("statement", "named"), [
    pytest.param("{Effect: Deny, Action: 'comand:Send', Resource: '*'}", "comand:Send", id="typo-in-a-deny"),
    pytest.param("{Effect: Deny, NotAction: 'command:Sned', Resource: '*'}", "command:Sned",
                 id="typo-in-a-deny-notaction"),
    pytest.param("{Effect: Allow, Action: 's3:GetObject', Resource: '*'}", "s3:GetObject", id="foreign-action"),
    pytest.param("{Effect: Allow, Principal: '*', Action: '*', Resource: '*'}", "Principal", id="principal"),
    pytest.param("{Effect: Deny, Action: '*', Resource: '*', Condition: {StringEquals: {aws:username: eve}}}",
                 "aws:username", id="unknown-condition-key"),
])
def test_a_policy_that_would_silently_allow_is_refused(rig: Rig, statement: str, named: str) -> None:
    """A policy whose Deny would match nothing (a typo), or holding what Outpost cannot enforce, is
    refused at create in one line naming it, never stored half understood."""
    name = f"sec-bad-{uuid.uuid4().hex[:8]}"
    path = rig.write(f"{name}.yaml", f"Statement:\n  - {statement}\n")
    since = now()
    refused(rig.cli("policy", "create", name, "--file", str(path)), named)
    rig.audited("policy:Create", "the failure", since, resource=f"policy/{name}", outcome="Failed")
    assert name not in {p["name"] for p in rig.json("policy", "list")}


def test_policy_simulate_names_the_deciding_statement_and_runs_nothing(rig: Rig) -> None:
    rig.policy("sec-no-prod", "Statement:\n  - Sid: NoShellOnProd\n    Effect: Deny\n    Action: command:Send\n"
               "    Resource: node/*\n    Condition: {StringEquals: {node:tag/Environment: prod}}\n")
    config = rig.operator("sec-sim", "AdministratorAccess", "sec-no-prod")
    before, since = rig.command_ids(), now()
    run = rig.cli("policy", "simulate", "--operator", "sec-sim", "--action", "command:Send", "--document", SHELL,
                  "--targets", PROD, "--output", "json")
    assert run.rc == 1 and run.stderr == "", run
    decided = json.loads(run.stdout)
    assert decided["decision"] == "explicit deny"
    assert {"resource": f"node/{rig.node('prod')}", "decision": "explicit deny",
            "statement": "sec-no-prod:NoShellOnProd"} in decided["resources"]
    rig.audited("policy:Simulate", "the simulation", since, actor="operator/admin", outcome="Allowed")
    assert rig.command_ids() == before
    # and the send itself is refused by the very statement the simulator named
    line = rig.send_refused(config, rig.marker("sim"), "--targets", PROD)
    assert "explicit: denied by sec-no-prod:NoShellOnProd" in line


def test_a_deny_on_one_activation_keeps_it(rig: Rig) -> None:
    """`activation/ID` is a documented resource: an operator allowed every activation action except,
    by an explicit Deny, deleting one activation must not delete that one."""
    keep = rig.activation()
    rig.policy("sec-keep-activation", "Statement:\n  - {Effect: Allow, Action: 'activation:*', Resource: '*'}\n"
               "  - {Sid: KeepIt, Effect: Deny, Action: 'activation:Delete', "
               f"Resource: 'activation/{keep.activation_id}'}}\n")
    config, since = rig.operator("sec-activations", "sec-keep-activation"), now()
    run = rig.cli("activation", "delete", keep.activation_id, config=config)
    assert keep.activation_id in {a["activation_id"] for a in rig.json("activation", "list")}, \
        "SECURITY BUG: a Deny on activation/ID does not stop that activation's deletion"
    refused(run, "explicit: denied by sec-keep-activation:KeepIt")
    rig.audited("activation:Delete", "the refusal", since, actor="operator/sec-activations", outcome="AccessDenied")
