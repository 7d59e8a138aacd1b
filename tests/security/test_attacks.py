"""A hostile reviewer's attacks on Outpost (docs/security.md), each against the real controller and
agents of tests/security/rig.py. Every attack asserts three things:

1. it is refused, in one clear line and without a traceback (the CLI's ``error:`` line, a gRPC
   status's details, a failed step's one line of stderr, ``controller serve``'s exit);
2. it is on the audit trail where Outpost audits that kind of event (``outpost audit export``); where
   it does not (a TLS handshake, a message the transport refuses, a controller that does not start),
   what is observable instead: the log line, the status, the missing record;
3. nothing ran and nothing was stored: no command, no file a step would have made, no node, no
   operator, policy, document or activation, no forged byte in the database.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.csr import make_key_and_csr
from agent.enroll import enroll
from agent.facts import gather_facts
from agent.state import StateDir
from controller.dev.cluster import OUTPOST, ROOT
from controller.model import AuditEntry, AuditOutcome, AuditQuery
from controller.server.call_audit import CallAudit, Caller
from controller.server.enrolment_service import BURST
from controller.store import Store
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail
from controller.trust.pki import CertificateAuthority, create_ca
from controller.trust.policy_eval import ResourceRef
from controller.trust.sealing import MASTER_KEY_FILE
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.facts import Facts
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire import convert as wire
from tests.security.rig import (
    DEV,
    PROD,
    SHELL,
    Credentials,
    FromAddress,
    Rig,
    connect_refusal,
    connected,
    enrolment_channel,
    mtls_channel,
    refused,
    rpc_error,
)
from tests.support.cluster import Activation, free_port_pair, wait_for
from tests.support.databases import BACKENDS, empty_database
from tests.support.keys import fixed_sealer


def _now() -> str:
    """This moment for ``audit export --since``: the records an attack makes are from here on."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _send(rig: Rig, config: Path, marker: Path, *targets: str) -> str:
    """An operator's attempt to make a node ``touch marker``, refused; its error line."""
    before = rig.command_ids()
    run = rig.cli("command", "send", "--document", SHELL, *targets, "--parameters", f"commands=touch {marker}",
                  config=config)
    line = refused(run)
    assert rig.command_ids() == before, "a refused send stored a command"
    assert not marker.exists(), "a refused send ran"
    return line


# ============================================================================ operators and policies

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
    config, since = rig.operator("sec-nopolicy"), _now()
    line = _send(rig, config, rig.marker("nopolicy"), "--targets", PROD)
    assert "operator sec-nopolicy may not command:Send" in line
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-nopolicy", outcome="AccessDenied")


def test_control_the_prod_only_operator_does_reach_prod(rig: Rig, prod_only: Path) -> None:
    """Not an attack: what the attacks below are refused is refused by the policy, not for any other
    reason; the same operator's send to prod runs."""
    marker = rig.marker("prod-control")
    rig.ok("command", "send", "--document", SHELL, "--targets", PROD, "--parameters", f"commands=touch {marker}",
           config=prod_only)
    wait_for(marker.exists, 30, "the prod-only operator's command to run on prod")


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
    since, dev, prod = _now(), rig.node("dev"), rig.node("prod")
    line = _send(rig, prod_only, rig.marker("prod-only-reaching-dev"), *targets(rig))
    denied = line.split(" (")[0]  # "operator sec-prod may not command:Send on node/A, node/B" (then why)
    assert denied.startswith("error: operator sec-prod may not command:Send on ") and f"node/{dev}" in denied
    assert prod not in denied, "the allowed node is named as denied"
    record = rig.audited("command:Send", "the refusal on its nodes", since, actor="operator/sec-prod",
                         outcome="AccessDenied")
    assert f"node/{dev}" in record["detail"]


def test_an_explicit_deny_beats_administrator_access(rig: Rig) -> None:
    rig.policy("sec-no-send", "Statement:\n  - {Sid: NoSends, Effect: Deny, Action: 'command:*', Resource: '*'}\n")
    config, since = rig.operator("sec-denied-admin", "AdministratorAccess", "sec-no-send"), _now()
    line = _send(rig, config, rig.marker("deny-wins"), "--targets", PROD)
    assert "explicit: denied by sec-no-send:NoSends" in line
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-denied-admin", outcome="AccessDenied")


def test_a_source_address_condition_refuses_a_caller_elsewhere(rig: Rig) -> None:
    """An administrator allowed only from 10.0.0.0/8 calls from 127.0.0.1."""
    rig.policy("sec-from-vpn", "Statement:\n  - Effect: Allow\n    Action: '*'\n    Resource: '*'\n"
               "    Condition: {IpAddress: {request:source_ip: 10.0.0.0/8}}\n")
    config, since = rig.operator("sec-vpn-only", "sec-from-vpn"), _now()
    line = _send(rig, config, rig.marker("wrong-address"), "--targets", PROD)
    assert "operator sec-vpn-only may not command:Send" in line and "implicit" in line
    rig.audited("command:Send", "the refusal", since, actor="operator/sec-vpn-only", outcome="AccessDenied",
                sourceIp="127.0.0.1")


def test_a_revoked_operator_sends_and_renews(rig: Rig) -> None:
    """Revoked, an administrator's certificate does nothing, and it cannot renew itself back."""
    config = rig.operator("sec-revoked", "AdministratorAccess")
    rig.ok("operator", "revoke", "sec-revoked")
    since = _now()
    line = _send(rig, config, rig.marker("revoked"), "--targets", PROD)
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
    before, since = attack.state(rig), _now()
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
    before, since = rig.command_ids(), _now()
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
    since = _now()
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
    since = _now()
    refused(rig.cli("policy", "create", name, "--file", str(path)), named)
    rig.audited("policy:Create", "the failure", since, resource=f"policy/{name}", outcome="Failed")
    assert name not in {p["name"] for p in rig.json("policy", "list")}


def test_policy_simulate_names_the_deciding_statement_and_runs_nothing(rig: Rig) -> None:
    rig.policy("sec-no-prod", "Statement:\n  - Sid: NoShellOnProd\n    Effect: Deny\n    Action: command:Send\n"
               "    Resource: node/*\n    Condition: {StringEquals: {node:tag/Environment: prod}}\n")
    config = rig.operator("sec-sim", "AdministratorAccess", "sec-no-prod")
    before, since = rig.command_ids(), _now()
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
    assert "explicit: denied by sec-no-prod:NoShellOnProd" in _send(rig, config, rig.marker("sim"), "--targets", PROD)


def test_a_deny_on_one_activation_keeps_it(rig: Rig) -> None:
    """`activation/ID` is a documented resource: an operator allowed every activation action except,
    by an explicit Deny, deleting one activation must not delete that one."""
    keep = rig.activation()
    rig.policy("sec-keep-activation", "Statement:\n  - {Effect: Allow, Action: 'activation:*', Resource: '*'}\n"
               "  - {Sid: KeepIt, Effect: Deny, Action: 'activation:Delete', "
               f"Resource: 'activation/{keep.activation_id}'}}\n")
    config, since = rig.operator("sec-activations", "sec-keep-activation"), _now()
    run = rig.cli("activation", "delete", keep.activation_id, config=config)
    assert keep.activation_id in {a["activation_id"] for a in rig.json("activation", "list")}, \
        "SECURITY BUG: a Deny on activation/ID does not stop that activation's deletion"
    refused(run, "explicit: denied by sec-keep-activation:KeepIt")
    rig.audited("activation:Delete", "the refusal", since, actor="operator/sec-activations", outcome="AccessDenied")


# ============================================================================ identities


def test_a_node_certificate_on_the_admin_api(rig: Rig) -> None:
    """A node's own certificate and key in a CLI configuration that says it is the administrator."""
    node = rig.spare_node("sec-node-as-operator")
    state = rig.c.state_dir("sec-node-as-operator")
    config = rig.write("node-as-admin.yaml", f"controller: {rig.c.address}\nca: {rig.c.controller_dir / 'ca.crt'}\n"
                       f"certificate: {state / 'node.crt'}\nkey: {state / 'node.key'}\noperator: admin\n")
    since = _now()
    line = _send(rig, config, rig.marker("node-as-operator"), "--targets", f"Key=InstanceIds,Values={node}")
    assert f"AdminService.SendCommand is not allowed for spiffe://outpost/node/{node}" in line
    rig.audited("command:Send", "the refusal", since, actor=f"node/{node}", outcome="AccessDenied")


def test_an_operator_certificate_connects_as_an_agent(rig: Rig) -> None:
    rig.operator("sec-as-agent")
    before, since = rig.node_ids(), _now()
    err = connect_refusal(rig.c, Credentials.of_operator(rig.bundle("sec-as-agent"), "sec-as-agent"))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED and "AgentService.Connect" in err.details()
    assert "\n" not in err.details()
    rig.audited("node:Connect", "the refusal", since, actor="operator/sec-as-agent", outcome="AccessDenied")
    assert rig.node_ids() == before


def test_a_client_certificate_from_a_foreign_ca(rig: Rig) -> None:
    """A certificate for operator admin, signed by a CA the controller has never seen."""
    forged = CertificateAuthority(create_ca("Rogue CA")).issue_operator("admin")
    key, cert = rig.write("rogue/admin.key", forged.key_pem.decode()), rig.write("rogue/admin.crt",
                                                                                 forged.cert_pem.decode())
    config = rig.write("rogue/config.yaml", f"controller: {rig.c.address}\nca: {rig.c.controller_dir / 'ca.crt'}\n"
                       f"certificate: {cert}\nkey: {key}\noperator: admin\n")
    def handshakes_refused() -> int:
        return (rig.root / "controller.log").read_text(errors="replace").count("CERTIFICATE_VERIFY_FAILED")
    before, refusals, since = len(rig.json("activation", "list")), handshakes_refused(), _now()
    line = refused(rig.cli("activation", "create", "--tags", "Environment=prod", config=config),
                   f"TLS handshake with {rig.c.address} failed", "issued by another CA")
    assert "Rogue CA" in line
    # not audited (nothing gets past the handshake): the controller logs the refused handshake
    wait_for(lambda: handshakes_refused() > refusals, 10, "the controller to log the refused handshake")
    assert len(rig.json("activation", "list")) == before
    assert not rig.audit("activation:Create", since=since)


def test_a_deregistered_node_reconnects(rig: Rig) -> None:
    node = rig.spare_node("sec-deregistered")
    said = rig.ok("node", "deregister", node)
    serial = said.partition("certificate(s) ")[2].partition(" revoked")[0]
    assert serial, said
    since = _now()
    err = connect_refusal(rig.c, Credentials.of_node(rig.c.state_dir("sec-deregistered")))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED and "revoked" in err.details(), err
    assert serial in err.details() and "\n" not in err.details()
    rig.audited("node:Connect", "the refusal", since, actor=f"node/{node}", outcome="AccessDenied")
    assert node not in rig.node_ids()


# ============================================================================ enrolment


@dataclass(frozen=True)
class BadEnrolment:
    activation_id: Callable[[Rig, str], str]  # from the genuine activation's id
    code: Callable[[str], str]  # from the genuine code
    prepare: Callable[[Rig, Activation], object]  # what happens to the activation first
    says: str
    reason: str


def _nothing(rig: Rig, act: Activation) -> None:
    pass


def _use_up(rig: Rig, act: Activation) -> None:
    assert rig.enrol(f"sec-first-{act.activation_id}", act).rc == 0


ENROLMENTS = {
    "wrong-code": BadEnrolment(lambda rig, aid: aid, lambda code: "x" * len(code), _nothing,
                               "wrong activation code for activation {aid}", "wrong_code"),
    "unknown-id": BadEnrolment(lambda rig, aid: str(uuid.UUID(int=uuid.UUID(aid).int ^ 1)), lambda code: code,
                               _nothing, "does not exist", "unknown_activation"),
    "oversized-id": BadEnrolment(lambda rig, aid: "a" * 5000, lambda code: code, _nothing,
                                 "activation id: not an activation id (5000 characters)", "malformed_activation"),
    "path-as-id": BadEnrolment(lambda rig, aid: "../../etc/passwd", lambda code: code, _nothing,
                               "activation id: not an activation id (16 characters)", "malformed_activation"),
    "oversized-code": BadEnrolment(lambda rig, aid: aid, lambda code: code * 20, _nothing,
                                   "activation code: at most 256 characters", "malformed_code"),
    "deleted-activation": BadEnrolment(lambda rig, aid: aid, lambda code: code,
                                       lambda rig, act: rig.ok("activation", "delete", act.activation_id),
                                       "does not exist", "unknown_activation"),
    "past-its-limit": BadEnrolment(lambda rig, aid: aid, lambda code: code, _use_up,
                                   "has reached its registration limit", "exhausted"),
}


@pytest.mark.parametrize("name", list(ENROLMENTS))
def test_an_enrolment_is_refused(rig: Rig, name: str) -> None:
    """Each attempt comes from an address of its own (so the per-address limit is not what refuses)."""
    attack = ENROLMENTS[name]
    act = rig.activation()
    attack.prepare(rig, act)
    aid = attack.activation_id(rig, act.activation_id)
    before, since = rig.node_ids(), _now()
    with FromAddress(rig.c.port + 1) as hop:
        run = rig.enrol(f"sec-enrol-{name}", act, activation_id=aid, code=attack.code(act.code), endpoint=hop.address)
    refused(run, "enrolment refused: ", attack.says.format(aid=aid))
    shown = aid if len(aid) <= 64 and "/" not in aid else f"(not an activation id: {len(aid)} characters)"
    rig.audited("node:Enrol", "the refusal", since, outcome="AccessDenied", sourceIp=hop.source,
                detail=attack.reason, resource=f"activation/{shown}", actor="anonymous")
    assert rig.node_ids() == before
    assert not (rig.c.state_dir(f"sec-enrol-{name}") / "node.crt").exists()
    if shown != aid:
        assert aid not in (rig.root / "controller.log").read_text(errors="replace")


def test_an_expired_activation(rig: Rig) -> None:
    act = rig.activation(expires="1s")
    time.sleep(1.1)
    before, since = rig.node_ids(), _now()
    with FromAddress(rig.c.port + 1) as hop:
        refused(rig.enrol("sec-expired", act, endpoint=hop.address), f"activation {act.activation_id} has expired")
    rig.audited("node:Enrol", "the refusal", since, outcome="AccessDenied", sourceIp=hop.source, detail="expired")
    assert rig.node_ids() == before


def _enrol_answer(stub: pbg.AgentServiceStub, request: pb.EnrollRequest) -> grpc.RpcError | pb.EnrollResponse:
    try:
        return stub.Enroll(request, timeout=10)
    except grpc.RpcError as exc:
        return exc


def test_an_address_guessing_activations_is_cut_off(rig: Rig) -> None:
    """After BURST failures an address is refused before anything is read, even with a good code;
    the limit is the address's: the same activation still enrols from another.

    Refused attempts spend nothing and a token comes back each second, so a try proves the refusal
    only if it ended within (failures - BURST + 1) s of its first guess; a slower one (a loaded
    machine) is made again from another address, with another activation."""
    since = _now()
    for _ in range(3):
        act = rig.activation()
        good = pb.EnrollRequest(activation_id=act.activation_id, activation_code=act.code,
                                csr_pem=make_key_and_csr()[1])
        with FromAddress(rig.c.port + 1) as hop, enrolment_channel(rig.c, hop.address) as channel:
            stub = pbg.AgentServiceStub(channel)
            began, codes = time.monotonic(), []
            while grpc.StatusCode.RESOURCE_EXHAUSTED not in codes and len(codes) < 2 * BURST:
                guess = pb.EnrollRequest(activation_id=str(uuid.uuid4()), activation_code="guess")
                codes.append(_enrol_answer(stub, guess).code())  # type: ignore[union-attr]
            answer = _enrol_answer(stub, good)
            took = time.monotonic() - began
        failed = codes.count(grpc.StatusCode.PERMISSION_DENIED)
        if took < failed - BURST + 1:
            break
    else:
        pytest.fail("three tries in a row were too slow to prove anything")
    assert failed >= BURST and codes == [grpc.StatusCode.PERMISSION_DENIED] * failed + [
        grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert isinstance(answer, grpc.RpcError) and answer.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, answer
    assert answer.details().startswith(f"too many failed enrolment attempts from {hop.source}; try again in ")
    assert "\n" not in answer.details()
    assert f"failed enrolment attempts from {hop.source} past {BURST}" in (rig.root / "controller.log").read_text()

    def records() -> list[dict]:
        return [r for r in rig.audit("node:Enrol", since=since) if r["sourceIp"] == hop.source]
    wait_for(lambda: len(records()) >= failed, 10, "the failures on the audit trail")
    time.sleep(0.3)  # a record of a refusal by rate would be written with the trail's next batch
    assert len(records()) == failed and {r["outcome"] for r in records()} == {"AccessDenied"}  # by rate: counted
    (row,) = [a for a in rig.json("activation", "list") if a["activation_id"] == act.activation_id]
    assert row["registrations"].startswith("0/"), row  # the good code enrolled nothing
    assert rig.enrol("sec-cut-off-elsewhere", act).rc == 0  # from 127.0.0.1 it still enrols


# ============================================================================ what a node says of itself

FORGED_HOSTNAME = ("sec-forged\n1999-12-31 23:59:59,999 ERROR controller.access: operator admin revoked"
                   "\x1b]0;forged-title\x07\x1b[2J\u202egnp.exe\u2028")
KEPT_HOSTNAME = ("sec-forged1999-12-31 23:59:59,999 ERROR controller.access: operator admin revoked]0;forged-title"
                 "[2Jgnp.exe")


def _forged_facts() -> Facts:
    return replace(gather_facts(()), hostname=FORGED_HOSTNAME, os_name="o" * 100_000, agent_version="1.0\r\nx")


def _enrolled_forged(rig: Rig) -> str:
    act = rig.activation()
    identity = enroll(controller=rig.c.address, endpoint=f"127.0.0.1:{rig.c.port + 1}",
                      activation_id=act.activation_id, activation_code=act.code, ca_fingerprint=act.ca_fingerprint,
                      state=StateDir(rig.c.state_dir("sec-forged-enrol")), registry=PluginRegistry.discover(),
                      facts=_forged_facts())
    return identity.node_id


def _hello_forged(rig: Rig) -> str:
    node = rig.spare_node("sec-forged-hello")
    with connected(rig.c, Credentials.of_node(rig.c.state_dir("sec-forged-hello")), wire.facts_to_pb(_forged_facts())):
        wait_for(lambda: any(n["node_id"] == node and n["hostname"].startswith("sec-forged1999")
                             for n in rig.json("node", "list")), 10, "the Hello's facts to be taken")
    return node


@pytest.mark.parametrize("way", [_enrolled_forged, _hello_forged], ids=["at-enrolment", "in-a-hello"])
def test_a_node_forges_log_lines_and_terminal_escapes_in_its_facts(rig: Rig, way: Callable[[Rig], str]) -> None:
    """Facts are not refused: they are taken stripped of control and format characters and cut to a
    bound, so a hostname forges no log line, sends no escape to a terminal, and 100 KB is not kept.
    An enrolment is audited; a Hello is not: what it left in the node list, the log and the database
    is what is checked."""
    since = _now()
    node = way(rig)
    (row,) = [n for n in rig.json("node", "list") if n["node_id"] == node]
    assert row["hostname"] == KEPT_HOSTNAME and len(row["os"]) < 200 and row["agent_version"] == "1.0x"
    table = rig.ok("node", "list")
    assert "\x1b" not in table and "\u202e" not in table
    log = (rig.root / "controller.log").read_text(errors="replace")
    assert not any(line.startswith("1999-12-31 23:59:59,999 ERROR") for line in log.splitlines())
    assert "\x1b" not in log and "o" * 129 not in log
    kept = b"".join(p.read_bytes() for p in rig.c.controller_dir.glob("outpost.db*"))
    assert b"\x1b]0;forged-title" not in kept and b"o" * 129 not in kept and FORGED_HOSTNAME.encode() not in kept
    if way is _enrolled_forged:
        rig.audited("node:Enrol", "the enrolment", since, actor=f"node/{node}", outcome="Succeeded")


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\u202eevil"  # a window title, a cleared screen, a right-to-left override
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil"


def _planted_in_output(rig: Rig) -> tuple[str, str]:
    cid = rig.json("command", "send", "--document", SHELL, "--targets", DEV, "--parameters",
                   r"commands=printf '\033]0;pwned\007\033[2J\342\200\256evil\n'")["command_id"]
    assert rig.wait(cid)["status_detail"] == "Success"
    return "command:Send", rig.ok("command", "logs", cid)


def _planted_in_a_description(rig: Rig) -> tuple[str, str]:
    rig.ok("activation", "create", "--tags", "Environment=spare", "--description", ESCAPES)
    return "activation:Create", rig.ok("activation", "list")


def _planted_in_a_document(rig: Rig) -> tuple[str, str]:
    rig.document(f"Sec-Escapes-{uuid.uuid4().hex[:6]}", 'schemaVersion: "2.2"\n'
                 f"description: {json.dumps(ESCAPES)}\nmainSteps:\n"
                 "  - {action: aws:runShellScript, name: t, inputs: {runCommand: ['true']}}\n")
    return "document:Create", rig.ok("document", "list")


@pytest.mark.parametrize("plant", [_planted_in_output, _planted_in_a_description, _planted_in_a_document],
                         ids=["node-output", "activation-description", "document-description"])
def test_escape_sequences_aimed_at_an_operator_s_terminal(rig: Rig, plant: Callable[[Rig], tuple[str, str]]) -> None:
    """What a node prints, and what an operator wrote, is kept as it is (not facts) but never reaches
    another operator's terminal raw: every table and output line shows control characters escaped."""
    since = _now()
    action, printed = plant(rig)
    assert SHOWN in printed, printed
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    rig.audited(action, "the planting call", since, actor="operator/admin", outcome="Succeeded")


# ============================================================================ parameters and secrets

BOX_DOC = """\
schemaVersion: "2.2"
parameters:
  name: {{type: String, interpolationType: ENV_VAR}}
mainSteps:
  - {{action: aws:runShellScript, name: read, inputs: {{runCommand: ['cat {box}/{{{{ name }}}}']}}}}
"""


@pytest.fixture(scope="module")
def box(rig: Rig) -> Path:
    """Document Sec-Read-Box: `cat BOX/{{ name }}`, name an ENV_VAR parameter; BOX holds a secret file
    and a file outside it another."""
    box = rig.root / "box"
    box.mkdir()
    (box / "secret.txt").write_text("BOX-SECRET\n")
    (rig.root / "outside.txt").write_text("OUTSIDE-SECRET\n")
    rig.document("Sec-Read-Box", BOX_DOC.format(box=box))
    return box


@pytest.mark.parametrize("value", [
    pytest.param("nothing {outside}", id="word-splitting"),
    pytest.param("*", id="globbing"),
    pytest.param("$(touch {marker})", id="command-substitution"),
    pytest.param("`touch {marker}`", id="backticks"),
    pytest.param("x; touch {marker}", id="command-chaining"),
    pytest.param("x' && touch {marker} && echo '", id="closing-a-quote"),
])
def test_an_env_var_parameter_value_stays_one_word(rig: Rig, box: Path, value: str,
                                                    request: pytest.FixtureRequest) -> None:
    """`cat BOX/{{ name }}` with a name that would read outside BOX, read every file in it or run a
    command: it is one file name that does not exist, and the step fails saying so in one line."""
    marker = rig.marker(f"injected-{request.node.callspec.id}")
    given, since = value.format(outside=rig.root / "outside.txt", marker=marker), _now()
    cid = rig.json("command", "send", "--document", "Sec-Read-Box", "--targets", DEV,
                   "--parameters", f"name={given}")["command_id"]
    assert rig.wait(cid)["status_detail"] == "Failed"
    (step,) = rig.output(cid, rig.node("dev"))
    # one name (cat quotes it in its message: 'x'\'' for a quote), which does not exist
    assert step["stdout"] == "" and step["stderr"].count("\n") == 1, step
    assert step["stderr"].startswith(f"cat: '{box}/") and step["stderr"].endswith(": No such file or directory\n")
    record = rig.audited("command:Send", "the send", since, detail=f"command {cid}", outcome="Succeeded")
    assert record["parameters"] == {"name": given}
    assert not marker.exists()


SECRET_DOC = """\
schemaVersion: "2.2"
parameters:
  pin: {type: String, secret: true, interpolationType: ENV_VAR}
mainSteps:
  - {action: aws:runShellScript, name: use, inputs: {runCommand: ['touch MARKER-{{ pin }}', 'echo pin={{ pin }}']}}
"""


@pytest.fixture(scope="module")
def secret_doc(rig: Rig) -> str:
    rig.document("Sec-Pin", SECRET_DOC.replace("MARKER", str(rig.marker("pin"))))
    return "Sec-Pin"


def test_a_secret_too_short_to_mask(rig: Rig, secret_doc: str) -> None:
    before, since = rig.command_ids(), _now()
    run = rig.cli("command", "send", "--document", secret_doc, "--targets", DEV, "--parameters", "pin=1234567")
    line = refused(run, "parameters.pin: a secret must be at least 8 characters long")
    assert "1234567" not in line and "7 characters" not in line
    record = rig.audited("command:Send", "the failure", since, resource=f"document/{secret_doc}", outcome="Failed")
    assert "1234567" not in str(record)
    assert rig.command_ids() == before and not rig.marker("pin-1234567").exists()


def test_the_database_files_hold_no_plaintext_secret(rig: Rig, secret_doc: str) -> None:
    """Someone reading outpost.db, -wal and -shm raw does not find a secret parameter's value (the
    command's document is sealed; the trail keeps a keyed hash)."""
    secret, since = f"sec-{uuid.uuid4().hex}", _now()
    cid = rig.json("command", "send", "--document", secret_doc, "--targets", DEV, "--parameters",
                   f"pin={secret}")["command_id"]
    assert rig.wait(cid)["status_detail"] == "Success"
    assert rig.output(cid, rig.node("dev"))[0]["stdout"] == "pin=********\n"
    assert rig.marker(f"pin-{secret}").exists()
    record = rig.audited("command:Send", "the send", since, detail=f"command {cid}")
    assert record["parameters"]["pin"].startswith("hmac-sha256:")
    files = sorted(rig.c.controller_dir.glob("outpost.db*"))
    assert {p.name for p in files} >= {"outpost.db", "outpost.db-wal"}
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"the secret is in {path.name}"
    rig.marker(f"pin-{secret}").unlink()


def test_a_document_pasting_a_string_parameter_into_a_script(rig: Rig) -> None:
    """With require_safe_parameters the controller refuses such a document at create: a value could
    run commands."""
    marker, since = rig.marker("unsafe"), _now()
    path = rig.write("unsafe.yaml", 'schemaVersion: "2.2"\nparameters:\n  name: {type: String}\nmainSteps:\n'
                     "  - {action: aws:runShellScript, name: t, inputs: "
                     f"{{runCommand: ['touch {marker}-{{{{ name }}}}']}}}}\n")
    refused(rig.cli("document", "create", "Sec-Unsafe", "--file", str(path)),
            "document Sec-Unsafe is refused (require_safe_parameters)", "parameter 'name' is pasted into the script")
    rig.audited("document:Create", "the failure", since, resource="document/Sec-Unsafe", outcome="Failed")
    assert "Sec-Unsafe" not in {d["name"] for d in rig.json("document", "list")}
    refused(rig.cli("command", "send", "--document", "Sec-Unsafe", "--targets", DEV, "--parameters", "name=x; id"))
    assert not list(marker.parent.glob("unsafe*"))


# ============================================================================ requests


def _admin_call(rig: Rig, method: str, request: object, **options: int) -> tuple[grpc.RpcError, str]:
    """AdminService.METHOD as the administrator, by raw gRPC; its error and the request id it gave."""
    rid = f"sec-{uuid.uuid4().hex}"
    admin = Credentials.of_operator(rig.c.controller_dir / "operators", "admin")
    with mtls_channel(rig.c, admin, **options) as channel:
        stub = pbg.AdminServiceStub(channel)
        err = rpc_error(lambda: getattr(stub, method)(request, timeout=30, metadata=[("x-request-id", rid)]))
    return err, rid


NUL_REQUESTS = {
    "send": ("SendCommand", "command:Send", lambda rig: pb.SendCommandRequest(
        document_name=SHELL, targets=pb.Targets(node_ids=[rig.node("dev")]),
        parameters={"commands": pb.ParameterValues(values=[f"touch {rig.marker('nul')}\0-x"])}),
        "parameters['commands'].values[0]", lambda rig: rig.command_ids()),
    "activation": ("CreateActivation", "activation:Create", lambda rig: pb.CreateActivationRequest(
        tags=[pb.Tag(key="Environment", value="prod")], registration_limit=1, expires_seconds=60,
        description="ok\0hidden"), "description", lambda rig: len(rig.json("activation", "list"))),
    "tag": ("TagNode", "node:Tag", lambda rig: pb.TagNodeRequest(
        node_id=rig.node("dev"), tags=[pb.Tag(key="Environment", value="dev\0prod")]), "tags[0].value",
        lambda rig: [n["tags"] for n in rig.json("node", "list")]),
}


@pytest.mark.parametrize("name", list(NUL_REQUESTS))
def test_a_nul_character_in_a_request(rig: Rig, name: str) -> None:
    """A NUL would be cut short on SQLite, refused by PostgreSQL, and end a C string wherever the value
    goes: refused by the field's name before the method reads it."""
    method, action, request, field, state = NUL_REQUESTS[name]
    before = state(rig)
    err, rid = _admin_call(rig, method, request(rig))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
    assert err.details().startswith(f"{field}: ") and "\n" not in err.details() and "\0" not in err.details()
    record = rig.audited(action, "the failure", "", requestId=rid, outcome="Failed")
    assert record["detail"].startswith("INVALID_ARGUMENT")
    assert state(rig) == before and not rig.marker("nul").exists()


def test_an_oversized_request_on_the_mutual_tls_listener(rig: Rig) -> None:
    """5 MB in one message: refused by the transport before any code reads it (so not audited)."""
    before = rig.command_ids()
    request = pb.SendCommandRequest(document_name=SHELL, targets=pb.Targets(node_ids=[rig.node("dev")]),
                                    comment="x" * (5 << 20),
                                    parameters={"commands": pb.ParameterValues(values=[f"touch {rig.marker('big')}"])})
    err, rid = _admin_call(rig, "SendCommand", request, max_send_message_length=8 << 20)
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "\n" not in err.details()
    time.sleep(0.5)  # a record would have been written with the trail's next batch (0.2 s)
    assert not [r for r in rig.audit() if r["requestId"] == rid]
    assert rig.command_ids() == before and not rig.marker("big").exists()
    assert rig.ok("node", "list")  # and the listener still serves


# ============================================================================ the trail and the keys at rest


def _verify(rig: Rig) -> tuple[int, str]:
    run = rig.cli("audit", "verify", "--public-key", str(rig.c.controller_dir / "audit.pub"))
    assert "Traceback" not in run.stderr
    return run.rc, (run.stdout + run.stderr).strip()


def _edit(db: sqlite3.Connection, seq: int) -> None:
    db.execute("UPDATE audit_records SET actor = 'operator/mallory' WHERE seq = ?", (seq,))


def _delete(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM audit_records WHERE seq = ?", (seq,))


def _swap(db: sqlite3.Connection, seq: int) -> None:
    a, b = (db.execute("SELECT * FROM audit_records WHERE seq = ?", (s,)).fetchone() for s in (seq, seq + 1))
    db.execute("DELETE FROM audit_records WHERE seq IN (?, ?)", (seq, seq + 1))
    holes = ",".join("?" * len(a))
    db.executemany(f"INSERT INTO audit_records VALUES ({holes})", [(seq, *b[1:]), (seq + 1, *a[1:])])


@pytest.mark.parametrize(("tamper", "names"), [
    pytest.param(_edit, "record 4: edited", id="edited"),
    pytest.param(_delete, "record 5: after record 3: record(s) missing", id="deleted"),
    pytest.param(_swap, "record 4:", id="reordered"),
])
def test_the_audit_trail_edited_in_the_database(rig: Rig, tamper: Callable[[sqlite3.Connection, int], None],
                                               names: str) -> None:
    """Whoever holds the database rewrites history: `outpost audit verify` exits 1 naming the first bad
    record. The rows are put back afterwards, and the trail verifies again."""
    assert _verify(rig)[0] == 0
    db = sqlite3.connect(rig.c.controller_dir / "outpost.db", timeout=30)
    try:
        kept = db.execute("SELECT * FROM audit_records WHERE seq IN (4, 5) ORDER BY seq").fetchall()
        with db:
            tamper(db, 4)
        rc, out = _verify(rig)
        with db:
            db.execute("DELETE FROM audit_records WHERE seq IN (4, 5)")
            db.executemany(f"INSERT INTO audit_records VALUES ({','.join('?' * len(kept[0]))})", kept)
    finally:
        db.close()
    assert rc == 1 and out.startswith("error: ") and "\n" not in out and names in out, out
    assert _verify(rig)[0] == 0


def test_the_master_key_is_missing_at_start(rig: Rig, tmp_path: Path) -> None:
    """A copy of the controller's directory without master.key, its database holding sealed documents
    and output: the controller refuses to start, naming the file to restore, and makes no new key."""
    sealed = rig.json("command", "send", "--document", SHELL, "--targets", DEV, "--parameters", "commands=echo sealed")
    assert rig.wait(sealed["command_id"])["status_detail"] == "Success"  # a document and output, sealed
    copy = tmp_path / "controller"
    copy.mkdir(mode=0o700)
    for p in rig.c.controller_dir.iterdir():
        if p.is_file() and not p.name.startswith("outpost.db") and p.name != MASTER_KEY_FILE:
            (copy / p.name).write_bytes(p.read_bytes())
    with sqlite3.connect(rig.c.controller_dir / "outpost.db") as live, sqlite3.connect(copy / "outpost.db") as dst:
        live.backup(dst)
    settings = copy / "controller.yaml"
    settings.write_text(settings.read_text().replace(str(rig.c.controller_dir), str(copy)))
    port = free_port_pair()
    proc = subprocess.run([*OUTPOST, "controller", "serve", "--dir", str(copy), "--listen", f"127.0.0.1:{port}"],
                          cwd=ROOT, env={**rig.c.env}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [f"error: {copy / MASTER_KEY_FILE}: no master key, and the database holds documents and output "
                     "sealed under one: restore that file (or give its path with --master-key or "
                     "OUTPOST_MASTER_KEY_FILE)"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (copy / MASTER_KEY_FILE).exists(), "a new master key was made over the sealed data"


class _Call:
    """What the call audit reads of a gRPC call: its metadata."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


async def _a_refusal_among_other_records(trail: AuditTrail) -> None:
    trail.submit(AuditEntry(at_ms=now_ms(), actor="operator/alice", source_ip="10.0.0.1", action="node:List",
                            outcome=AuditOutcome.ALLOWED, request_id="alice-read", resource=""))
    trail.submit(AuditEntry(at_ms=now_ms(), actor="controller", source_ip="", action="command:Status",
                            outcome=AuditOutcome.SUCCEEDED, request_id="bob-status", resource="command/c-1",
                            detail="Success: Success"))
    why = "operator mallory may not group:Get on group/x\0y"
    await CallAudit(trail).denied(_Call(), Caller("mallory", "10.0.0.66"), "group:Get",  # type: ignore[arg-type]
                                  (ResourceRef("group/x\0y"),), why)
    await trail.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nul_in_a_refused_request_costs_the_trail_other_operators_records(backend: str, tmp_path: Path) -> None:
    """An operator with no policy at all calls GetGroup naming the group ``x\\0y``: refused, and the
    refusal is recorded (access_gate.py) with the resource from the request, NUL included, before the
    NUL check runs. The trail stores a batch in one transaction, and PostgreSQL refuses a NUL in text:
    on PostgreSQL the whole batch is lost, the refusal and the records of everyone else in it (another
    operator's read, a command's status change). Seen: 'the audit trail could not store 3 record(s):
    database error: PostgreSQL text fields cannot contain NUL (0x00) bytes'."""
    with empty_database(backend, tmp_path) as url:
        store = Store.open(url, fixed_sealer())
        store.migrate()
        db = Db(store)
        try:
            asyncio.run(_a_refusal_among_other_records(AuditTrail(db, Ed25519PrivateKey.generate())))
            kept = {r.entry.request_id: r.entry for r in store.audit_page(AuditQuery())}
        finally:
            db.close()
    assert {"alice-read", "bob-status"} <= set(kept), \
        f"SECURITY BUG: one refused request with a NUL lost other callers' audit records ({backend}): kept {kept}"
    assert [e.outcome for e in kept.values() if e.actor == "operator/mallory"] == [AuditOutcome.DENIED], \
        "SECURITY BUG: the NUL-bearing refusal itself is not on record"
