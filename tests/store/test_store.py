"""controller.store on SQLite and (when configured) PostgreSQL: see conftest.py."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, Text, UniqueConstraint, inspect, text

from controller.model import (
    ActivationRecord,
    CommandRecord,
    EnrolmentFailure,
    InvocationRecord,
    NodeRecord,
    PingStatus,
    StepOutput,
    StepRecord,
    Tag,
    TagFilter,
    Targets,
)
from controller.store import NotFound, Store, StoreError
from controller.store.errors import ActivationRefused, Conflict
from controller.store.schema import metadata
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.facts import Facts, Platform, PluginInfo
from plugins.sdk.status import Status

NOW = 1_700_000_000_000
HOUR = 3_600_000
DOC = b'{"schemaVersion": "2.2", "mainSteps": []}'
T = TypeVar("T")
TERMINAL = (Status.SUCCESS, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED)


def activation(activation_id: str = "act-1", limit: int = 3, expires_at_ms: int = NOW + HOUR) -> ActivationRecord:
    return ActivationRecord(activation_id=activation_id, code_hash=b"\x00\x01hash", registration_limit=limit,
                            tags=(Tag("env", "prod"), Tag("role", "web")), registrations_count=0,
                            created_at_ms=NOW, expires_at_ms=expires_at_ms, description="web fleet")


def facts(hostname: str = "web-1") -> Facts:
    return Facts(hostname=hostname, os_name="Debian GNU/Linux", os_version="12", platform=Platform.LINUX,
                 architecture="x86_64", ip_addresses=("10.0.0.5", "fe80::1"), agent_version="0.1.0",
                 plugins=(PluginInfo("shell", "1.0", aliases=("aws:runShellScript",)),))


def node(node_id: str = "mi-1", tags: tuple[Tag, ...] = (Tag("role", "web"), Tag("env", "prod"))) -> NodeRecord:
    return NodeRecord(node_id=node_id, facts=facts(), tags=tags, activation_id="act-1",
                      certificate_serial="1f2e3d4c5b6a79880123456789abcdef01234567",
                      registered_at_ms=NOW, last_seen_at_ms=NOW)


def command(command_id: str = "cmd-1", created_at_ms: int = NOW, expires_at_ms: int = NOW + HOUR,
            document: bytes = DOC, target_count: int = 2) -> CommandRecord:
    return CommandRecord(command_id=command_id, document_name="Outpost-RunShellScript",
                         document_sha256=hashlib.sha256(document).digest(),
                         targets=Targets(node_ids=("mi-1", "mi-2"), tags=(TagFilter("env", ("prod", "staging")),)),
                         comment="deploy", requested_by="alice", created_at_ms=created_at_ms,
                         expires_at_ms=expires_at_ms, target_count=target_count)


def invocations(command_id: str, node_ids: tuple[str, ...]) -> list[InvocationRecord]:
    return [InvocationRecord(command_id=command_id, node_id=n) for n in node_ids]


def step(command_id: str, node_id: str, index: int, name: str, status: Status = Status.SUCCESS,
         exit_code: int = 0) -> StepRecord:
    return StepRecord(command_id=command_id, node_id=node_id, step_index=index, step_name=name,
                      action="aws:runShellScript", status=status, exit_code=exit_code,
                      started_at_ms=NOW + index, ended_at_ms=NOW + index + 1)


def with_command(store: Store, command_id: str = "cmd-1", node_ids: tuple[str, ...] = ("mi-2", "mi-1"),
                 **kw: int) -> CommandRecord:
    cmd = command(command_id, target_count=len(node_ids), **kw)
    store.create_command(cmd, DOC, invocations(command_id, node_ids))
    return cmd


def run_threads(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(0..n-1) on n threads released together by a barrier."""
    barrier = threading.Barrier(n)

    def go(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


# -- schema and migrations --------------------------------------------------------------------------

def test_migrate_twice_is_a_noop(store: Store) -> None:
    store.create_activation(activation())
    store.migrate()
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0002"]
    assert store.get_activation("act-1") == activation()


def test_migrated_schema_equals_metadata(store: Store) -> None:
    insp = inspect(store.engine)
    assert set(insp.get_table_names()) - {"alembic_version"} == set(metadata.tables)
    for name, table in metadata.tables.items():
        got = [(c["name"], c["nullable"]) for c in insp.get_columns(name)]
        assert got == [(c.name, c.nullable) for c in table.columns], name
        assert insp.get_pk_constraint(name)["constrained_columns"] == [c.name for c in table.primary_key]
        fks = sorted(([e.parent.name for e in fk.elements], fk.referred_table.name)
                     for fk in table.foreign_key_constraints)
        assert sorted((fk["constrained_columns"], fk["referred_table"]) for fk in insp.get_foreign_keys(name)) == fks
        assert {(ix["name"], tuple(ix["column_names"])) for ix in insp.get_indexes(name)
                if not ix.get("duplicates_constraint")} \
            == {(ix.name, tuple(c.name for c in ix.columns)) for ix in table.indexes}
        assert {(uq["name"], tuple(uq["column_names"])) for uq in insp.get_unique_constraints(name)} \
            == {(uq.name, tuple(c.name for c in uq.columns)) for uq in table.constraints
                if isinstance(uq, UniqueConstraint)}

    # Alembic's own comparison (column types included) finds nothing to change...
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []
        # ...and it does notice drift: a column the migrations never created, a changed type.
        drifted = MetaData(naming_convention=metadata.naming_convention)
        for table in metadata.tables.values():
            table.to_metadata(drifted)
        drifted.tables["nodes"].append_column(Column("extra", Text))
        drifted.tables["commands"].c.target_count.type = Text()
        kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in compare_metadata(ctx, drifted)}
        assert kinds == {"add_column", "modify_type"}


def test_concurrent_migrate_on_a_fresh_database(store_url: str) -> None:
    stores = [Store.open(store_url) for _ in range(4)]
    try:
        run_threads(4, lambda i: stores[i].migrate())
        stores[0].create_activation(activation())
        assert stores[3].list_activations() == [activation()]
    finally:
        for s in stores:
            s.close()


def test_open_rejects_other_databases() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        Store.open("mysql://localhost/outpost")


# -- activations ------------------------------------------------------------------------------------

def test_activation_round_trip_and_list(store: Store) -> None:
    store.create_activation(activation("b"))
    store.create_activation(activation("a"))
    assert store.get_activation("a") == activation("a")
    assert [a.activation_id for a in store.list_activations()] == ["a", "b"]
    with pytest.raises(Conflict):
        store.create_activation(activation("a"))
    with pytest.raises(NotFound):
        store.get_activation("nope")
    with pytest.raises(StoreError, match="unique"):
        store.create_activation(ActivationRecord("dup", b"h", (Tag("a", "1"), Tag("a", "2")), 1, 0, NOW, NOW + 1))


def test_consume_activation_until_exhausted(store: Store) -> None:
    store.create_activation(activation(limit=2))
    assert store.consume_activation("act-1", NOW).registrations_count == 1
    assert store.consume_activation("act-1", NOW).registrations_count == 2
    with pytest.raises(ActivationRefused) as e:
        store.consume_activation("act-1", NOW)
    assert e.value.reason == "exhausted"
    assert isinstance(e.value, StoreError)
    assert store.get_activation("act-1").registrations_count == 2


def test_consume_activation_expired_and_unknown(store: Store) -> None:
    store.create_activation(activation(expires_at_ms=NOW))
    with pytest.raises(ActivationRefused) as e:
        store.consume_activation("act-1", NOW)
    assert e.value.reason == "expired"
    with pytest.raises(ActivationRefused) as e:
        store.consume_activation("other", NOW)
    assert e.value.reason == "unknown_activation"
    assert store.get_activation("act-1").registrations_count == 0


def test_enrolment_failures(store: Store) -> None:
    failures = [EnrolmentFailure("act-1", "wrong_code", "ipv4:10.0.0.9:5123", NOW + 1),
                EnrolmentFailure("junk" * 100, "unknown_activation", "ipv6:[::1]:4000", NOW)]
    for f in failures:
        store.record_enrolment_failure(f)
    assert store.list_enrolment_failures() == [failures[1], failures[0]]


# -- nodes ------------------------------------------------------------------------------------------

def test_node_round_trip_seen_and_connection_lost(store: Store) -> None:
    store.add_node(node("mi-2"))
    store.add_node(node("mi-1", tags=()))
    assert store.get_node("mi-2") == node("mi-2")
    assert [n.node_id for n in store.list_nodes()] == ["mi-1", "mi-2"]
    assert store.list_nodes()[1].tags == (Tag("role", "web"), Tag("env", "prod"))
    with pytest.raises(Conflict):
        store.add_node(node("mi-1"))
    with pytest.raises(StoreError, match="unique"):
        store.add_node(node("mi-3", tags=(Tag("a", "1"), Tag("a", "2"))))

    store.update_node_seen("mi-1", None, PingStatus.ONLINE, NOW + 5)
    got = store.get_node("mi-1")
    assert (got.ping_status, got.last_seen_at_ms, got.facts) == (PingStatus.ONLINE, NOW + 5, facts())
    store.update_node_seen("mi-2", facts("renamed"), PingStatus.ONLINE, NOW + 6)
    assert store.get_node("mi-2").facts.hostname == "renamed"
    with pytest.raises(NotFound):
        store.update_node_seen("mi-9", None, PingStatus.ONLINE, NOW)

    assert store.mark_all_connection_lost() == 2
    assert {n.ping_status for n in store.list_nodes()} == {PingStatus.CONNECTION_LOST}
    assert store.mark_all_connection_lost() == 0


# -- commands and invocations -----------------------------------------------------------------------

def test_create_command_and_list_invocations(store: Store) -> None:
    cmd = with_command(store)
    assert store.get_command("cmd-1") == cmd
    assert store.get_document(cmd.document_sha256) == DOC
    invs = store.list_invocations("cmd-1")
    assert [(i.node_id, i.status, i.exit_code, i.steps) for i in invs] == \
        [("mi-1", Status.PENDING, -1, ()), ("mi-2", Status.PENDING, -1, ())]
    assert store.get_invocation("cmd-1", "mi-2") == invs[1]
    assert store.list_invocations("nope") == []
    with pytest.raises(NotFound):
        store.get_invocation("cmd-1", "mi-9")
    with pytest.raises(NotFound):
        store.get_command("nope")
    with pytest.raises(NotFound):
        store.get_document(b"\x00" * 32)


def test_create_command_is_one_transaction(store: Store) -> None:
    with_command(store)
    other = b"another document"
    dup = command("cmd-1", document=other)
    with pytest.raises(Conflict):
        store.create_command(dup, other, invocations("cmd-1", ("mi-3",)))
    with pytest.raises(NotFound):  # the document insert was rolled back with the command
        store.get_document(dup.document_sha256)
    assert [i.node_id for i in store.list_invocations("cmd-1")] == ["mi-1", "mi-2"]
    with pytest.raises(StoreError, match="sha256"):
        store.create_command(command("cmd-2"), b"tampered", [])


def test_documents_are_stored_once_and_commands_listed_newest_first(store: Store) -> None:
    for n in range(5):
        with_command(store, f"cmd-{n}", created_at_ms=NOW + n)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar_one() == 1
    assert [c.command_id for c in store.list_commands()] == ["cmd-4", "cmd-3", "cmd-2", "cmd-1", "cmd-0"]
    assert [c.command_id for c in store.list_commands(limit=2)] == ["cmd-4", "cmd-3"]


def test_update_command(store: Store) -> None:
    with_command(store)
    store.update_command("cmd-1", Status.SUCCESS, "Success", 2, 0)
    got = store.get_command("cmd-1")
    assert (got.status, got.status_detail, got.completed_count, got.error_count) == (Status.SUCCESS, "Success", 2, 0)
    with pytest.raises(NotFound):
        store.update_command("nope", Status.FAILED, "Failed", 0, 0)


def test_pending_invocations(store: Store) -> None:
    with_command(store, "late", created_at_ms=NOW + 2)
    with_command(store, "early", created_at_ms=NOW + 1)
    with_command(store, "expired", created_at_ms=NOW, expires_at_ms=NOW + 10)
    with_command(store, "elsewhere", node_ids=("mi-7",))
    store.update_invocation("late", "mi-2", Status.IN_PROGRESS, "InProgress")
    assert [i.command_id for i in store.pending_invocations("mi-1", NOW + 10)] == ["early", "late"]
    assert [i.command_id for i in store.pending_invocations("mi-2", NOW + 10)] == ["early"]
    assert [i.command_id for i in store.pending_invocations("mi-2", NOW)] == ["expired", "early"]


def test_expire_undelivered_times_out_only_pending_past_the_deadline(store: Store) -> None:
    with_command(store, "overdue", expires_at_ms=NOW + 10)
    with_command(store, "current", expires_at_ms=NOW + HOUR)
    store.update_invocation("overdue", "mi-1", Status.IN_PROGRESS, "InProgress")  # delivered: it runs on
    assert store.expire_undelivered(NOW + 5, "DeliveryTimedOut") == []
    assert store.expire_undelivered(NOW + 10, "DeliveryTimedOut") == [("overdue", "mi-2")]
    expired = store.get_invocation("overdue", "mi-2")
    assert (expired.status, expired.status_detail, expired.ended_at_ms) == (Status.TIMED_OUT, "DeliveryTimedOut",
                                                                           NOW + 10)
    assert store.get_invocation("overdue", "mi-1").status is Status.IN_PROGRESS
    assert {i.status for i in store.list_invocations("current")} == {Status.PENDING}
    assert store.expire_undelivered(NOW + 20, "DeliveryTimedOut") == []  # nothing twice


def test_update_invocation_honours_the_state_machine(store: Store) -> None:
    with_command(store)
    assert store.update_invocation("cmd-1", "mi-1", Status.IN_PROGRESS, "InProgress", started_at_ms=NOW + 1)
    assert store.update_invocation("cmd-1", "mi-1", Status.SUCCESS, "Success", exit_code=0, ended_at_ms=NOW + 2)
    done = store.get_invocation("cmd-1", "mi-1")
    assert (done.status, done.exit_code, done.started_at_ms, done.ended_at_ms) == (Status.SUCCESS, 0, NOW + 1, NOW + 2)
    assert not store.update_invocation("cmd-1", "mi-1", Status.IN_PROGRESS, "InProgress", started_at_ms=NOW + 9)
    assert not store.update_invocation("cmd-1", "mi-1", Status.FAILED, "Failed", exit_code=1)
    assert store.get_invocation("cmd-1", "mi-1") == done
    assert store.update_invocation("cmd-1", "mi-2", Status.CANCELLED, "Cancelled")  # straight from Pending
    with pytest.raises(NotFound):
        store.update_invocation("cmd-1", "mi-9", Status.SUCCESS, "Success")


# -- steps and output -------------------------------------------------------------------------------

def test_upsert_step_and_invocation_steps(store: Store) -> None:
    with_command(store)
    store.upsert_step(step("cmd-1", "mi-1", 1, "second", Status.IN_PROGRESS, exit_code=-1))
    store.upsert_step(step("cmd-1", "mi-1", 0, "first"))
    store.upsert_step(step("cmd-1", "mi-1", 1, "second", Status.FAILED, exit_code=3))
    inv = store.get_invocation("cmd-1", "mi-1")
    assert inv.steps == (step("cmd-1", "mi-1", 0, "first"), step("cmd-1", "mi-1", 1, "second", Status.FAILED, 3))
    assert store.list_invocations("cmd-1")[0].steps == inv.steps
    assert store.list_invocations("cmd-1")[1].steps == ()
    with pytest.raises(NotFound):
        store.upsert_step(step("cmd-1", "mi-9", 0, "first"))


def test_output_out_of_order_and_redelivered_comes_back_once_in_order(store: Store) -> None:
    with_command(store)
    store.upsert_step(step("cmd-1", "mi-1", 0, "zeta"))
    store.upsert_step(step("cmd-1", "mi-1", 1, "alpha"))
    for seq, data in [(2, b"c"), (0, b"a"), (2, b"c"), (1, b"b"), (0, b"a")]:
        store.append_output("cmd-1", "mi-1", "alpha", "stdout", seq, data)
    store.append_output("cmd-1", "mi-1", "alpha", "stderr", 0, b"warn")
    store.append_output("cmd-1", "mi-1", "alpha", "stdout", 1, b"DIFFERENT")  # redelivery keeps the first
    store.append_output("cmd-1", "mi-1", "orphan", "stderr", 0, b"no step row yet")
    store.append_output("cmd-1", "mi-1", "earlier-orphan", "stdout", 0, b"x")
    assert store.get_output("cmd-1", "mi-1") == [
        StepOutput("zeta", b"", b""),
        StepOutput("alpha", b"abc", b"warn"),
        StepOutput("earlier-orphan", b"x", b""),
        StepOutput("orphan", b"", b"no step row yet"),
    ]
    assert store.get_output("cmd-1", "mi-1", "alpha") == [StepOutput("alpha", b"abc", b"warn")]
    assert store.get_output("cmd-1", "mi-1", "missing") == []
    assert store.get_output("cmd-1", "mi-2") == []
    with pytest.raises(StoreError, match="stream"):
        store.append_output("cmd-1", "mi-1", "alpha", "stdin", 0, b"")
    with pytest.raises(NotFound):
        store.append_output("cmd-1", "mi-9", "alpha", "stdout", 0, b"")


def test_output_chunks_replay_a_whole_command_in_order(store: Store) -> None:
    with_command(store)
    for node_id, step_name, stream, seq in [("mi-2", "s", "stdout", 1), ("mi-1", "s", "stderr", 0),
                                            ("mi-2", "s", "stdout", 0), ("mi-1", "s", "stdout", 0),
                                            ("mi-2", "s", "stdout", 0)]:
        store.append_output("cmd-1", node_id, step_name, stream, seq, f"{node_id}:{stream}:{seq}".encode())
    got = [(n, c.step_name, c.stream, c.seq, c.data) for n, c in store.output_chunks("cmd-1")]
    assert got == [("mi-1", "s", OutputStreamKind.STDERR, 0, b"mi-1:stderr:0"),
                   ("mi-1", "s", OutputStreamKind.STDOUT, 0, b"mi-1:stdout:0"),
                   ("mi-2", "s", OutputStreamKind.STDOUT, 0, b"mi-2:stdout:0"),
                   ("mi-2", "s", OutputStreamKind.STDOUT, 1, b"mi-2:stdout:1")]
    assert all(c.command_id == "cmd-1" for _, c in store.output_chunks("cmd-1"))
    assert store.output_chunks("nope") == []


# -- durability ---------------------------------------------------------------------------------------

def test_reopened_store_sees_everything(store_url: str) -> None:
    first = Store.open(store_url)
    first.migrate()
    first.create_activation(activation())
    first.consume_activation("act-1", NOW)
    first.record_enrolment_failure(EnrolmentFailure("act-1", "bad_csr", "peer", NOW))
    first.add_node(node())
    cmd = with_command(first)
    first.update_invocation("cmd-1", "mi-1", Status.SUCCESS, "Success", exit_code=0)
    first.upsert_step(step("cmd-1", "mi-1", 0, "run"))
    first.append_output("cmd-1", "mi-1", "run", "stdout", 0, b"hello\n")
    snapshot = (first.list_activations(), first.list_enrolment_failures(), first.list_nodes(),
                first.list_commands(), first.list_invocations("cmd-1"), first.get_output("cmd-1", "mi-1"))
    first.close()

    second = Store.open(store_url)
    try:
        second.migrate()
        assert (second.list_activations(), second.list_enrolment_failures(), second.list_nodes(),
                second.list_commands(), second.list_invocations("cmd-1"),
                second.get_output("cmd-1", "mi-1")) == snapshot
        assert snapshot[0][0].registrations_count == 1
        assert second.get_document(cmd.document_sha256) == DOC
    finally:
        second.close()


# -- concurrency --------------------------------------------------------------------------------------

def test_consume_activation_under_contention_respects_the_limit(store: Store) -> None:
    store.create_activation(activation(limit=5))

    def consume(_: int) -> int:
        ok = 0
        for _attempt in range(3):
            try:
                store.consume_activation("act-1", NOW)
                ok += 1
            except ActivationRefused as e:
                assert e.reason == "exhausted"
        return ok

    assert sum(run_threads(8, consume)) == 5
    assert store.get_activation("act-1").registrations_count == 5


def test_concurrent_terminal_updates_apply_exactly_one_status(store: Store) -> None:
    node_ids = tuple(f"mi-{n:02d}" for n in range(12))
    with_command(store, node_ids=node_ids)

    def race(thread: int) -> list[bool]:
        mine = TERMINAL[thread % len(TERMINAL)]
        return [store.update_invocation("cmd-1", n, mine, mine.value, exit_code=thread) for n in node_ids]

    results = run_threads(8, race)
    for col, node_id in enumerate(node_ids):
        final = store.get_invocation("cmd-1", node_id)
        applied = [t for t in range(8) if results[t][col]]
        # Exactly the threads that asked for the winning status succeeded; the rest were refused.
        assert applied == [t for t in range(8) if TERMINAL[t % len(TERMINAL)] is final.status]
        assert final.exit_code in applied
