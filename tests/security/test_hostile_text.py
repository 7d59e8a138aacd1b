"""Hostile text: what a node says of itself (facts forging log lines, escapes, 100 KB), and escape
sequences planted in output or descriptions for another operator's terminal."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest

from agent.enroll import enroll
from agent.facts import gather_facts
from agent.state import StateDir
from plugins.sdk.facts import Facts
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire import convert as wire
from tests.security.rig import DEV, SHELL, Credentials, Rig, connected, now
from tests.support.cluster import wait_for

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
    since = now()
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
    since = now()
    action, printed = plant(rig)
    assert SHOWN in printed, printed
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    rig.audited(action, "the planting call", since, actor="operator/admin", outcome="Succeeded")
