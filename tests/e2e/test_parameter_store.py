"""End to end: the parameter store (``outpost parameter put | get | list | delete``) and its
``{{ssm:NAME}}`` / ``{{ssm-secure:NAME}}`` references filled at send, with a real controller and agent
driven through the CLI. A String reaches the node's script; a SecureString reaches it only as a
secret parameter's environment variable, masked in what is shown and scrubbed from the output, and
is in plain text in none of: ``parameter get`` without --with-decryption, ``parameter list``, the
stored command, the audit trail, the logs, the raw database files. An unknown name refuses the send.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.docrun import (
    AgentSpec,
    all_logs_text,
    command_ids,
    create_document,
    output,
    send,
    start_fleet,
    wait_terminal,
)

TARGET = "Key=tag:Role,Values=app"
HIDDEN = "(SecureString: not shown; --with-decryption shows it)"
NAME_VALUE = f"app-{uuid.uuid4().hex[:12]}"
SECRET = f"s3cr3t-{uuid.uuid4().hex}"
ENV_DOC = ('schemaVersion: "2.2"\n'
           "parameters:\n"
           "  pw: {type: String, secret: true, interpolationType: ENV_VAR}\n"
           "mainSteps:\n"
           "  - action: aws:runShellScript\n"
           "    name: login\n"
           "    inputs:\n"
           "      runCommand:\n"
           "        - echo pw={{ pw }}\n"
           '        - echo "env=$OUTPOST_PW" >&2\n'
           '        - test "${#OUTPOST_PW}" = ' + str(len(SECRET)) + " && echo length-ok\n")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("parameter-store"))
    c.init()
    try:
        start_fleet(c, [AgentSpec("app", "Role=app")])
        c.outpost("parameter", "put", "/app/name", "--value", NAME_VALUE, "--description", "the app's name")
        c.outpost("parameter", "put", "/app/db/password", "--value", "first-version-x", "--type", "SecureString")
        yield c
    finally:
        c.close()


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    """The module's fleet, its logs printed when a test fails (tests/e2e/conftest.py)."""
    return fleet_cluster


def _refused(c: Cluster, *argv: str) -> str:
    """``command send ARGV`` is refused and sends nothing; its stderr."""
    before = command_ids(c)
    proc = c.outpost("command", "send", *argv, check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert command_ids(c) == before, "a refused send created a command"
    return proc.stderr


def test_put_needs_overwrite_and_counts_versions(cluster: Cluster) -> None:
    c = cluster
    again = c.outpost("parameter", "put", "/app/db/password", "--value", SECRET, "--type", "SecureString",
                      check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "--overwrite" in again.stderr
    put = c.outpost_json("parameter", "put", "/app/db/password", "--value", SECRET, "--type", "SecureString",
                         "--overwrite")
    assert put == {"name": "/app/db/password", "version": 2}
    reserved = c.outpost("parameter", "put", "/aws/x", "--value", "v", check=False)
    assert reserved.returncode == 1 and "reserved" in reserved.stderr


def test_a_secure_string_is_shown_only_with_decryption(cluster: Cluster) -> None:
    c = cluster
    hidden = c.outpost_json("parameter", "get", "/app/db/password")
    assert hidden["value"] == HIDDEN and hidden["type"] == "SecureString" and hidden["version"] == 2
    assert c.outpost_json("parameter", "get", "/app/db/password", "--with-decryption")["value"] == SECRET
    assert c.outpost_json("parameter", "get", "/app/name")["value"] == NAME_VALUE
    listed = c.outpost_json("parameter", "list", "--path", "/app")
    assert [(p["name"], p["type"]) for p in listed] == [("/app/db/password", "SecureString"), ("/app/name", "String")]
    assert all("value" not in p for p in listed)
    assert SECRET not in c.outpost("parameter", "list").stdout


def test_a_string_reference_reaches_the_script(cluster: Cluster) -> None:
    c = cluster
    cid = send(c, "--document", "AWS-RunShellScript", "--parameters", "commands=echo {{ssm:/app/name}}",
               "--targets", TARGET)
    shown = wait_terminal(c, cid)
    assert shown["status_detail"] == "Success", shown
    assert shown["parameters"] == {"commands": ["echo {{ssm:/app/name}}"]}  # as given: the reference
    rows = output(c, cid, c.node_ids["app"])
    assert rows[0]["stdout"] == NAME_VALUE + "\n", rows


def test_a_secure_reference_is_a_masked_secret(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    create_document(c, tmp_path, "Db-Login", ENV_DOC)
    cid = send(c, "--document", "Db-Login", "--parameters", "pw={{ssm-secure:/app/db/password}}",
               "--targets", TARGET)
    shown = wait_terminal(c, cid)
    assert shown["status_detail"] == "Success", shown
    assert shown["parameters"] == {"pw": ["********"]}
    rows = output(c, cid, c.node_ids["app"])
    assert rows[0]["stdout"] == "pw=********\nlength-ok\n", rows
    assert rows[0]["stderr"] == "env=********\n", rows
    seen = {
        "command output --full": json.dumps(output(c, cid, c.node_ids["app"], "--full")),
        "command show": c.outpost("command", "show", cid, "--output", "json").stdout,
        "command list": c.outpost("command", "list", "--output", "json").stdout,
        "audit list": c.outpost("audit", "list", "--output", "json").stdout,
        "audit export": c.outpost("audit", "export").stdout,
        "logs": all_logs_text(c),
    }
    for where, text in seen.items():
        assert SECRET not in text, f"the SecureString's value appears in {where}"


def test_the_database_files_hold_no_value_in_plain_text(cluster: Cluster) -> None:
    files = {p.name: p.read_bytes() for p in cluster.controller_dir.iterdir() if p.name.startswith("outpost.db")}
    assert "outpost.db" in files
    for name, data in files.items():
        assert SECRET.encode() not in data, name
        assert NAME_VALUE.encode() not in data, name  # every value is sealed, a String's too


def test_a_reference_the_store_does_not_hold_refuses_the_send(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    err = _refused(c, "--document", "AWS-RunShellScript", "--parameters", "commands=echo {{ssm:/app/nope}}",
                   "--targets", TARGET)
    assert "parameters.commands: {{ssm:/app/nope}}: no parameter '/app/nope' in the parameter store" in err, err
    create_document(c, tmp_path, "Uses-Missing", 'schemaVersion: "2.2"\nmainSteps:\n'
                    "  - {action: aws:runShellScript, name: show, inputs: {runCommand: ['echo {{ssm:/app/gone}}']}}\n")
    err = _refused(c, "--document", "Uses-Missing", "--targets", TARGET)
    assert "mainSteps[0].inputs.runCommand[0]: {{ssm:/app/gone}}: no parameter '/app/gone'" in err, err
    err = _refused(c, "--document", "AWS-RunShellScript", "--parameters", "commands=echo {{ssm:/app/db/password}}",
                   "--targets", TARGET)
    assert "is a SecureString: refer to it as {{ssm-secure:/app/db/password}}" in err, err
    err = _refused(c, "--document", "AWS-RunShellScript", "--parameters",
                   "commands=echo {{ssm-secure:/app/db/password}}", "--targets", TARGET)
    assert "can only be a secret parameter's value" in err and SECRET not in err, err


def test_a_document_using_a_secure_value_as_text_is_refused_at_create(cluster: Cluster, tmp_path: Path) -> None:
    proc = create_document(cluster, tmp_path, "Leaky", 'schemaVersion: "2.2"\nmainSteps:\n'
                           "  - {action: aws:runShellScript, name: s, "
                           "inputs: {runCommand: ['echo {{ssm-secure:/app/db/password}}']}}\n", check=False)
    assert proc.returncode == 1 and "can only be a secret parameter's value" in proc.stderr, proc.stderr


def test_delete(cluster: Cluster) -> None:
    c = cluster
    c.outpost("parameter", "put", "/tmp/gone", "--value", "x")
    c.outpost("parameter", "delete", "/tmp/gone")
    proc = c.outpost("parameter", "get", "/tmp/gone", check=False)
    assert proc.returncode == 1 and "no parameter named '/tmp/gone'" in proc.stderr
