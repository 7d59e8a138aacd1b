"""The audit trail and the keys at rest: the trail rewritten in the database, a controller started
without its master key, and a NUL in one refused request costing the trail other callers' records."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.dev.cluster import OUTPOST, ROOT
from controller.model import AuditEntry, AuditOutcome, AuditQuery
from controller.server.call_audit import CallAudit, Caller
from controller.store import Store
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail
from controller.trust.policy_eval import ResourceRef
from controller.trust.sealing import MASTER_KEY_FILE
from plugins.sdk.host.clock import now_ms
from tests.security.rig import DEV, SHELL, Rig
from tests.support.cluster import free_port_pair
from tests.support.databases import BACKENDS, empty_database
from tests.support.keys import fixed_sealer


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
