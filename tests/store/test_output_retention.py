"""Output kept whole and compressed once an invocation settles; history pruned after retention."""
from __future__ import annotations

import zlib

from sqlalchemy import func, select

from controller.model import InvocationRecord, StepRecord
from controller.store import Store
from controller.store.places import blob_place
from controller.store.schema import documents, output_chunks, step_outputs
from plugins.sdk.status import Detail
from plugins.sdk.wire.results import StepReport
from tests.store.test_store import DOC, NOW, command, node


def _setup(store: Store, command_id: str = "c1", created: int = NOW) -> None:
    for n in ("mi-1", "mi-2"):
        try:
            store.add_node(node(n))
        except Exception:  # noqa: BLE001 - already there
            pass
    store.create_command(command(command_id, created_at_ms=created), DOC,
                         [InvocationRecord(command_id, "mi-1"), InvocationRecord(command_id, "mi-2")])


def _count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_compaction_keeps_output_whole_compressed_and_ignores_replays(store: Store) -> None:
    _setup(store)
    store.upsert_step(StepRecord("mi-1", StepReport("c1", 0, "a", "shell", Detail.SUCCESS, 0, NOW, NOW)))
    for seq, data in enumerate([b"hello ", b"world\n", b"x" * 10_000]):
        store.append_output("c1", "mi-1", "a", "stdout", seq, data)
    store.append_output("c1", "mi-1", "a", "stderr", 0, b"warn\n")
    before = store.get_output("c1", "mi-1")
    assert store.compact_output("c1", "mi-1") == 4
    assert _count(store, output_chunks) == 0 and _count(store, step_outputs) == 2
    assert store.get_output("c1", "mi-1") == before
    with store.engine.connect() as conn:
        blob, size = conn.execute(select(step_outputs.c.data, step_outputs.c.size)
                                  .where(step_outputs.c.stream == "stdout")).one()
    assert b"hello" not in blob  # sealed
    plain = store.sealer.open(blob, blob_place("c1", "mi-1", "a", "stdout"))
    assert size == 10_012 and len(blob) < 300 and zlib.decompress(plain) == before[0].stdout
    store.append_output("c1", "mi-1", "a", "stdout", 1, b"world\n")  # a replay after a controller restart
    assert store.get_output("c1", "mi-1") == before and _count(store, output_chunks) == 0
    replay = store.output_chunks("c1")
    assert [(n, c.step_name, c.stream.value, c.seq) for n, c in replay] == [("mi-1", "a", "stderr", -1),
                                                                             ("mi-1", "a", "stdout", -1)]
    assert replay[1][1].data == before[0].stdout
    assert store.compact_output("c1", "mi-1") == 0


def test_views_come_from_compacted_output_too(store: Store) -> None:
    _setup(store)
    store.append_output("c1", "mi-2", "a", "stdout", 0, b"y" * 24_001)
    store.compact_output("c1", "mi-2")
    view = store.output_views("c1", "mi-2")["a"]
    assert len(view.stdout) == 24_000 and view.stdout_truncated and not view.stderr_truncated


def test_prune_deletes_only_old_terminal_commands_with_everything_they_hold(store: Store) -> None:
    _setup(store, "old", NOW)
    _setup(store, "old-running", NOW)
    _setup(store, "new", NOW + 10 * 86_400_000)
    for cid in ("old", "new"):
        store.update_command(cid, Detail.SUCCESS, 2, 0)
        store.append_output(cid, "mi-1", "a", "stdout", 0, b"out")
        store.upsert_step(StepRecord("mi-1", StepReport(cid, 0, "a", "shell", Detail.SUCCESS, 0, NOW, NOW)))
    cutoff = NOW + 86_400_000
    assert store.prune_commands(cutoff, batch=1) == 1
    assert store.prune_commands(cutoff, batch=1) == 0  # the running one stays whatever its age
    assert {c.command_id for c in store.list_commands()} == {"old-running", "new"}
    assert store.list_invocations("old") == [] and store.get_output("new", "mi-1")[0].stdout == b"out"
    assert _count(store, documents) == 1  # still used by the others
    store.update_command("old-running", Detail.FAILED, 2, 2)
    store.prune_commands(NOW + 100 * 86_400_000)
    assert store.list_commands() == [] and _count(store, documents) == 0


def test_batched_acceptances_steps_and_settlements(store: Store) -> None:
    from controller.model import InvocationRecord

    _setup(store)
    store.transition_invocations("c1", ["mi-1", "mi-2"], Detail.IN_PROGRESS)
    store.accept_many([("c1", "mi-1", NOW + 5), ("c1", "mi-2", NOW + 6), ("c1", "mi-9", NOW)])
    assert [(i.detail, i.started_at_ms) for i in store.list_invocations("c1")] == [
        (Detail.IN_PROGRESS, NOW + 5), (Detail.IN_PROGRESS, NOW + 6)]
    step = StepRecord("mi-1", StepReport("c1", 0, "a", "shell", Detail.SUCCESS, 0, NOW, NOW))
    store.upsert_steps([step, StepRecord("mi-9", StepReport("c1", 0, "a", "shell", Detail.SUCCESS, 0, NOW, NOW))])
    store.append_output("c1", "mi-1", "a", "stdout", 0, b"out")
    done = [InvocationRecord("c1", "mi-1", Detail.SUCCESS, 0, NOW + 5, NOW + 7, (step,)),
            InvocationRecord("c1", "mi-2", Detail.FAILED, 3, NOW + 6, NOW + 8, ()),
            InvocationRecord("c1", "mi-9", Detail.SUCCESS, 0, NOW, NOW, ())]
    assert store.settle(done) == [Detail.SUCCESS, Detail.FAILED, None]
    first, second = store.list_invocations("c1")
    assert (first.detail, first.exit_code, first.ended_at_ms, len(first.steps)) == (Detail.SUCCESS, 0, NOW + 7, 1)
    assert (second.detail, second.exit_code) == (Detail.FAILED, 3)
    assert _count(store, output_chunks) == 0 and store.get_output("c1", "mi-1")[0].stdout == b"out"
    # a repeated or backwards report changes nothing
    assert store.settle([InvocationRecord("c1", "mi-1", Detail.FAILED, 9, 0, 0, ())]) == [Detail.SUCCESS]
    store.accept_many([("c1", "mi-1", NOW + 99)])
    assert store.get_invocation("c1", "mi-1").started_at_ms == NOW + 5
