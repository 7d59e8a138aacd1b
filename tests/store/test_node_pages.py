"""Store.list_nodes by pages: keyset by node id, each node with its own tags."""
from __future__ import annotations

import pytest

from controller.model import Tag
from controller.store import Store, StoreError
from tests.store.test_store import node


def test_pages_by_node_id_carry_each_nodes_own_tags(store: Store) -> None:
    ids = ["mi-b", "mi-a", "mi-d", "mi-c", "mi-e"]
    for i, node_id in enumerate(ids):
        store.add_node(node(node_id, tags=(Tag("n", str(i)), Tag("env", node_id))))
    everything = store.list_nodes()
    assert [n.node_id for n in everything] == sorted(ids)
    pages, after = [], ""
    while page := store.list_nodes(after, 2):
        pages.append([n.node_id for n in page])
        after = page[-1].node_id
    assert pages == [["mi-a", "mi-b"], ["mi-c", "mi-d"], ["mi-e"]]
    assert [n for p in (store.list_nodes("", 2), store.list_nodes("mi-b", 2), store.list_nodes("mi-d", 2))
            for n in p] == everything
    assert store.list_nodes("mi-b", 1)[0].tags == (Tag("n", "3"), Tag("env", "mi-c"))
    assert store.list_nodes("mi-e") == [] and store.list_nodes("mi-bb", 1)[0].node_id == "mi-c"
    with pytest.raises(StoreError, match="limit must be positive"):
        store.list_nodes("", 0)


def test_get_nodes_returns_the_registered_ones_among_many_ids_by_node_id(store: Store) -> None:
    for node_id in ("mi-c", "mi-a", "mi-b"):
        store.add_node(node(node_id, tags=(Tag("name", node_id),)))
    asked = [f"mi-x{i:04d}" for i in range(1200)] + ["mi-c", "mi-a", "mi-c"]  # beyond one IN list; a repeat
    got = store.get_nodes(asked)
    assert [n.node_id for n in got] == ["mi-a", "mi-c"]
    assert [n.tags for n in got] == [(Tag("name", "mi-a"),), (Tag("name", "mi-c"),)]
    assert got == [n for n in store.list_nodes() if n.node_id in ("mi-a", "mi-c")]
    assert store.get_nodes([]) == []
