"""The audit trail's writer on a real SQLite store: records awaited are stored when the await
returns, in the order given, batched; heads are signed every N records and at close; a trail that
cannot be written says so to whoever waits, and keeps going once it can."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.model import AuditEntry, AuditOutcome, AuditQuery
from controller.store.db import Db
from controller.trust import audit_trail
from controller.trust.audit import verify
from controller.trust.audit_trail import AuditTrail, AuditUnavailable, create_audit_key, load_audit_key
from plugins.sdk.errors import ConfigError
from tests.support.databases import sqlite_db


def entry(i: int) -> AuditEntry:
    return AuditEntry(at_ms=i, actor="operator/admin", source_ip="", action="node:List",
                      outcome=AuditOutcome.ALLOWED, request_id=f"r{i}")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    with sqlite_db(tmp_path) as d:
        yield d


def test_awaited_records_are_stored_in_order_and_heads_signed(db: Db) -> None:
    key = Ed25519PrivateKey.generate()

    async def go() -> None:
        trail = AuditTrail(db, key, sign_every_records=10, sign_every_seconds=3600)
        await asyncio.gather(*(trail.record(entry(i)) for i in range(25)))
        stored = await db.run(db.store.audit_page, AuditQuery(limit=100))
        assert [r.entry.request_id for r in stored] == [f"r{i}" for i in range(25)]
        heads = await db.run(db.store.audit_heads)
        assert heads and heads[-1].seq >= 10  # at least one head once ten were stored
        trail.submit(entry(25))
        await trail.close()
        with pytest.raises(AuditUnavailable, match="closed"):
            await trail.record(entry(26))

    asyncio.run(go())
    records = db.store.audit_page(AuditQuery(limit=100))
    heads = db.store.audit_heads()
    assert len(records) == 26 and heads[-1].seq == 26  # close signed the last one
    verdict = verify(records, heads, key.public_key())
    assert verdict.ok and verdict.signed_up_to == 26


def test_a_trail_that_cannot_be_written_refuses_the_waiters_then_recovers(db: Db) -> None:
    async def go() -> None:
        trail = AuditTrail(db, Ed25519PrivateKey.generate())
        db.fence("the database is gone")
        with pytest.raises(AuditUnavailable, match="the database is gone"):
            await trail.record(entry(1))
        db._fenced = ""  # noqa: SLF001 - the database is back
        await trail.record(entry(2))
        await trail.close()

    asyncio.run(go())
    assert [r.entry.request_id for r in db.store.audit_page(AuditQuery())] == ["r2"]


def test_submitted_records_past_the_bound_are_counted_not_kept(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_trail, "MAX_PENDING", 3)

    async def go() -> int:
        trail = AuditTrail(db, Ed25519PrivateKey.generate())
        for i in range(5):
            trail.submit(entry(i))  # no await between: the writer has not run yet
        await trail.close()
        return trail.dropped

    assert asyncio.run(go()) == 2
    assert len(db.store.audit_page(AuditQuery())) == 3


def test_secret_values_are_keyed_hashes(db: Db) -> None:
    key = Ed25519PrivateKey.generate()
    one, other = AuditTrail(db, key), AuditTrail(db, Ed25519PrivateKey.generate())
    assert one.secret("hunter2") == one.secret("hunter2") != one.secret("hunter3")
    assert one.secret("hunter2") != other.secret("hunter2")  # keyed: no table of guesses works across keys
    assert "hunter2" not in one.secret("hunter2") and one.secret("hunter2").startswith("hmac-sha256:")


def test_the_audit_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    key = create_audit_key(tmp_path)
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
    assert load_audit_key(tmp_path).public_key() == key.public_key()
    (tmp_path / "audit.key").write_text("garbage")
    with pytest.raises(ConfigError, match="audit.key: the audit key does not load"):
        load_audit_key(tmp_path)
    fresh = tmp_path / "old"
    fresh.mkdir()
    made = load_audit_key(fresh)  # a directory from before the trail gets one
    assert (fresh / "audit.pub").exists() and load_audit_key(fresh).public_key() == made.public_key()
