"""controller.store on SQLite and (when configured) PostgreSQL: see conftest.py."""
from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, Text, UniqueConstraint, event, inspect, text

from controller.model import (
    ActivationRecord,
    CommandRecord,
    EnrolmentFailure,
    InvocationRecord,
    NodeRecord,
    PingStatus,
    StepOutput,
    StepOutputView,
    StepRecord,
    Tag,
    TagFilter,
    Targets,
)
from controller.store import NotFound, Store, StoreError, UnknownNodes
from controller.store.errors import ActivationRefused, Conflict
from controller.store.presence import Sighting
from controller.store.schema import metadata
from controller.store.store import MIGRATIONS_DIR
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.facts import Facts, Platform, PluginInfo
from plugins.sdk.status import Detail, Status, can_transition
from plugins.sdk.wire.results import StepReport
from tests.support.keys import fixed_sealer

NOW = 1_700_000_000_000
HOUR = 3_600_000
DOC = b'{"schemaVersion": "2.2", "mainSteps": []}'
T = TypeVar("T")
# What an agent's report can settle an invocation as (plugins.sdk.status.RAN, InvalidPlatform aside).
TERMINAL = (Detail.SUCCESS, Detail.FAILED, Detail.EXECUTION_TIMED_OUT, Detail.CANCELLED)


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


def step(command_id: str, node_id: str, index: int, name: str, detail: Detail = Detail.SUCCESS,
         exit_code: int = 0) -> StepRecord:
    return StepRecord(node_id, StepReport(command_id=command_id, step_index=index, step_name=name,
                                          action="aws:runShellScript", detail=detail, exit_code=exit_code,
                                          started_at_ms=NOW + index, ended_at_ms=NOW + index + 1))


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
        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
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
    stores = [Store.open(store_url, fixed_sealer()) for _ in range(4)]
    try:
        run_threads(4, lambda i: stores[i].migrate())
        stores[0].create_activation(activation())
        assert stores[3].list_activations() == [activation()]
    finally:
        for s in stores:
            s.close()


def test_open_rejects_other_databases() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        Store.open("mysql://localhost/outpost", fixed_sealer())


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

    assert store.record_sightings([Sighting("mi-1", PingStatus.ONLINE, NOW + 5)]) == {"mi-1"}
    got = store.get_node("mi-1")
    assert (got.ping_status, got.last_seen_at_ms, got.facts) == (PingStatus.ONLINE, NOW + 5, facts())
    # in order per node: a Hello's facts stay when a heartbeat follows it in the same batch; unknown
    # nodes are reported and dropped
    assert store.record_sightings([
        Sighting("mi-2", PingStatus.CONNECTION_LOST, NOW + 1),
        Sighting("mi-2", PingStatus.ONLINE, NOW + 6, facts("renamed")),
        Sighting("mi-9", PingStatus.ONLINE, NOW, facts("ghost")),
        Sighting("mi-1", PingStatus.CONNECTION_LOST, NOW + 7),
        Sighting("mi-2", PingStatus.ONLINE, NOW + 8)]) == {"mi-1", "mi-2"}
    got = store.get_node("mi-2")
    assert (got.ping_status, got.last_seen_at_ms, got.facts.hostname) == (PingStatus.ONLINE, NOW + 8, "renamed")
    assert store.get_node("mi-1").ping_status is PingStatus.CONNECTION_LOST
    assert [n.node_id for n in store.list_nodes()] == ["mi-1", "mi-2"]
    assert store.record_sightings([]) == set()
    store.record_sightings([Sighting("mi-1", PingStatus.ONLINE, NOW + 9)])

    # what targeting reads: ids and tags in order, nothing else
    assert store.tagged_nodes() == [("mi-1", ()), ("mi-2", (Tag("role", "web"), Tag("env", "prod")))]
    assert store.mark_all_connection_lost() == 2
    assert {n.ping_status for n in store.list_nodes()} == {PingStatus.CONNECTION_LOST}
    assert store.mark_all_connection_lost() == 0


# -- commands and invocations -----------------------------------------------------------------------

def test_create_command_and_list_invocations(store: Store) -> None:
    cmd = with_command(store)
    assert store.get_command("cmd-1") == cmd
    assert store.get_document(cmd.document_sha256) == DOC
    invs = store.list_invocations("cmd-1")
    assert [(i.node_id, i.detail, i.status, i.exit_code, i.started_at_ms, i.ended_at_ms, i.steps) for i in invs] == \
        [("mi-1", Detail.PENDING, Status.PENDING, -1, 0, 0, ()), ("mi-2", Detail.PENDING, Status.PENDING, -1, 0, 0, ())]
    assert (cmd.detail, cmd.status) == (Detail.PENDING, Status.PENDING)
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


def test_create_command_checks_named_nodes_first(store: Store) -> None:
    store.add_node(node("mi-1"))
    store.add_node(node("mi-2"))
    with pytest.raises(UnknownNodes) as exc:
        store.create_command(command("cmd-1"), DOC, invocations("cmd-1", ("mi-1", "mi-7", "mi-9")), check_nodes=True)
    assert exc.value.node_ids == {"mi-7", "mi-9"}
    with pytest.raises(NotFound):  # nothing of it was stored
        store.get_command("cmd-1")
    store.create_command(command("cmd-1"), DOC, invocations("cmd-1", ("mi-2", "mi-1")), check_nodes=True)
    assert [i.node_id for i in store.list_invocations("cmd-1")] == ["mi-1", "mi-2"]


def test_documents_are_stored_once_and_commands_listed_newest_first(store: Store) -> None:
    for n in range(5):
        with_command(store, f"cmd-{n}", created_at_ms=NOW + n)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar_one() == 1
    assert [c.command_id for c in store.list_commands()] == ["cmd-4", "cmd-3", "cmd-2", "cmd-1", "cmd-0"]
    assert [c.command_id for c in store.list_commands(limit=2)] == ["cmd-4", "cmd-3"]


def test_command_round_trips_every_field(store: Store) -> None:
    cmd = dataclasses.replace(
        command("cmd-9", target_count=3),
        targets=Targets(node_ids=("mi-1",), tags=(TagFilter("env", ("prod",)),), group="web", all=True),
        detail=Detail.IN_PROGRESS, completed_count=1, error_count=1, delivery_timed_out_count=1,
        max_concurrency="10%", max_errors="2", document_version=4,
        parameters={"commands": ("echo a", "echo b"), "token": ("********",), "none": ()},
        cancel_requested=True)
    store.create_command(cmd, DOC, invocations("cmd-9", ("mi-1",)))
    got = store.get_command("cmd-9")
    assert got == cmd
    assert got.status is Status.IN_PROGRESS
    assert store.list_commands() == [cmd]


def test_update_command(store: Store) -> None:
    with_command(store)
    store.update_command("cmd-1", Detail.SUCCESS, 2, 0)
    got = store.get_command("cmd-1")
    assert (got.detail, got.status, got.completed_count, got.error_count, got.delivery_timed_out_count) == \
        (Detail.SUCCESS, Status.SUCCESS, 2, 0, 0)
    # the status is derived from the detail: Incomplete is a Success, DeliveryTimedOut a TimedOut
    store.update_command("cmd-1", Detail.INCOMPLETE, 2, 1, 0)
    got = store.get_command("cmd-1")
    assert (got.detail, got.status, got.completed_count, got.error_count) == (Detail.INCOMPLETE, Status.SUCCESS, 2, 1)
    store.update_command("cmd-1", Detail.DELIVERY_TIMED_OUT, 2, 0, delivery_timed_out_count=2)
    got = store.get_command("cmd-1")
    assert (got.detail, got.status, got.delivery_timed_out_count) == (Detail.DELIVERY_TIMED_OUT, Status.TIMED_OUT, 2)
    with store.engine.connect() as conn:  # both columns are written, the status derived
        assert conn.execute(text("SELECT status, status_detail FROM commands")).one() == ("TimedOut",
                                                                                         "DeliveryTimedOut")
    assert (got.document_name, got.targets, got.target_count) == ("Outpost-RunShellScript", command().targets, 2)
    with pytest.raises(NotFound):
        store.update_command("nope", Detail.FAILED, 0, 0)


def test_request_cancel(store: Store) -> None:
    with_command(store)
    with_command(store, "cmd-2")
    assert not store.get_command("cmd-1").cancel_requested
    store.request_cancel("cmd-1")
    store.request_cancel("cmd-1")  # asking twice is fine
    assert store.get_command("cmd-1").cancel_requested
    assert not store.get_command("cmd-2").cancel_requested
    assert store.get_command("cmd-1").detail is Detail.PENDING  # only the flag: the dispatcher moves it
    with pytest.raises(NotFound):
        store.request_cancel("nope")


def test_active_commands_are_the_non_terminal_ones_oldest_first(store: Store) -> None:
    for n, detail in enumerate(Detail):
        with_command(store, f"cmd-{n:02d}", created_at_ms=NOW + 100 - n)  # newest first by id
        if detail is not Detail.PENDING:
            store.update_command(f"cmd-{n:02d}", detail, 0, 0)
    with_command(store, "cmd-tie-b", created_at_ms=NOW)
    with_command(store, "cmd-tie-a", created_at_ms=NOW)
    active = store.active_commands()
    expected = sorted([(NOW + 100 - n, f"cmd-{n:02d}") for n, d in enumerate(Detail) if not d.terminal]
                      + [(NOW, "cmd-tie-a"), (NOW, "cmd-tie-b")])
    assert [(c.created_at_ms, c.command_id) for c in active] == expected
    assert {c.detail for c in active} == {Detail.PENDING, Detail.IN_PROGRESS, Detail.DELAYED, Detail.CANCELLING}
    assert active[-1] == store.get_command(active[-1].command_id)


def test_active_commands_of_an_empty_or_finished_store(store: Store) -> None:
    assert store.active_commands() == []
    with_command(store)
    store.update_command("cmd-1", Detail.INCOMPLETE, 2, 1)  # a Success status, and terminal
    assert store.active_commands() == []


def test_undelivered_invocations(store: Store) -> None:
    with_command(store, "late", created_at_ms=NOW + 2)
    with_command(store, "early", created_at_ms=NOW + 1)
    with_command(store, "expired", created_at_ms=NOW, expires_at_ms=NOW + 10)
    with_command(store, "elsewhere", node_ids=("mi-7",))
    with_command(store, "held", created_at_ms=NOW + 3)
    # Pending (not dispatched yet, rate control) is never handed to the agent
    assert store.undelivered_invocations("mi-1", NOW) == []
    for cid, nid in [("late", "mi-1"), ("late", "mi-2"), ("early", "mi-1"), ("early", "mi-2"),
                     ("expired", "mi-1"), ("expired", "mi-2"), ("elsewhere", "mi-7")]:
        assert store.update_invocation(cid, nid, Detail.IN_PROGRESS)  # dispatched, not yet accepted
    assert store.update_invocation("held", "mi-1", Detail.DELAYED)  # the node was offline
    assert store.update_invocation("late", "mi-2", Detail.IN_PROGRESS, started_at_ms=NOW + 5)  # accepted
    assert store.update_invocation("early", "mi-2", Detail.SUCCESS, started_at_ms=NOW + 5, ended_at_ms=NOW + 6)
    got = store.undelivered_invocations("mi-1", NOW + 10)
    assert [(i.command_id, i.detail) for i in got] == [
        ("early", Detail.IN_PROGRESS), ("late", Detail.IN_PROGRESS), ("held", Detail.DELAYED)]
    assert all(i.node_id == "mi-1" and i.started_at_ms == 0 for i in got)
    assert got[0] == store.get_invocation("early", "mi-1")
    assert store.undelivered_invocations("mi-2", NOW + 10) == []  # accepted, done or expired
    # a command still deliverable until its expiry (exclusive)
    assert [i.command_id for i in store.undelivered_invocations("mi-2", NOW + 9)] == ["expired"]
    assert [i.command_id for i in store.undelivered_invocations("mi-1", NOW)] == ["expired", "early", "late", "held"]
    assert [i.command_id for i in store.undelivered_invocations("mi-7", NOW)] == ["elsewhere"]
    assert store.undelivered_invocations("mi-9", NOW) == []
    # steps come with them
    store.upsert_step(step("held", "mi-1", 0, "run", Detail.IN_PROGRESS, -1))
    assert store.undelivered_invocations("mi-1", NOW + 10)[-1].steps == (
        step("held", "mi-1", 0, "run", Detail.IN_PROGRESS, -1),)


def test_node_invocations(store: Store) -> None:
    with_command(store, "b", created_at_ms=NOW + 2)
    with_command(store, "a", created_at_ms=NOW + 1)
    with_command(store, "c", created_at_ms=NOW + 3)
    assert store.update_invocation("a", "mi-1", Detail.IN_PROGRESS, started_at_ms=NOW)
    assert store.update_invocation("b", "mi-1", Detail.CANCELLING) is False  # Pending -> Cancelling is no edge
    assert store.update_invocation("b", "mi-1", Detail.IN_PROGRESS)
    assert store.update_invocation("b", "mi-1", Detail.CANCELLING)
    assert store.update_invocation("c", "mi-1", Detail.SUCCESS, exit_code=0)
    store.upsert_step(step("a", "mi-1", 0, "run"))
    running = store.node_invocations("mi-1", [Detail.IN_PROGRESS, Detail.CANCELLING])
    assert [(i.command_id, i.node_id, i.detail) for i in running] == [
        ("a", "mi-1", Detail.IN_PROGRESS), ("b", "mi-1", Detail.CANCELLING)]
    assert running[0].steps == ()  # without steps
    assert running[0].started_at_ms == NOW
    assert [i.command_id for i in store.node_invocations("mi-1", [Detail.PENDING])] == []
    assert [i.command_id for i in store.node_invocations("mi-2", [Detail.PENDING])] == ["a", "b", "c"]
    assert store.node_invocations("mi-1", []) == []
    assert store.node_invocations("mi-9", list(Detail)) == []


def test_expire_undelivered_times_out_only_undelivered_past_the_deadline(store: Store) -> None:
    nodes_ = ("mi-1", "mi-2", "mi-3", "mi-4", "mi-5")
    with_command(store, "overdue", node_ids=nodes_, expires_at_ms=NOW + 10)
    with_command(store, "current", node_ids=nodes_, expires_at_ms=NOW + HOUR)
    for cid in ("overdue", "current"):
        assert store.update_invocation(cid, "mi-1", Detail.IN_PROGRESS, started_at_ms=NOW + 1)  # accepted: runs on
        assert store.update_invocation(cid, "mi-2", Detail.IN_PROGRESS)  # sent, never accepted
        assert store.update_invocation(cid, "mi-3", Detail.DELAYED)  # held for an offline node
        assert store.update_invocation(cid, "mi-5", Detail.FAILED, exit_code=1)  # already over
        # mi-4 stays Pending (never sent)
    assert store.expire_undelivered(NOW + 5) == []
    assert sorted(store.expire_undelivered(NOW + 10)) == [("overdue", "mi-2"), ("overdue", "mi-3"),
                                                        ("overdue", "mi-4")]
    for nid in ("mi-2", "mi-3", "mi-4"):
        expired = store.get_invocation("overdue", nid)
        assert (expired.detail, expired.status, expired.ended_at_ms, expired.exit_code) == (
            Detail.DELIVERY_TIMED_OUT, Status.TIMED_OUT, NOW + 10, -1)
    assert store.get_invocation("overdue", "mi-1").detail is Detail.IN_PROGRESS
    assert store.get_invocation("overdue", "mi-5").detail is Detail.FAILED
    assert [i.detail for i in store.list_invocations("current")] == [
        Detail.IN_PROGRESS, Detail.IN_PROGRESS, Detail.DELAYED, Detail.PENDING, Detail.FAILED]
    assert store.expire_undelivered(NOW + 20) == []  # nothing twice
    # the agent's own report of having run it still wins over the delivery timeout
    assert store.update_invocation("overdue", "mi-2", Detail.SUCCESS, exit_code=0, started_at_ms=NOW + 11,
                                   ended_at_ms=NOW + 12)
    assert store.get_invocation("overdue", "mi-2").detail is Detail.SUCCESS


def test_update_invocation_honours_the_state_machine(store: Store) -> None:
    with_command(store)
    assert store.update_invocation("cmd-1", "mi-1", Detail.IN_PROGRESS)
    assert store.update_invocation("cmd-1", "mi-1", Detail.IN_PROGRESS, started_at_ms=NOW + 1)  # a repeat updates
    assert store.get_invocation("cmd-1", "mi-1").started_at_ms == NOW + 1
    assert store.update_invocation("cmd-1", "mi-1", Detail.SUCCESS, exit_code=0, ended_at_ms=NOW + 2)
    done = store.get_invocation("cmd-1", "mi-1")
    assert (done.detail, done.status, done.exit_code, done.started_at_ms, done.ended_at_ms) == (
        Detail.SUCCESS, Status.SUCCESS, 0, NOW + 1, NOW + 2)
    assert not store.update_invocation("cmd-1", "mi-1", Detail.IN_PROGRESS, started_at_ms=NOW + 9)
    assert not store.update_invocation("cmd-1", "mi-1", Detail.FAILED, exit_code=1)
    assert not store.update_invocation("cmd-1", "mi-1", Detail.DELIVERY_TIMED_OUT, ended_at_ms=NOW + 9)
    assert store.get_invocation("cmd-1", "mi-1") == done
    assert not store.update_invocation("cmd-1", "mi-2", Detail.CANCELLING)  # nothing to cancel on a node yet
    assert store.get_invocation("cmd-1", "mi-2").detail is Detail.PENDING
    assert store.update_invocation("cmd-1", "mi-2", Detail.CANCELLED)  # straight from Pending
    assert store.get_invocation("cmd-1", "mi-2").status is Status.CANCELLED
    with pytest.raises(NotFound):
        store.update_invocation("cmd-1", "mi-9", Detail.SUCCESS)


def test_update_invocation_follows_can_transition_for_every_pair(store: Store) -> None:
    """Each (current, new) pair: the store agrees with plugins.sdk.status.can_transition."""
    pairs = [(a, b) for a in Detail for b in Detail]
    node_ids = tuple(f"mi-{n:03d}" for n in range(len(pairs)))
    with_command(store, node_ids=node_ids)
    for nid, (current, _new) in zip(node_ids, pairs, strict=True):
        with store.engine.begin() as conn:  # put the row in ``current`` whatever the edges
            conn.execute(text("UPDATE invocations SET status = :s, status_detail = :d WHERE node_id = :n"),
                         {"s": current.status.value, "d": current.value, "n": nid})
    for nid, (current, new) in zip(node_ids, pairs, strict=True):
        allowed = store.update_invocation("cmd-1", nid, new, exit_code=7)
        assert allowed == can_transition(current, new), (current, new)
        got = store.get_invocation("cmd-1", nid)
        assert (got.detail, got.exit_code) == ((new, 7) if allowed else (current, -1)), (current, new)


# -- moving many invocations at once ------------------------------------------------------------------

def _force(store: Store, command_id: str, node_id: str, detail: Detail) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE invocations SET status = :s, status_detail = :d "
                          "WHERE command_id = :c AND node_id = :n"),
                     {"s": detail.status.value, "d": detail.value, "c": command_id, "n": node_id})


def test_transition_invocations_moves_only_along_allowed_edges(store: Store) -> None:
    node_ids = tuple(f"mi-{d.value}" for d in Detail)
    with_command(store, node_ids=node_ids)
    with_command(store, "other", node_ids=node_ids)
    for d, nid in zip(Detail, node_ids, strict=True):
        _force(store, "cmd-1", nid, d)
    for target in (Detail.CANCELLED, Detail.TERMINATED, Detail.DELAYED, Detail.CANCELLING):
        with_command(store, f"to-{target.value}", node_ids=node_ids)
        for d, nid in zip(Detail, node_ids, strict=True):
            _force(store, f"to-{target.value}", nid, d)
        moved = store.transition_invocations(f"to-{target.value}", list(node_ids) + ["mi-unknown"], target,
                                             ended_at_ms=NOW + 7)
        expected = [nid for d, nid in zip(Detail, node_ids, strict=True)
                    if d is not target and can_transition(d, target)]
        assert sorted(moved) == sorted(expected), target
        assert len(moved) == len(set(moved))
        for d, nid in zip(Detail, node_ids, strict=True):
            got = store.get_invocation(f"to-{target.value}", nid)
            if nid in expected:
                assert (got.detail, got.status, got.ended_at_ms) == (target, target.status, NOW + 7), (d, target)
            else:  # not moved, and untouched (a row already in ``target`` is not reported as moved)
                assert (got.detail, got.ended_at_ms) == (d, 0), (d, target)
    # other commands' invocations on the same nodes were left alone
    assert {i.node_id: i.detail for i in store.list_invocations("cmd-1")} == dict(zip(node_ids, Detail, strict=True))
    assert {i.detail for i in store.list_invocations("other")} == {Detail.PENDING}


def test_transition_invocations_keeps_ended_at_unless_given(store: Store) -> None:
    with_command(store, node_ids=("mi-1", "mi-2", "mi-3"))
    assert store.update_invocation("cmd-1", "mi-1", Detail.IN_PROGRESS, started_at_ms=NOW)
    assert sorted(store.transition_invocations("cmd-1", ["mi-1", "mi-2"], Detail.DELAYED)) == ["mi-1", "mi-2"]
    got = store.get_invocation("cmd-1", "mi-1")
    assert (got.detail, got.status, got.started_at_ms, got.ended_at_ms) == (Detail.DELAYED, Status.DELAYED, NOW, 0)
    assert store.transition_invocations("cmd-1", ["mi-1", "mi-2"], Detail.DELAYED) == []  # already there
    assert store.transition_invocations("cmd-1", [], Detail.CANCELLED) == []
    assert store.transition_invocations("nope", ["mi-1"], Detail.CANCELLED) == []
    assert store.get_invocation("cmd-1", "mi-3").detail is Detail.PENDING


def test_transition_invocations_moves_thousands_in_batches(store: Store) -> None:
    node_ids = [f"mi-{n:04d}" for n in range(1234)]
    with_command(store, node_ids=tuple(node_ids))
    _force(store, "cmd-1", "mi-0600", Detail.SUCCESS)  # terminal: stays
    moved = store.transition_invocations("cmd-1", node_ids, Detail.TERMINATED, ended_at_ms=NOW)
    assert sorted(moved) == [n for n in node_ids if n != "mi-0600"]
    details = {i.node_id: i.detail for i in store.list_invocations("cmd-1")}
    assert details.pop("mi-0600") is Detail.SUCCESS
    assert set(details.values()) == {Detail.TERMINATED}


def test_transition_invocations_is_one_transaction(store: Store) -> None:
    """A failure after the first batch leaves every invocation as it was."""
    node_ids = [f"mi-{n:04d}" for n in range(1200)]  # three batches of at most 500
    with_command(store, node_ids=tuple(node_ids))
    updates = []

    def fail_on_second_update(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INVOCATIONS"):
            updates.append(statement)
            if len(updates) == 2:
                raise RuntimeError("injected failure")

    event.listen(store.engine, "before_cursor_execute", fail_on_second_update)
    try:
        with pytest.raises(Exception, match="injected failure"):
            store.transition_invocations("cmd-1", node_ids, Detail.CANCELLED, ended_at_ms=NOW)
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_second_update)
    assert len(updates) == 2  # the first batch had been written when it failed
    assert {(i.detail, i.ended_at_ms) for i in store.list_invocations("cmd-1")} == {(Detail.PENDING, 0)}
    assert sorted(store.transition_invocations("cmd-1", node_ids, Detail.CANCELLED)) == node_ids


def test_concurrent_transitions_move_each_invocation_once(store: Store) -> None:
    """Racing moves to different terminal details: each invocation ends in exactly one of them, and
    is reported moved by exactly the call that put it there."""
    node_ids = [f"mi-{n:02d}" for n in range(40)]
    with_command(store, node_ids=tuple(node_ids))
    # terminal details with no edge out of them (DeliveryTimedOut has some: the agent's report wins)
    targets = (Detail.CANCELLED, Detail.TERMINATED, Detail.UNDELIVERABLE, Detail.ACCESS_DENIED)
    assert not any(can_transition(a, b) for a in targets for b in targets if a is not b)
    moved = run_threads(len(targets), lambda t: store.transition_invocations(
        "cmd-1", node_ids[t:] + node_ids[:t], targets[t]))
    final = {i.node_id: i.detail for i in store.list_invocations("cmd-1")}
    for nid in node_ids:
        winners = [targets[t] for t in range(len(targets)) if nid in moved[t]]
        assert winners == [final[nid]], nid


# -- steps and output -------------------------------------------------------------------------------

def test_upsert_step_and_invocation_steps(store: Store) -> None:
    with_command(store)
    store.upsert_step(step("cmd-1", "mi-1", 1, "second", Detail.IN_PROGRESS, exit_code=-1))
    store.upsert_step(step("cmd-1", "mi-1", 0, "first"))
    store.upsert_step(step("cmd-1", "mi-1", 1, "second", Detail.FAILED, exit_code=3))
    store.upsert_step(step("cmd-1", "mi-1", 2, "third", Detail.SKIPPED, exit_code=-1))
    store.upsert_step(step("cmd-1", "mi-1", 3, "slow", Detail.EXECUTION_TIMED_OUT, exit_code=-1))
    inv = store.get_invocation("cmd-1", "mi-1")
    assert inv.steps == (step("cmd-1", "mi-1", 0, "first"), step("cmd-1", "mi-1", 1, "second", Detail.FAILED, 3),
                         step("cmd-1", "mi-1", 2, "third", Detail.SKIPPED, -1),
                         step("cmd-1", "mi-1", 3, "slow", Detail.EXECUTION_TIMED_OUT, -1))
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


def test_output_views_cut_at_24000_and_8000_characters(store: Store) -> None:
    with_command(store)
    cases = {  # step: (stdout, stderr)
        "exact": ("o" * 24_000, "e" * 8_000),
        "over": ("o" * 23_999 + "XY", "e" * 7_999 + "XY"),
        "small": ("hi\n", ""),
        "wide": ("é" * 24_000, "€" * 8_000),  # characters, not bytes (2 and 3 bytes each)
        "wide-over": ("é" * 24_001, "€" * 8_001),
    }
    for index, (name, (out, err)) in enumerate(cases.items()):
        store.upsert_step(step("cmd-1", "mi-1", index, name))
        for stream, text_ in (("stdout", out), ("stderr", err)):
            data = text_.encode()
            for seq, start in enumerate(range(0, len(data), 1001)):  # chunks split inside characters
                store.append_output("cmd-1", "mi-1", name, stream, seq, data[start:start + 1001])
    views = store.output_views("cmd-1", "mi-1")
    assert list(views) == list(cases)
    assert views["exact"] == StepOutputView("exact", "o" * 24_000, "e" * 8_000, False, False)
    assert views["over"] == StepOutputView("over", "o" * 23_999 + "X", "e" * 7_999 + "X", True, True)
    assert views["small"] == StepOutputView("small", "hi\n", "", False, False)
    assert views["wide"] == StepOutputView("wide", "é" * 24_000, "€" * 8_000, False, False)
    assert views["wide-over"] == StepOutputView("wide-over", "é" * 24_000, "€" * 8_000, True, True)
    # the full output stays retrievable
    full = {o.step_name: o for o in store.get_output("cmd-1", "mi-1")}
    assert full["over"].stdout.decode() == cases["over"][0]
    assert full["wide-over"].stderr.decode() == cases["wide-over"][1]
    assert store.output_views("cmd-1", "mi-2") == {}


def test_output_views_of_invalid_utf8_replace_it(store: Store) -> None:
    with_command(store)
    store.append_output("cmd-1", "mi-1", "bin", "stdout", 0, b"ok\xff\xfe")
    store.append_output("cmd-1", "mi-1", "bin", "stderr", 0, b"\xc3")  # a cut-off character
    assert store.output_views("cmd-1", "mi-1") == {
        "bin": StepOutputView("bin", "ok\ufffd\ufffd", "\ufffd", False, False)}


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
    first = Store.open(store_url, fixed_sealer())
    first.migrate()
    first.create_activation(activation())
    first.consume_activation("act-1", NOW)
    first.record_enrolment_failure(EnrolmentFailure("act-1", "bad_csr", "peer", NOW))
    first.add_node(node())
    cmd = with_command(first)
    first.update_invocation("cmd-1", "mi-1", Detail.SUCCESS, exit_code=0)
    first.update_command("cmd-1", Detail.IN_PROGRESS, 1, 0)
    first.request_cancel("cmd-1")
    first.upsert_step(step("cmd-1", "mi-1", 0, "run"))
    first.append_output("cmd-1", "mi-1", "run", "stdout", 0, b"hello\n")
    snapshot = (first.list_activations(), first.list_enrolment_failures(), first.list_nodes(),
                first.list_commands(), first.list_invocations("cmd-1"), first.get_output("cmd-1", "mi-1"),
                first.active_commands())
    first.close()

    second = Store.open(store_url, fixed_sealer())
    try:
        second.migrate()
        assert (second.list_activations(), second.list_enrolment_failures(), second.list_nodes(),
                second.list_commands(), second.list_invocations("cmd-1"),
                second.get_output("cmd-1", "mi-1"), second.active_commands()) == snapshot
        assert snapshot[0][0].registrations_count == 1
        assert snapshot[4][0].detail is Detail.SUCCESS
        assert [(c.command_id, c.detail, c.cancel_requested) for c in snapshot[6]] == [
            ("cmd-1", Detail.IN_PROGRESS, True)]
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
        return [store.update_invocation("cmd-1", n, mine, exit_code=thread) for n in node_ids]

    results = run_threads(8, race)
    for col, node_id in enumerate(node_ids):
        final = store.get_invocation("cmd-1", node_id)
        applied = [t for t in range(8) if results[t][col]]
        # Exactly the threads that asked for the winning detail succeeded; the rest were refused.
        assert applied == [t for t in range(8) if TERMINAL[t % len(TERMINAL)] is final.detail]
        assert final.exit_code in applied
