"""End to end: stored SSM command documents (schema 2.2) through the real CLI, controller and agents.

Versions and the default version, hash pinning, deletion, the built-in documents, the 64 KB limit
(at create and once parameters are applied), validation messages, the issue's nginx document run
unchanged (with a stand-in ``systemctl``), exit codes 168/169 and ``finallyStep``, ``onFailure``,
a precondition that no node meets (InvalidPlatform, not an error), and a PowerShell step on Linux
nodes (run with a stand-in ``pwsh`` where one is on the agent's PATH, failed saying so where none is),
AWS-RunShellScript's published schema 1.2 form run unchanged, and a ``{{ssm:NAME}}`` value refused at send.

One fleet for the module (a controller and three Linux agents); every test uses its own document
names and its own files, so tests do not see each other's work.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from controller.documents.expand import run_document_step
from controller.runtime.config import CliConfig
from controller.sdk.transport import AdminClient
from plugins.sdk.wire.document import Document, Step
from tests.support.cluster import Cluster
from tests.support.docrun import (
    AgentSpec,
    by_node,
    command_ids,
    create_document,
    output,
    run,
    shell_document,
    start_fleet,
    step_details,
    write_file,
)

SVC = "Key=tag:Role,Values=svc"  # the agent with the systemctl and pwsh stand-ins first on its PATH
LIN = "Key=tag:Role,Values=lin"  # two plain agents
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("documents")
    c = Cluster(root)
    c.init()
    bindir = root / "standin-bin"
    bindir.mkdir()
    calls = root / "systemctl.calls"
    script = bindir / "systemctl"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # a stand-in for PowerShell: records its arguments, OUTPOST_NAME and the script file, says it ran
    record = root / "pwsh.record"
    pwsh = bindir / "pwsh"
    pwsh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}.argv"\nprintf "%s" "$OUTPOST_NAME" > "{record}.env"\n'
                    f'cat "$6" > "{record}.script"\necho "pwsh stand-in ran"\n')
    pwsh.chmod(pwsh.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    try:
        start_fleet(c, [AgentSpec("svc", "Role=svc", {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}),
                        AgentSpec("lin1", "Role=lin"), AgentSpec("lin2", "Role=lin")])
        yield c
    finally:
        c.close()


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest, fleet: Cluster) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(fleet.logs())


def _nodes(c: Cluster, *names: str) -> set[str]:
    return {c.node_ids[n] for n in names}


def _stdout(c: Cluster, shown: dict, node: str) -> str:
    return "".join(s["stdout"] for s in output(c, shown["command_id"], c.node_ids[node]))


def _show_doc(c: Cluster, name: str, *extra: str) -> dict:
    row = c.outpost_json("document", "show", name, *extra)
    assert isinstance(row, dict)
    return row


# ------------------------------------------------------------------------------ versions

def test_create_yaml_and_json_update_show_set_default_and_run_each_version(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    v1 = shell_document("say: echo version one", description="greeter v1")
    created = json.loads(create_document(c, tmp_path, "Greeter", v1).stdout)
    assert (created["name"], created["version"], created["default_version"], created["latest_version"],
            created["format"], created["builtin"]) == ("Greeter", 1, 1, 1, "YAML", False)
    assert created["sha256"] == hashlib.sha256(v1.encode()).hexdigest()

    # JSON, recognised from the file name, stored as JSON and runnable
    as_json = json.dumps({"schemaVersion": "2.2", "description": "from json",
                          "parameters": {"word": {"type": "String", "default": "json-ok"}},
                          "mainSteps": [{"action": "aws:runShellScript", "name": "say",
                                         "inputs": {"runCommand": ["echo {{ word }}"]}}]}, indent=2)
    j = json.loads(create_document(c, tmp_path, "Greeter-Json", as_json, suffix="json").stdout)
    assert (j["format"], j["version"], j["description"], j["parameters"]) == ("JSON", 1, "from json", ["word"])
    shown = run(c, "--document", "Greeter-Json", "--targets", SVC)
    assert shown["status_detail"] == "Success", shown
    assert _stdout(c, shown, "svc") == "json-ok\n"

    # update: version 2, the default stays 1
    v2 = shell_document("say: echo version two", description="greeter v2")
    path2 = write_file(tmp_path, "greeter-v2.yaml", v2)
    upd = c.outpost_json("document", "update", "Greeter", "--file", str(path2))
    assert (upd["version"], upd["default_version"], upd["latest_version"]) == (2, 1, 2)
    default = _show_doc(c, "Greeter")
    assert (default["version"], default["default_version"], default["latest_version"],
            default["description"]) == (1, 1, 2, "greeter v1")
    latest = _show_doc(c, "Greeter", "--version", "$LATEST", "--content")
    assert (latest["version"], latest["description"]) == (2, "greeter v2")
    assert latest["content"] == v2 and latest["sha256"] == hashlib.sha256(v2.encode()).hexdigest()
    assert _show_doc(c, "Greeter", "--version", "1", "--content")["content"] == v1
    listed = {d["name"]: d for d in c.outpost_json("document", "list")}
    assert (listed["Greeter"]["default_version"], listed["Greeter"]["latest_version"]) == (1, 2)

    # the default (1) runs until set-default moves it
    shown = run(c, "--document", "Greeter", "--targets", SVC)
    assert (shown["document_version"], _stdout(c, shown, "svc")) == (1, "version one\n")
    moved = c.outpost_json("document", "set-default", "Greeter", "--version", "2")
    assert (moved["default_version"], moved["latest_version"]) == (2, 2)
    assert _show_doc(c, "Greeter")["version"] == 2

    pinned = run(c, "--document", "Greeter:1", "--targets", SVC)
    assert pinned["status_detail"] == "Success", pinned
    assert (pinned["document_version"], _stdout(c, pinned, "svc")) == (1, "version one\n")
    default_run = run(c, "--document", "Greeter", "--targets", SVC)
    assert (default_run["document_version"], _stdout(c, default_run, "svc")) == (2, "version two\n")
    latest_run = run(c, "--document", "Greeter:$LATEST", "--targets", SVC)
    assert _stdout(c, latest_run, "svc") == "version two\n"

    # a version that does not exist: refused, nothing sent
    before = command_ids(c)
    proc = c.outpost("command", "send", "--document", "Greeter:7", "--targets", SVC, check=False)
    assert proc.returncode == 1 and "version 7" in proc.stderr, proc.stderr
    proc = c.outpost("document", "set-default", "Greeter", "--version", "7", check=False)
    assert proc.returncode == 1 and "version 7" in proc.stderr, proc.stderr
    assert command_ids(c) == before


def test_a_node_id_not_registered_is_refused_and_nothing_stored(fleet: Cluster) -> None:
    """Named nodes are checked as the command is stored (controller/dispatch/dispatcher.py): one unknown id
    refuses the whole command, naming it."""
    c = fleet
    known = sorted(_nodes(c, "svc"))[0]
    unknown = "mi-0123456789abcdef0"
    before = command_ids(c)
    proc = c.outpost("command", "send", "--document", "Outpost-RunShellScript", "--parameters",
                     "commands=true", "--targets", f"Key=InstanceIds,Values={known},{unknown}", check=False)
    assert proc.returncode == 1 and f"targets.node_ids: unknown node {unknown}" in proc.stderr, proc.stderr
    assert command_ids(c) == before


def test_document_hash_pins_the_content(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    text = shell_document("say: echo pinned")
    sha = json.loads(create_document(c, tmp_path, "Pinned-Doc", text).stdout)["sha256"]
    wrong = hashlib.sha256(b"something else").hexdigest()
    before = command_ids(c)
    proc = c.outpost("command", "send", "--document", "Pinned-Doc", "--document-hash", wrong, "--targets", SVC,
                     check=False)
    assert proc.returncode == 1, proc.stdout
    assert sha in proc.stderr and wrong in proc.stderr and "pinned" in proc.stderr, proc.stderr
    assert command_ids(c) == before
    shown = run(c, "--document", "Pinned-Doc", "--document-hash", sha, "--targets", SVC)
    assert shown["status_detail"] == "Success" and _stdout(c, shown, "svc") == "pinned\n"


def test_delete_a_document(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    create_document(c, tmp_path, "Doomed-Doc", shell_document("say: echo doomed"))
    ran = run(c, "--document", "Doomed-Doc", "--targets", SVC)
    assert ran["status_detail"] == "Success"
    assert c.outpost("document", "delete", "Doomed-Doc").stdout.strip() == "deleted document Doomed-Doc"
    assert "Doomed-Doc" not in {d["name"] for d in c.outpost_json("document", "list")}
    proc = c.outpost("document", "show", "Doomed-Doc", check=False)
    assert proc.returncode == 1 and "Doomed-Doc" in proc.stderr
    before = command_ids(c)
    proc = c.outpost("command", "send", "--document", "Doomed-Doc", "--targets", SVC, check=False)
    assert proc.returncode == 1 and "Doomed-Doc" in proc.stderr
    assert command_ids(c) == before
    proc = c.outpost("document", "delete", "Doomed-Doc", check=False)
    assert proc.returncode == 1
    # the command that ran it keeps what it ran
    assert c.outpost_json("command", "show", ran["command_id"])["document"] == "Doomed-Doc"


def test_builtin_run_shell_script_is_listed_and_protected(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    listed = {d["name"]: d for d in c.outpost_json("document", "list")}
    builtin = listed["Outpost-RunShellScript"]
    assert builtin["builtin"] is True
    assert builtin["parameters"][:1] == ["commands"]
    before = _show_doc(c, "Outpost-RunShellScript", "--content")
    replacement = write_file(tmp_path, "evil.yaml", shell_document("x: echo replaced"))
    for argv in (("document", "update", "Outpost-RunShellScript", "--file", str(replacement)),
                 ("document", "create", "Outpost-RunShellScript", "--file", str(replacement)),
                 ("document", "delete", "Outpost-RunShellScript"),
                 ("document", "set-default", "Outpost-RunShellScript", "--version", "1")):
        proc = c.outpost(*argv, check=False)
        assert proc.returncode == 1, (argv, proc.stdout)
        assert "Outpost-RunShellScript" in proc.stderr and "built" in proc.stderr, (argv, proc.stderr)
    after = _show_doc(c, "Outpost-RunShellScript", "--content")
    assert after == before
    # and it still runs
    shown = run(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=echo builtin-ok",
                "--targets", SVC)
    assert _stdout(c, shown, "svc") == "builtin-ok\n"


# ------------------------------------------------------------------------------ size limits

def _padded(text: str, size: int) -> bytes:
    """``text`` plus a YAML comment so that the whole is exactly ``size`` bytes."""
    head = text.encode()
    pad = size - len(head) - len(b"#\n")
    assert pad >= 0
    return head + b"#" + b"x" * pad + b"\n"


def test_document_of_64_kib_is_accepted_and_one_byte_more_refused(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    text = shell_document("say: echo big")
    exact = _padded(text, LIMIT)
    assert len(exact) == 65536
    ok = json.loads(create_document(c, tmp_path, "Exactly-64K", exact).stdout)
    assert ok["sha256"] == hashlib.sha256(exact).hexdigest()
    over = _padded(text, LIMIT + 1)
    assert len(over) == 65537
    proc = create_document(c, tmp_path, "Over-64K", over, check=False)
    assert proc.returncode == 1
    assert "65537 bytes" in proc.stderr and "65536" in proc.stderr, proc.stderr
    assert c.outpost("document", "show", "Over-64K", check=False).returncode == 1
    # an update past the limit is refused too, and leaves the document as it was
    path = write_file(tmp_path, "over-update.yaml", over)
    proc = c.outpost("document", "update", "Exactly-64K", "--file", str(path), check=False)
    assert proc.returncode == 1 and "65537 bytes" in proc.stderr, proc.stderr
    assert _show_doc(c, "Exactly-64K")["latest_version"] == 1
    shown = run(c, "--document", "Exactly-64K", "--targets", SVC)
    assert _stdout(c, shown, "svc") == "big\n"


def test_document_over_64_kib_once_parameters_are_applied_is_refused_at_send(fleet: Cluster,
                                                                             tmp_path: Path) -> None:
    c = fleet
    create_document(c, tmp_path, "Grows-With-Params", (
        'schemaVersion: "2.2"\n'
        "parameters:\n"
        "  blob: {type: String}\n"
        "mainSteps:\n"
        "  - action: aws:runShellScript\n"
        "    name: twice\n"
        "    inputs:\n"
        '      runCommand: ["echo {{ blob }} > /dev/null", "echo {{ blob }} > /dev/null"]\n'))
    before = command_ids(c)
    proc = c.outpost("command", "send", "--document", "Grows-With-Params", "--parameters", "blob=" + "a" * 40_000,
                     "--targets", SVC, check=False)
    assert proc.returncode == 1, proc.stdout
    assert "once parameters are applied" in proc.stderr and "65536" in proc.stderr, proc.stderr
    assert command_ids(c) == before
    small = run(c, "--document", "Grows-With-Params", "--parameters", "blob=small", "--targets", SVC)
    assert small["status_detail"] == "Success"


# ------------------------------------------------------------------------------ validation

INVALID = {
    "schema-1.2-with-mainSteps": ('schemaVersion: "1.2"\nmainSteps:\n'
                                  "  - {action: aws:runShellScript, name: a, inputs: {runCommand: [echo]}}\n",
                                  ["document.mainSteps", "schema 1.2", "runtimeConfig", "schemaVersion: '2.2'"]),
    "unknown-action": ('schemaVersion: "2.2"\nmainSteps:\n'
                       "  - {action: aws:noSuchAction, name: a, inputs: {runCommand: [echo]}}\n",
                       ["mainSteps[0].action", "aws:noSuchAction"]),
    "duplicate-step": ('schemaVersion: "2.2"\nmainSteps:\n'
                       "  - {action: aws:runShellScript, name: same, inputs: {runCommand: [echo 1]}}\n"
                       "  - {action: aws:runShellScript, name: same, inputs: {runCommand: [echo 2]}}\n",
                       ["mainSteps[1].name", "duplicate step name", "same"]),
    "finally-not-last": ('schemaVersion: "2.2"\nmainSteps:\n'
                         "  - {action: aws:runShellScript, name: fin,\n"
                         "     inputs: {runCommand: [echo], finallyStep: true}}\n"
                         "  - {action: aws:runShellScript, name: after, inputs: {runCommand: [echo]}}\n",
                         ["mainSteps[0]", "finallyStep", "last step"]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_document_is_refused_naming_the_field(fleet: Cluster, tmp_path: Path, case: str) -> None:
    c = fleet
    text, needles = INVALID[case]
    name = f"Invalid-{case}"
    proc = create_document(c, tmp_path, name, text, check=False)
    assert proc.returncode == 1, proc.stdout
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert f"document {name} is not valid" in proc.stderr, proc.stderr
    assert c.outpost("document", "show", name, check=False).returncode == 1


# ------------------------------------------------------------------------------ the issue's document

NGINX = '''# yaml
schemaVersion: "2.2"
description: "Restart nginx safely"
parameters:
  service:
    type: String
    default: nginx
mainSteps:
  - action: aws:runShellScript
    name: restartService
    inputs:
      runCommand:
        - systemctl restart {{ service }}
'''


def test_the_nginx_document_runs_as_written_with_a_systemctl_stand_in(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    calls = c.root / "systemctl.calls"
    calls.unlink(missing_ok=True)
    created = json.loads(create_document(c, tmp_path, "Restart-Nginx", NGINX).stdout)
    assert (created["description"], created["parameters"]) == ("Restart nginx safely", ["service"])
    assert _show_doc(c, "Restart-Nginx", "--content")["content"] == NGINX

    shown = run(c, "--document", "Restart-Nginx", "--targets", SVC)
    assert (shown["status"], shown["status_detail"], shown["targets"]) == ("Success", "Success", 1), shown
    (inv,) = shown["invocations"]
    assert inv["node_id"] == c.node_ids["svc"] and inv["exit_code"] == 0
    assert step_details(inv) == [("restartService", "Success")]
    assert calls.read_text().splitlines() == ["restart nginx"]

    shown = run(c, "--document", "Restart-Nginx", "--parameters", "service=httpd", "--targets", SVC)
    assert shown["status_detail"] == "Success", shown
    assert shown["parameters"] == {"service": ["httpd"]}
    assert calls.read_text().splitlines() == ["restart nginx", "restart httpd"]


# ------------------------------------------------------------------------------ exit codes and flow

def _flow_document(first: str, marks: Path) -> str:
    return ('schemaVersion: "2.2"\nmainSteps:\n'
            f"  - {{action: aws:runShellScript, name: first, inputs: {{runCommand: [{json.dumps(first)}]}}}}\n"
            f"  - {{action: aws:runShellScript, name: second, inputs: {{runCommand: "
            f"[{json.dumps('touch ' + str(marks / 'step2-$OUTPOST_NODE_ID'))}]}}}}\n"
            f"  - {{action: aws:runShellScript, name: cleanup, inputs: {{runCommand: "
            f"[{json.dumps('touch ' + str(marks / 'finally-$OUTPOST_NODE_ID'))}], finallyStep: true}}}}\n")


@pytest.mark.parametrize(("code", "status", "first_detail"), [(168, "Success", "Success"), (169, "Failed", "Failed")])
def test_exit_168_and_169_skip_the_rest_but_the_finally_step_runs(fleet: Cluster, tmp_path: Path, code: int,
                                                                  status: str, first_detail: str) -> None:
    c = fleet
    marks = tmp_path / "marks"
    marks.mkdir()
    create_document(c, tmp_path, f"Exit-{code}", _flow_document(f"exit {code}", marks))
    shown = run(c, "--document", f"Exit-{code}", "--targets", LIN)
    assert shown["status_detail"] == status, shown
    assert set(by_node(shown)) == _nodes(c, "lin1", "lin2")
    for node_id, inv in by_node(shown).items():
        assert (inv["status"], inv["status_detail"]) == (status, status), inv
        assert step_details(inv) == [("first", first_detail), ("second", "Skipped"), ("cleanup", "Success")], inv
        assert inv["steps"][0]["exit_code"] == code
        assert inv["exit_code"] == (0 if code == 168 else 169)
        assert not (marks / f"step2-{node_id}").exists()
        assert (marks / f"finally-{node_id}").exists()
    assert shown["errors"] == (0 if code == 168 else 2)


def _on_failure_document(on_failure: str | None, marks: Path) -> str:
    flow = f", onFailure: {on_failure}" if on_failure else ""
    return ('schemaVersion: "2.2"\nmainSteps:\n'
            f"  - {{action: aws:runShellScript, name: breaks, inputs: {{runCommand: [\"exit 3\"]{flow}}}}}\n"
            f"  - {{action: aws:runShellScript, name: next, inputs: {{runCommand: "
            f"[{json.dumps('touch ' + str(marks / 'next-$OUTPOST_NODE_ID'))}]}}}}\n")


@pytest.mark.parametrize(("on_failure", "status", "next_detail"), [
    (None, "Failed", "Success"),            # continue, the default: the next step runs, the document fails
    ("continue", "Failed", "Success"),
    ("exit", "Failed", "Skipped"),
    ("successAndExit", "Success", "Skipped"),
])
def test_on_failure(fleet: Cluster, tmp_path: Path, on_failure: str | None, status: str, next_detail: str) -> None:
    c = fleet
    marks = tmp_path / "marks"
    marks.mkdir()
    name = f"On-Failure-{on_failure or 'default'}"
    create_document(c, tmp_path, name, _on_failure_document(on_failure, marks))
    shown = run(c, "--document", name, "--targets", SVC)
    (inv,) = shown["invocations"]
    assert (shown["status_detail"], inv["status_detail"]) == (status, status), shown
    assert step_details(inv) == [("breaks", "Failed"), ("next", next_detail)], inv
    assert inv["steps"][0]["exit_code"] == 3
    assert (marks / f"next-{inv['node_id']}").exists() == (next_detail == "Success")


# ------------------------------------------------------------------------------ InvalidPlatform

def test_a_precondition_no_node_meets_is_invalid_platform_and_not_an_error(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    marker = tmp_path / "ran"
    create_document(c, tmp_path, "Windows-Only", (
        'schemaVersion: "2.2"\nmainSteps:\n'
        "  - action: aws:runShellScript\n"
        "    name: windowsOnly\n"
        "    precondition: {StringEquals: [platformType, Windows]}\n"
        f"    inputs: {{runCommand: [{json.dumps('touch ' + str(marker))}]}}\n"))
    # max-errors 0 and one at a time: were InvalidPlatform an error, the first node's would stop the
    # command and the others would end Terminated.
    shown = run(c, "--document", "Windows-Only", "--targets", "Key=tag:Role,Values=lin,svc",
                "--max-concurrency", "1", "--max-errors", "0")
    assert set(by_node(shown)) == _nodes(c, "svc", "lin1", "lin2")
    for inv in shown["invocations"]:
        assert (inv["status"], inv["status_detail"]) == ("Failed", "InvalidPlatform"), inv
        assert step_details(inv) == [("windowsOnly", "Skipped")], inv
    assert (shown["targets"], shown["completed"], shown["errors"]) == (3, 3, 0), shown
    # docs/statuses.md: Success needs at least one Success; with none, the command is Failed
    assert (shown["status"], shown["status_detail"]) == ("Failed", "Failed"), shown
    assert not marker.exists()


# ------------------------------------------------------------------------------ PowerShell on Linux

def test_a_powershell_step_runs_on_linux_with_the_pwsh_on_the_agent_s_path(fleet: Cluster, tmp_path: Path) -> None:
    """aws:runPowerShellScript runs on Linux nodes, as SSM's agent does: the svc agent finds the pwsh
    stand-in on its PATH and runs the script file with it, the ENV_VAR parameter in its environment;
    an agent with no PowerShell fails the step saying so (it is not InvalidPlatform any more)."""
    c = fleet
    create_document(c, tmp_path, "PS-Greet", (
        'schemaVersion: "2.2"\nparameters:\n  name: {type: String, interpolationType: ENV_VAR}\n'
        "mainSteps:\n  - {action: aws:runPowerShellScript, name: greet, "
        "inputs: {runCommand: ['Write-Output \"hello {{ name }}\"']}}\n"))
    shown = run(c, "--document", "PS-Greet", "--parameters", "name=Ada Lovelace",
                "--targets", "Key=tag:Role,Values=svc,lin", "--max-errors", "100%")
    invs = by_node(shown)
    assert set(invs) == _nodes(c, "svc", "lin1", "lin2"), shown

    svc = invs[c.node_ids["svc"]]
    assert (svc["status_detail"], svc["exit_code"], step_details(svc)) == ("Success", 0, [("greet", "Success")]), svc
    assert _stdout(c, shown, "svc") == "pwsh stand-in ran\n"
    record = c.root / "pwsh.record"
    argv = Path(f"{record}.argv").read_text().splitlines()
    assert argv[:5] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"], argv
    assert len(argv) == 6 and argv[5].endswith(".ps1"), argv
    assert not Path(argv[5]).exists(), "the script file is removed after the run"
    assert Path(f"{record}.env").read_text() == "Ada Lovelace"
    script = Path(f"{record}.script").read_bytes()
    assert script.startswith(b"\xef\xbb\xbfWrite-Output \"hello $env:OUTPOST_NAME\"\n"), script

    for name in ("lin1", "lin2"):
        inv = invs[c.node_ids[name]]
        if shutil.which("pwsh") is not None:  # PowerShell is installed here: the plain agents run it for real
            assert (inv["status_detail"], _stdout(c, shown, name)) == ("Success", "hello Ada Lovelace\n"), inv
            continue
        assert (inv["status"], inv["status_detail"]) == ("Failed", "Failed"), inv
        (step,) = inv["steps"]
        assert (step["name"], step["status_detail"]) == ("greet", "Failed"), step
        assert step["error"] == ("powershell: no PowerShell found (looked for pwsh on PATH); "
                                 "install PowerShell 7 or set executable"), step


def test_a_playbook_s_document_task_is_expanded_by_the_controller(fleet: Cluster, tmp_path: Path) -> None:
    """The workstation sends the play with an aws:runDocument step; the controller renders the stored
    document into it. `--check` shows what the controller would run; a bad reference is refused at the
    task's line before anything is sent."""
    tasks = ("  tasks:\n"
             "    - name: first\n"
             "      shell: echo first\n"
             "    - name: stored\n"
             "      document: Outpost-RunShellScript\n"
             "      parameters:\n")
    book = write_file(tmp_path, "site.yml", "- name: docs\n  targets: {tags: {Role: lin}}\n" + tasks +
                      '        commands: ["echo from the stored document"]\n')
    checked = fleet.outpost_json("playbook", "apply", str(book), "--check")
    assert isinstance(checked, dict)
    (play,) = checked["plays"]
    assert [s["name"] for s in play["document"]["mainSteps"]] == ["first", "stored.runShellScript"]
    assert play["document"]["mainSteps"][1]["inputs"]["runCommand"] == ["echo from the stored document"]

    before = command_ids(fleet)
    bad = write_file(tmp_path, "bad.yml", "- name: docs\n  targets: {tags: {Role: lin}}\n" + tasks +
                     "        nosuch: [x]\n")
    proc = fleet.outpost("playbook", "apply", str(bad), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{bad}:6: stored.document: Outpost-RunShellScript:" in proc.stderr and "nosuch" in proc.stderr, \
        proc.stderr
    assert command_ids(fleet) == before  # nothing was sent

    # ExpandDocument checks what it expanded as a send would, and stores nothing
    with AdminClient(CliConfig.load(fleet.config)) as client:
        bad_doc = Document((run_document_step("ref", "Outpost-RunShellScript", "", {"commands": ("true",)}, False),
                            Step("odd", "no-such-action", {})), "x").canonical_bytes()
        with pytest.raises(grpc.RpcError) as info:
            client.expand_document(bad_doc)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no-such-action" in info.value.details()
    assert command_ids(fleet) == before

    result = fleet.outpost_json("playbook", "apply", str(book))
    assert isinstance(result, dict)
    (ran,) = result["plays"]
    assert ran["status"] == "Success", ran
    for node_id in (i["node_id"] for i in ran["invocations"]):
        rows = output(fleet, ran["command_id"], node_id)
        assert [(r["step"], r["stdout"]) for r in rows] == [("first", "first\n"),
                                                            ("stored.runShellScript", "from the stored document\n")]


def test_a_parameter_pasted_into_a_script_is_warned_of_and_refused_when_required(cluster: Cluster,
                                                                                  tmp_path: Path) -> None:
    """Issue 18: `document create` warns of a String parameter pasted into a script as text; with
    require_safe_parameters the controller refuses the document."""
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text('schemaVersion: "2.2"\nparameters:\n  name: {type: String}\nmainSteps:\n'
                      "  - {action: aws:runShellScript, name: t, inputs: {runCommand: ['touch /srv/{{ name }}']}}\n")
    cluster.start_controller()
    made = cluster.outpost("document", "create", "Unsafe-Doc", "--file", str(unsafe))
    assert made.stderr.strip() == ("warning: mainSteps[0] (t): parameter 'name' is pasted into the script as text, "
                                   "so a value can run commands; give it allowedPattern or allowedValues, or "
                                   "interpolationType: ENV_VAR")
    cluster.stop_controller()
    settings = cluster.controller_dir / "controller.yaml"
    settings.write_text(settings.read_text().replace("require_safe_parameters: false", "require_safe_parameters: true"))
    cluster.start_controller()
    refused = cluster.outpost("document", "update", "Unsafe-Doc", "--file", str(unsafe), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: document Unsafe-Doc is refused (require_safe_parameters): mainSteps[0] (t): parameter 'name' is "
        "pasted into the script as text, so a value can run commands; give it allowedPattern or allowedValues, or "
        "interpolationType: ENV_VAR"]
    versions = cluster.outpost_json("document", "show", "Unsafe-Doc", "--output", "json")
    assert isinstance(versions, dict) and versions.get("latest_version", versions.get("version")) == 1
    # the version stored before the setting is refused at send: nothing is sent
    sent = cluster.outpost("command", "send", "--document", "Unsafe-Doc", "--parameters", "name=x; id",
                           "--targets", "Key=InstanceIds,Values=mi-0123456789abcdef0", check=False)
    assert sent.returncode == 1 and sent.stderr.strip().splitlines() == [
        "error: document Unsafe-Doc version 1 is refused (require_safe_parameters; stored before it was set): "
        "mainSteps[0] (t): parameter 'name' is pasted into the script as text, so a value can run commands; give "
        "it allowedPattern or allowedValues, or interpolationType: ENV_VAR"]
    assert cluster.outpost_json("command", "list", "--output", "json") == []


# ------------------------------------------------------------------------------ schema 1.2, SSM references

PUBLISHED_12 = Path(__file__).parents[1] / "documents" / "ssmdoc_cases" / "published" / "AWS-RunShellScript-1.2.json"


def test_the_published_1_2_run_shell_script_runs_unchanged_and_ssm_references_are_refused(
        fleet: Cluster, tmp_path: Path) -> None:
    """AWS-RunShellScript in its schema 1.2 form, as AWS published it (runtimeConfig, properties id
    0.aws:runShellScript), stored with `document create` and run on real agents: one step, named by its
    id. A {{ssm:NAME}} reference in a value given at send is refused, never passed on as text."""
    c = fleet
    text = PUBLISHED_12.read_text()
    created = json.loads(create_document(c, tmp_path, "Run-Shell-1.2", text, suffix="json").stdout)
    assert created["parameters"] == ["commands", "workingDirectory", "executionTimeout"], created
    assert _show_doc(c, "Run-Shell-1.2", "--content")["content"] == text

    given = json.dumps({"commands": ["echo hello from 1.2", "pwd"], "workingDirectory": [str(tmp_path)],
                        "executionTimeout": ["60"]})
    shown = run(c, "--document", "Run-Shell-1.2", "--parameters", given, "--targets", LIN)
    assert (shown["status"], shown["status_detail"], shown["targets"]) == ("Success", "Success", 2), shown
    for inv in shown["invocations"]:
        assert step_details(inv) == [("0.aws:runShellScript", "Success")], inv
    assert _stdout(c, shown, "lin1") == f"hello from 1.2\n{tmp_path}\n"

    refused = c.outpost("command", "send", "--document", "Run-Shell-1.2", "--targets", LIN, "--parameters",
                        json.dumps({"commands": ["echo {{ssm:/app/db}}"]}), check=False)
    assert refused.returncode == 1, refused.stdout
    assert ("parameters.commands: {{ssm:/app/db}}: no parameter '/app/db' in the parameter store "
            "(outpost parameter put)") in refused.stderr, refused.stderr
