"""A command's invocations a page at a time, each page one read: Store.replay_page (what a watcher
that starts now is shown first) and Store.invocation_page (GetCommand's pages, with output previews)."""
from __future__ import annotations

import pytest

from controller.model import InvocationRecord, ReplayPage
from controller.store import Store, StoreError
from plugins.sdk.status import Detail
from tests.store.test_store import DOC, NOW, command, invocations, node, step


def test_replay_pages_are_the_invocations_and_their_output_a_page_at_a_time(store: Store) -> None:
    ids = ("mi-1", "mi-2", "mi-3")
    for n in ids:
        store.add_node(node(n))
    store.create_command(command("cmd-1"), DOC, invocations("cmd-1", ids))
    store.append_output("cmd-1", "mi-1", "s1", "stdout", 0, b"hello ")
    store.append_output("cmd-1", "mi-3", "s1", "stdout", 0, b"three")
    store.append_output("cmd-1", "mi-2", "s1", "stderr", 0, b"two")  # settled below: kept whole (seq -1)
    store.settle([InvocationRecord("cmd-1", "mi-2", Detail.FAILED, 3, NOW, NOW + 5, (step("cmd-1", "mi-2", 0, "s1",
                                                                                           Detail.FAILED, 3),))])
    store.append_output("cmd-1", "mi-2", "s1", "stderr", 1, b"late")  # a replay after settling: dropped
    first, second = store.replay_page("cmd-1", "", 2), store.replay_page("cmd-1", "mi-2", 2)
    assert [i.node_id for i in first.invocations] == ["mi-1", "mi-2"]
    assert [i.node_id for i in second.invocations] == ["mi-3"]
    assert [*first.invocations, *second.invocations] == store.list_invocations("cmd-1")
    assert [*first.output, *second.output] == store.output_chunks("cmd-1")
    assert [(n, c.seq, c.data) for n, c in first.output] == [("mi-1", 0, b"hello "), ("mi-2", -1, b"two")]
    assert store.replay_page("cmd-1", "mi-3", 2) == store.replay_page("nope", "", 2) == ReplayPage((), ())
    with pytest.raises(StoreError, match="limit must be positive"):
        store.replay_page("cmd-1", "", 0)


def test_a_pages_previews_are_its_nodes_output_views(store: Store) -> None:
    for n in ("mi-1", "mi-2", "mi-3"):
        store.add_node(node(n))
    store.create_command(command("cmd-1"), DOC, invocations("cmd-1", ("mi-1", "mi-2", "mi-3")))
    store.append_output("cmd-1", "mi-1", "s2", "stdout", 0, b"live ")  # chunks of a running step, no row yet
    store.append_output("cmd-1", "mi-1", "s2", "stdout", 1, b"output")
    store.append_output("cmd-1", "mi-2", "s1", "stderr", 0, b"x" * 9_000)  # settled: compacted, view cut
    store.settle([InvocationRecord("cmd-1", "mi-2", Detail.FAILED, 3, NOW, NOW + 5,
                                   (step("cmd-1", "mi-2", 0, "s1", Detail.FAILED, 3), step("cmd-1", "mi-2", 1, "s0")))])
    store.upsert_steps([step("cmd-1", "mi-1", 0, "s1")])  # a step without output
    views = store.invocation_page("cmd-1", "", 10).views
    assert views == {n: v for n in ("mi-1", "mi-2", "mi-3") if (v := store.output_views("cmd-1", n))}
    assert list(views["mi-1"]) == ["s1", "s2"] and views["mi-1"]["s2"].stdout == "live output"
    assert list(views["mi-2"]) == ["s1", "s0"] and views["mi-2"]["s1"].stderr_truncated
    assert "mi-3" not in views and store.invocation_page("nope", "", 10).views == {}


def test_invocation_pages_carry_their_steps_and_previews_and_cover_the_command_once(store: Store) -> None:
    ids = ("mi-1", "mi-2", "mi-3", "mi-4", "mi-5")
    for n in ids:
        store.add_node(node(n))
    store.create_command(command("cmd-1"), DOC, invocations("cmd-1", ids))
    for n in ("mi-2", "mi-3", "mi-5"):
        store.upsert_steps([step("cmd-1", n, 0, "s1")])
        store.append_output("cmd-1", n, "s1", "stdout", 0, f"hello from {n}".encode())
    whole = store.list_invocations("cmd-1")
    views = {n: v for n in ids if (v := store.output_views("cmd-1", n))}
    pages, after = [], ""
    while (page := store.invocation_page("cmd-1", after, 2)).invocations:
        pages.append(page)
        after = page.invocations[-1].node_id
    assert [[i.node_id for i in p.invocations] for p in pages] == [["mi-1", "mi-2"], ["mi-3", "mi-4"], ["mi-5"]]
    assert [i for p in pages for i in p.invocations] == whole
    assert {n: v for p in pages for n, v in p.views.items()} == views
    assert pages[1].views["mi-3"]["s1"].stdout == "hello from mi-3" and "mi-2" not in pages[1].views
    assert store.invocation_page("nope", "", 5).invocations == ()
    with pytest.raises(StoreError, match="limit must be positive"):
        store.invocation_page("cmd-1", "", 0)
