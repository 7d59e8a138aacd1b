"""End to end: the audit trail through the real CLI, controller and agent (issue 18, point 3).

Every admin call is on record (allowed, refused, reads too), a send with what it sent (document
version and sha256, targets, how many nodes, parameters with a secret as a keyed hash), its command's
status changes, every enrolment attempt; `outpost audit verify` passes an intact trail and names the
first bad record of one edited, cut or reordered in the database itself.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import AgentSpec, create_document, send, start_fleet, wait_terminal

ALL = "Key=tag:Environment,Values=dev"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("audit"))
    c.init()
    try:
        start_fleet(c, [AgentSpec("web", "Environment=dev")])
        yield c
    finally:
        c.close()


def _export(c: Cluster, *filters: str) -> list[dict]:
    lines = c.outpost("audit", "export", *filters).stdout.splitlines()
    return [json.loads(line) for line in lines]


def _db(c: Cluster) -> Path:
    return c.root / "controller" / "outpost.db"


def test_a_send_is_on_record_with_what_it_sent_and_its_secret_hashed(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    text = ('schemaVersion: "2.2"\n'
            "parameters:\n"
            "  token: {type: String, secret: true, interpolationType: ENV_VAR}\n"
            "  who: {type: String, default: nobody}\n"
            "mainSteps:\n"
            "  - action: aws:runShellScript\n"
            "    name: use\n"
            "    inputs:\n"
            "      runCommand: ['test -n \"$OUTPOST_TOKEN\"']\n")
    create_document(c, tmp_path, "Audit-Token", text)
    cid = send(c, "--document", "Audit-Token", "--parameters", f"token={secret}", "--parameters", "who=ops",
               "--targets", ALL)
    assert wait_terminal(c, cid)["status_detail"] == "Success"

    sends = [r for r in _export(c, "--action", "command:Send") if r["resource"] == "document/Audit-Token"]
    assert [r["outcome"] for r in sends] == ["Succeeded"]  # one record, stored with the command itself
    done = sends[0]
    assert done["actor"] == "operator/admin" and done["sourceIp"] == "127.0.0.1" and done["requestId"]
    assert done["documentVersion"] == 1 and done["resolved"] == 1 and done["targets"] == "tag:Environment=dev"
    assert done["detail"] == f"command {cid}"
    assert len(done["documentSha256"]) == 64 and int(done["documentSha256"], 16) >= 0
    assert done["parameters"]["who"] == "ops"
    assert done["parameters"]["token"].startswith("hmac-sha256:") and secret not in json.dumps(done)

    # the command's status changes, to its end (recorded as they happen, not awaited)
    def statuses() -> list[str]:
        return [r["detail"] for r in _export(c, "--action", "command:Status") if r["resource"] == f"command/{cid}"]
    wait_for(lambda: "Success: Success" in statuses(), 10, "the command's end on record")
    assert statuses()[-1] == "Success: Success"

    # the secret is in no audit record at rest (the rendered document is issue 18's encryption part)
    rows = sqlite3.connect(_db(c)).execute("SELECT * FROM audit_records").fetchall()
    assert secret not in repr(rows)


def test_refusals_reads_and_enrolments_are_on_record(fleet: Cluster) -> None:
    c = fleet
    out = c.root / "bundle-eve"
    c.outpost("operator", "create", "eve", "--out", str(out))
    proc = c.outpost("--config", str(out / "config.yaml"), "node", "list", check=False)
    assert proc.returncode == 1 and "operator eve may not node:List" in proc.stderr

    records = _export(c, "--actor", "operator/eve")
    assert [(r["action"], r["outcome"]) for r in records] == [("node:List", "AccessDenied")]
    assert "may not node:List" in records[0]["detail"]
    created = [r for r in _export(c, "--action", "operator:Create") if r["resource"] == "operator/eve"]
    assert [r["outcome"] for r in created] == ["Allowed", "Succeeded"]
    assert created[1]["detail"].startswith("certificate ") and "issued, valid until" in created[1]["detail"]

    # reads are on record too (the listing above of eve's was refused; admin's is allowed), with the
    # trail's next batch
    c.outpost("node", "list")
    wait_for(lambda: any(r["action"] == "node:List" and r["outcome"] == "Allowed"
                         for r in _export(c, "--actor", "operator/admin")), 10, "admin's node list on record")

    # enrolment: the agent's (a node with its certificate), and a wrong code (anonymous, refused)
    enrolled = _export(c, "--action", "node:Enrol")
    assert any(r["outcome"] == "Succeeded" and r["actor"] == f"node/{c.node_ids['web']}"
               and "certificate" in r["detail"] for r in enrolled)
    act = c.create_activation("Environment=dev", limit=1)
    bad = c.enroll("intruder", type(act)(act.activation_id, "x" * 20, act.ca_fingerprint), check=False)
    assert bad.returncode != 0
    refused = [r for r in _export(c, "--action", "node:Enrol") if r["outcome"] == "AccessDenied"]
    assert refused and refused[-1]["actor"] == "anonymous" and refused[-1]["detail"] == "wrong_code"
    assert refused[-1]["resource"] == f"activation/{act.activation_id}"

    # --since in the future: nothing; an action prefix
    assert _export(c, "--since", "2999-01-01") == []
    assert {r["action"] for r in _export(c, "--action", "operator:*")} <= {"operator:Create", "operator:List",
                                                                           "operator:Get", "operator:Renew"}


def _verify(c: Cluster) -> tuple[int, str]:
    proc = c.outpost("audit", "verify", "--public-key", str(c.root / "controller" / "audit.pub"), check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_verify_names_the_first_record_edited_cut_or_reordered(fleet: Cluster) -> None:
    c = fleet
    c.outpost("node", "list")
    rc, out = _verify(c)
    assert rc == 0 and out.startswith("audit trail intact:"), out
    db = sqlite3.connect(_db(c), timeout=30)
    try:
        (actor,) = db.execute("SELECT actor FROM audit_records WHERE seq = 3").fetchone()
        with db:
            db.execute("UPDATE audit_records SET actor = 'operator/mallory' WHERE seq = 3")
        rc, out = _verify(c)
        assert rc == 1 and "record 3: edited" in out, out
        with db:
            db.execute("UPDATE audit_records SET actor = ? WHERE seq = 3", (actor,))
        assert _verify(c)[0] == 0

        # cut one out: the next one names the gap
        row = db.execute("SELECT * FROM audit_records WHERE seq = 4").fetchone()
        with db:
            db.execute("DELETE FROM audit_records WHERE seq = 4")
        rc, out = _verify(c)
        assert rc == 1 and "record 5: after record 3: record(s) missing" in out, out
        with db:
            db.execute(f"INSERT INTO audit_records VALUES ({','.join('?' * len(row))})", row)

        # reorder two records (swap their contents, seqs kept): the first of them breaks
        a = db.execute("SELECT * FROM audit_records WHERE seq = 5").fetchone()
        b = db.execute("SELECT * FROM audit_records WHERE seq = 6").fetchone()
        with db:
            db.execute("DELETE FROM audit_records WHERE seq IN (5, 6)")
            db.execute(f"INSERT INTO audit_records VALUES ({','.join('?' * len(a))})", (5, *b[1:]))
            db.execute(f"INSERT INTO audit_records VALUES ({','.join('?' * len(b))})", (6, *a[1:]))
        rc, out = _verify(c)
        assert rc == 1 and "record 5:" in out, out
        with db:
            db.execute("DELETE FROM audit_records WHERE seq IN (5, 6)")
            db.executemany(f"INSERT INTO audit_records VALUES ({','.join('?' * len(a))})", [a, b])
        assert _verify(c)[0] == 0
    finally:
        db.close()


def test_reads_can_be_left_off_the_trail(fleet: Cluster) -> None:
    c = fleet
    settings = c.root / "controller" / "controller.yaml"
    text = settings.read_text()
    c.stop_controller()
    settings.write_text(text + "audit_reads: false\n" if "audit_reads" not in text
                        else text.replace("audit_reads: true", "audit_reads: false"))
    try:
        c.start_controller()
        before = len(_export(c))  # this export is a read: not on record
        c.outpost("node", "list")
        c.outpost("document", "list")
        after = _export(c)
        assert len(after) == before, after[before:]
        # a change still is
        c.outpost("operator", "create", "frank", "--out", str(c.root / "bundle-frank"))
        assert [r["outcome"] for r in _export(c, "--action", "operator:Create") if r["resource"] == "operator/frank"] \
            == ["Allowed", "Succeeded"]
    finally:
        c.stop_controller()
        settings.write_text(text)
        c.start_controller()
