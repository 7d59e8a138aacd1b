"""Store.deregister_node and delete_activation on SQLite and PostgreSQL: a node's certificates revoked
(the one it holds too, when it was enrolled before node certificates were recorded), the node and its
tags gone, cancels owed to it forgotten, in one transaction; a second call is NotFound."""
from __future__ import annotations

from dataclasses import replace

import pytest

from controller.store import NotFound, Store
from controller.store.access import CertificateRecord
from tests.store.test_store import NOW, activation, node, with_command

SERIAL = "1f2e3d4c5b6a79880123456789abcdef01234567"


def test_a_node_enrolled_with_its_certificate_is_revoked_and_removed(store: Store) -> None:
    store.add_node(node("mi-1"), CertificateRecord(SERIAL, "node", "mi-1", NOW, NOW + 7 * 86_400_000, None))
    store.add_node(replace(node("mi-2"), certificate_serial="ABC123"))  # enrolled before certificates were recorded
    with_command(store, "cmd-1", ("mi-1", "mi-2"))
    store.owe_cancels("cmd-1", ["mi-1", "mi-2"], NOW)
    assert store.deregister_node("mi-1", NOW + 5) == [SERIAL]
    assert [(c.serial, c.revoked_at_ms) for c in store.certificates_of("node", "mi-1")] == [(SERIAL, NOW + 5)]
    assert SERIAL in store.revoked_serials()
    assert [n.node_id for n in store.list_nodes()] == ["mi-2"]
    assert store.owed_cancels() == [("cmd-1", "mi-2")]
    with pytest.raises(NotFound, match="no node mi-1"):
        store.deregister_node("mi-1", NOW + 6)
    assert store.deregister_node("mi-2", NOW + 7) == ["abc123"]  # its node row's serial, recorded revoked now
    assert "abc123" in store.revoked_serials()
    assert store.list_nodes() == []


def test_a_deleted_activation_is_gone(store: Store) -> None:
    store.create_activation(activation("act-1"))
    assert store.delete_activation("act-1").activation_id == "act-1"
    assert store.list_activations() == []
    with pytest.raises(NotFound, match="no activation act-1"):
        store.delete_activation("act-1")
