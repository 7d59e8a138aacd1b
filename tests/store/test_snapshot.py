"""Store.command_snapshot: what a watcher that starts now is shown first, in one read."""
from __future__ import annotations

import pytest

from controller.model import InvocationRecord
from controller.store import NotFound, Store
from plugins.sdk.status import Detail
from tests.store.test_store import DOC, NOW, command, invocations, node, step


def test_a_command_snapshot_is_the_command_its_invocations_and_its_output_in_one_read(store: Store) -> None:
    store.add_node(node("mi-1"))
    store.add_node(node("mi-2"))
    store.create_command(command("cmd-1"), DOC, invocations("cmd-1", ("mi-1", "mi-2")))
    store.append_output("cmd-1", "mi-1", "s1", "stdout", 0, b"hello ")
    store.settle([InvocationRecord("cmd-1", "mi-2", Detail.FAILED, 3, NOW, NOW + 5, (step("cmd-1", "mi-2", 0, "s1",
                                                                                           Detail.FAILED, 3),))])
    snap = store.command_snapshot("cmd-1")
    assert snap.command == store.get_command("cmd-1")
    assert list(snap.invocations) == store.list_invocations("cmd-1")
    assert [i.detail for i in snap.invocations] == [Detail.PENDING, Detail.FAILED]
    assert list(snap.output) == store.output_chunks("cmd-1")
    assert [(n, c.data) for n, c in snap.output] == [("mi-1", b"hello ")]
    with pytest.raises(NotFound):
        store.command_snapshot("nope")
