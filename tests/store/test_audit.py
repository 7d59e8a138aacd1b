"""The audit trail at rest, on SQLite and PostgreSQL: appended as a chain, read back as written,
filtered, and appended to by two controllers at once without a fork in the chain."""
from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.model import AuditEntry, AuditOutcome, AuditQuery
from controller.store import Store
from controller.trust.audit import sign_head, verify
from tests.support.keys import fixed_sealer


def entry(i: int, actor: str = "operator/admin", action: str = "command:Send") -> AuditEntry:
    return AuditEntry(at_ms=1000 + i, actor=actor, source_ip="10.0.0.1", action=action,
                      outcome=AuditOutcome.ALLOWED, request_id=f"r{i}", resource="document/x_%",
                      document_version=2, document_sha256="ab" * 32, targets="tag:Env=prod", resolved=3,
                      parameters=(("token", "hmac-sha256:00"), ("who", "ünïcode")), detail=f"call {i}")


def test_records_chain_and_read_back_as_written(store: Store) -> None:
    assert store.audit_tail() is None and store.append_audit([]) is None
    last = store.append_audit([entry(1), entry(2)])
    assert last is not None and last.seq == 2
    last = store.append_audit([entry(3)])
    assert last is not None and last.seq == 3
    records = store.audit_page(AuditQuery())
    assert [r.seq for r in records] == [1, 2, 3]
    assert [r.entry for r in records] == [entry(1), entry(2), entry(3)]
    assert records[1].prev == records[0].digest and store.audit_tail() == records[2]
    key = Ed25519PrivateKey.generate()
    store.add_audit_head(sign_head(key, records[1], 5000))
    store.add_audit_head(sign_head(key, records[1], 6000))  # once a seq
    assert [h.seq for h in store.audit_heads()] == [2]
    assert verify(records, store.audit_heads(), key.public_key()).ok


def test_pages_and_filters(store: Store) -> None:
    store.append_audit([entry(i, actor="operator/alice" if i % 2 else "node/mi-1",
                              action="command:Send" if i % 3 else "node:Enrol") for i in range(1, 11)])
    assert [r.seq for r in store.audit_page(AuditQuery(after_seq=4, limit=3))] == [5, 6, 7]
    assert [r.seq for r in store.audit_page(AuditQuery(actor="operator/alice"))] == [1, 3, 5, 7, 9]
    assert [r.seq for r in store.audit_page(AuditQuery(action="node:*"))] == [3, 6, 9]
    assert [r.seq for r in store.audit_page(AuditQuery(action="command:Send", since_ms=1005, until_ms=1008))] == [5, 7]
    assert store.audit_page(AuditQuery(action="node%*")) == []  # LIKE's own characters match only themselves


def test_two_controllers_appending_at_once_make_one_chain(store: Store, store_url: str) -> None:
    other = Store.open(store_url, fixed_sealer())
    try:
        errors: list[BaseException] = []

        def append(s: Store, who: str) -> None:
            try:
                for i in range(40):
                    s.append_audit([entry(i, actor=who)])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=append, args=(s, w)) for s, w in ((store, "a"), (other, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        records = store.audit_page(AuditQuery(limit=1000))
        assert [r.seq for r in records] == list(range(1, 81))
        assert verify(records, (), Ed25519PrivateKey.generate().public_key()).ok
    finally:
        other.close()


def test_a_send_s_record_is_stored_with_its_command_or_not_at_all(store: Store) -> None:
    from controller.store.errors import UnknownNodes
    from tests.store.test_store import DOC, command, invocations, node
    store.add_node(node("mi-1"))
    sent = entry(1)
    store.create_command(command("c1"), DOC, invocations("c1", ("mi-1",)), audit=[sent])
    assert [r.entry for r in store.audit_page(AuditQuery())] == [sent]
    with pytest.raises(UnknownNodes):
        store.create_command(command("c2"), DOC, invocations("c2", ("mi-404",)), check_nodes=True,
                             audit=[entry(2)])
    assert [r.entry for r in store.audit_page(AuditQuery())] == [sent]  # the refused command left no record
