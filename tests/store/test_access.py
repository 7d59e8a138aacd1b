"""Operators, certificates, policies and attachments, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from controller.store import Store
from controller.store.access import ADMINISTRATOR_ACCESS, CertificateRecord
from controller.store.errors import Conflict, InUse, NotFound, StoreError
from controller.trust.policy import ADMINISTRATOR_ACCESS as ADMIN_POLICY
from controller.trust.policy import parse_policy

SEND_ONLY = '{"Statement": {"Effect": "Allow", "Action": "command:Send", "Resource": "*"}}'


def test_the_builtin_policy_is_there_and_means_what_the_code_means(store: Store) -> None:
    rec = store.get_policy(ADMINISTRATOR_ACCESS)
    assert rec.builtin and rec.attached_to == ()
    assert parse_policy(rec.document) == ADMIN_POLICY  # the migration's text and the code's constant agree
    with pytest.raises(StoreError, match="built in"):
        store.update_policy(ADMINISTRATOR_ACCESS, SEND_ONLY, 2)
    with pytest.raises(StoreError, match="built in"):
        store.delete_policy(ADMINISTRATOR_ACCESS)


def test_operators_hold_policies_in_the_order_attached(store: Store) -> None:
    store.create_policy("senders", SEND_ONLY, "admin", 1)
    store.create_operator("alice", "admin", 10, ["senders", "senders"])
    assert store.attach_policy(ADMINISTRATOR_ACCESS, "alice", 11) is True
    assert store.get_operator("alice").policies == ("senders", ADMINISTRATOR_ACCESS)
    assert [name for name, _ in store.policies_of("alice")] == ["senders", ADMINISTRATOR_ACCESS]
    assert store.get_policy("senders").attached_to == ("alice",)
    assert store.attach_policy("senders", "alice", 11) is False
    store.detach_policy("senders", "alice")
    assert store.policies_of("alice") == [(ADMINISTRATOR_ACCESS, store.get_policy(ADMINISTRATOR_ACCESS).document)]
    with pytest.raises(NotFound, match="not attached"):
        store.detach_policy("senders", "alice")
    assert [o.name for o in store.list_operators()] == ["alice"]
    assert store.list_operators()[0].policies == (ADMINISTRATOR_ACCESS,)


def test_an_operator_needs_existing_policies_and_a_new_name(store: Store) -> None:
    with pytest.raises(NotFound, match="no policy nosuch"):
        store.create_operator("bob", "admin", 1, ["nosuch"])
    with pytest.raises(NotFound, match="no operator bob"):
        store.get_operator("bob")  # nothing of the failed create stayed
    store.create_operator("bob", "admin", 1)
    with pytest.raises(Conflict, match="already exists"):
        store.create_operator("bob", "admin", 2)
    with pytest.raises(NotFound, match="no operator carol"):
        store.attach_policy(ADMINISTRATOR_ACCESS, "carol", 3)


def test_an_attached_policy_is_not_deleted(store: Store) -> None:
    store.create_policy("senders", SEND_ONLY, "admin", 1)
    with pytest.raises(Conflict, match="already exists"):
        store.create_policy("senders", SEND_ONLY, "admin", 1)
    store.create_operator("alice", "admin", 1, ["senders"])
    with pytest.raises(InUse, match="attached to alice; detach it first"):
        store.delete_policy("senders")
    store.update_policy("senders", SEND_ONLY.replace("Send", "Get"), 5)
    assert store.get_policy("senders").updated_at_ms == 5
    store.detach_policy("senders", "alice")
    store.delete_policy("senders")
    with pytest.raises(NotFound):
        store.get_policy("senders")


def test_revoking_an_operator_revokes_its_certificates_only(store: Store) -> None:
    store.create_operator("alice", "admin", 1)
    store.create_operator("bob", "admin", 1)
    for serial, subject in (("0a", "alice"), ("0b", "alice"), ("0c", "bob")):
        store.record_certificate(CertificateRecord(serial, "operator", subject, 1, 1000, None))
    store.record_certificate(CertificateRecord("0d", "node", "alice", 1, 1000, None))  # a node of the same name
    with pytest.raises(Conflict):
        store.record_certificate(CertificateRecord("0a", "operator", "bob", 1, 1000, None))
    assert sorted(store.revoke_operator("alice", 50)) == ["0a", "0b"]
    assert store.get_operator("alice").revoked_at_ms == 50
    assert store.revoked_serials() == frozenset({"0a", "0b"})
    assert store.revoke_operator("alice", 60) == []  # once
    assert store.get_operator("alice").revoked_at_ms == 50
    assert [c.revoked_at_ms for c in store.certificates_of("operator", "alice")] == [50, 50]
    assert store.revoke_certificates("node", "alice", 70) == ["0d"]
    with pytest.raises(NotFound):
        store.revoke_operator("nosuch", 1)
