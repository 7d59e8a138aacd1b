"""Named versioned documents, target groups and node tags (store mixins), and migration 0002, on
SQLite and (when configured) PostgreSQL: see conftest.py."""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from alembic import command as alembic_command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from controller.model import NodeRecord, Tag, TagFilter, Targets
from controller.store import NotFound, Store, StoreError
from controller.store.documents import (
    BuiltinDocument,
    DocumentRecord,
    DocumentTables,
    parse_version_selector,
)
from controller.store.engine import write_tx
from controller.store.errors import Conflict
from controller.store.groups import GroupRecord, GroupTables
from controller.store.nodetags import NodeTagTables, TagLimitExceeded
from controller.store.store import MIGRATIONS_DIR
from plugins.sdk.facts import Facts, Platform
from tests.store.test_store import run_threads
from tests.support.keys import fixed_sealer

NOW = 1_700_000_000_000
T = TypeVar("T")

if all(issubclass(Store, m) for m in (DocumentTables, GroupTables, NodeTagTables)):
    _TestStore = Store  # the mixins are in Store's bases already
else:
    class _TestStore(DocumentTables, GroupTables, NodeTagTables, Store):  # type: ignore[no-redef]
        pass


@pytest.fixture
def ds(store_url: str) -> Iterator[_TestStore]:
    s = _TestStore.open(store_url, fixed_sealer())
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def yaml_doc(text_: str = "echo hi") -> bytes:
    return (f"schemaVersion: '2.2'\ndescription: test\nmainSteps:\n- action: aws:runShellScript\n"
            f"  name: run\n  inputs:\n    runCommand: ['{text_}']\n").encode()


def put(s: _TestStore, name: str, content: bytes, *, create: bool, builtin: bool = False, fmt: str = "YAML",
        who: str = "alice", at: int = NOW) -> DocumentRecord:
    return s.put_document(name, content, fmt, hashlib.sha256(content).hexdigest(), f"desc of {name}", who, at,
                          create=create, builtin=builtin)


def node(node_id: str, tags: tuple[Tag, ...] = ()) -> NodeRecord:
    f = Facts(hostname=node_id, os_name="Debian", os_version="12", platform=Platform.LINUX,
              architecture="x86_64", ip_addresses=(), agent_version="0.1.0", plugins=())
    return NodeRecord(node_id=node_id, facts=f, tags=tags, activation_id="act-1", certificate_serial="01",
                      registered_at_ms=NOW, last_seen_at_ms=NOW)


# -- documents: versions and selectors -------------------------------------------------------------

def test_create_then_updates_make_new_versions_default_stays(ds: _TestStore) -> None:
    v1 = put(ds, "Deploy", yaml_doc("v1"), create=True, at=NOW)
    assert (v1.version, v1.latest_version, v1.default_version) == (1, 1, 1)
    assert v1 == DocumentRecord(name="Deploy", version=1, latest_version=1, default_version=1,
                                content=yaml_doc("v1"), format="YAML",
                                sha256=hashlib.sha256(yaml_doc("v1")).hexdigest(), description="desc of Deploy",
                                created_at_ms=NOW, created_by="alice", builtin=False)
    v2 = put(ds, "Deploy", yaml_doc("v2"), create=False, who="bob", at=NOW + 1)
    v3 = put(ds, "Deploy", b'{"schemaVersion": "2.2"}', create=False, fmt="JSON", at=NOW + 2)
    assert (v2.version, v2.latest_version, v2.default_version, v2.created_by) == (2, 2, 1, "bob")
    assert (v3.version, v3.latest_version, v3.default_version, v3.format) == (3, 3, 1, "JSON")

    assert ds.get_document_version("Deploy", "$DEFAULT").content == yaml_doc("v1")
    assert ds.get_document_version("Deploy", "").version == 1
    assert ds.get_document_version("Deploy").version == 1
    latest = ds.get_document_version("Deploy", "$LATEST")
    assert (latest.version, latest.latest_version, latest.default_version) == (3, 3, 1)
    assert ds.get_document_version("Deploy", "2") == dataclasses.replace(v2, latest_version=3)


@pytest.mark.parametrize("selector", ["0", "-1", "1.0", "latest", "$latest", "x", "٣", " 1x"])
def test_bad_selectors(ds: _TestStore, selector: str) -> None:
    put(ds, "Deploy", yaml_doc(), create=True)
    with pytest.raises(StoreError, match="version must be") as info:
        ds.get_document_version("Deploy", selector)
    assert not isinstance(info.value, NotFound)


def test_parse_version_selector() -> None:
    assert parse_version_selector("") == "$DEFAULT"
    assert parse_version_selector("$DEFAULT") == "$DEFAULT"
    assert parse_version_selector("$LATEST") == "$LATEST"
    assert parse_version_selector("12") == 12


def test_not_found_names_document_and_version(ds: _TestStore) -> None:
    with pytest.raises(NotFound, match="no document Nope"):
        ds.get_document_version("Nope", "$LATEST")
    put(ds, "Deploy", yaml_doc(), create=True)
    with pytest.raises(NotFound, match="document Deploy has no version 7"):
        ds.get_document_version("Deploy", "7")


def test_create_and_update_preconditions(ds: _TestStore) -> None:
    with pytest.raises(NotFound, match="no document Deploy"):
        put(ds, "Deploy", yaml_doc(), create=False)
    put(ds, "Deploy", yaml_doc(), create=True)
    with pytest.raises(Conflict, match="already exists"):
        put(ds, "Deploy", yaml_doc("again"), create=True)
    assert ds.get_document_version("Deploy", "$LATEST").version == 1  # the refused puts left nothing


def test_put_checks_format_and_hash(ds: _TestStore) -> None:
    with pytest.raises(StoreError, match="format"):
        put(ds, "Deploy", yaml_doc(), create=True, fmt="TOML")
    with pytest.raises(StoreError, match="does not match sha256"):
        ds.put_document("Deploy", yaml_doc(), "YAML", "00" * 32, "", "alice", NOW, create=True)
    with pytest.raises(NotFound):
        ds.get_document_version("Deploy")


def test_list_documents_shows_default_versions_by_name(ds: _TestStore) -> None:
    put(ds, "b-doc", yaml_doc("b1"), create=True)
    put(ds, "a-doc", yaml_doc("a1"), create=True)
    put(ds, "a-doc", yaml_doc("a2"), create=False)
    put(ds, "gone", yaml_doc(), create=True)
    ds.delete_document("gone")
    listed = ds.list_documents()
    assert [(d.name, d.version, d.latest_version, d.default_version) for d in listed] == \
        [("a-doc", 1, 2, 1), ("b-doc", 1, 1, 1)]
    ds.set_default_version("a-doc", 2)
    assert [(d.name, d.version) for d in ds.list_documents()] == [("a-doc", 2), ("b-doc", 1)]


def test_set_default_version(ds: _TestStore) -> None:
    put(ds, "Deploy", yaml_doc("v1"), create=True)
    put(ds, "Deploy", yaml_doc("v2"), create=False)
    rec = ds.set_default_version("Deploy", 2)
    assert (rec.version, rec.default_version, rec.latest_version, rec.content) == (2, 2, 2, yaml_doc("v2"))
    assert ds.get_document_version("Deploy").version == 2
    put(ds, "Deploy", yaml_doc("v3"), create=False)
    assert ds.get_document_version("Deploy").version == 2  # an update does not move the default
    with pytest.raises(NotFound, match="document Deploy has no version 4"):
        ds.set_default_version("Deploy", 4)
    with pytest.raises(NotFound, match="no document Other"):
        ds.set_default_version("Other", 1)


def test_delete_keeps_versions_and_recreate_continues_numbering(ds: _TestStore) -> None:
    put(ds, "Deploy", yaml_doc("v1"), create=True)
    put(ds, "Deploy", yaml_doc("v2"), create=False)
    ds.delete_document("Deploy")
    with pytest.raises(NotFound):
        ds.get_document_version("Deploy")
    with pytest.raises(NotFound):
        ds.delete_document("Deploy")
    with pytest.raises(NotFound):
        put(ds, "Deploy", yaml_doc("v3"), create=False)
    with pytest.raises(NotFound):
        ds.set_default_version("Deploy", 1)
    with pytest.raises(NotFound):
        ds.delete_document("Never")
    # Still there for commands that ran it.
    assert ds.get_document_version("Deploy", "2", include_deleted=True).content == yaml_doc("v2")
    again = put(ds, "Deploy", yaml_doc("new"), create=True)
    assert (again.version, again.latest_version, again.default_version) == (3, 3, 3)
    assert ds.get_document_version("Deploy", "1").content == yaml_doc("v1")


# -- documents: built-ins ----------------------------------------------------------------------------

def test_builtin_documents_are_protected_from_operators(ds: _TestStore) -> None:
    b = put(ds, "Outpost-RunShellScript", yaml_doc(), create=True, builtin=True, who="outpost")
    assert (b.version, b.default_version, b.builtin) == (1, 1, True)
    with pytest.raises(BuiltinDocument, match="Outpost-RunShellScript is built in: it cannot be changed"):
        put(ds, "Outpost-RunShellScript", yaml_doc("mine"), create=False)
    with pytest.raises(BuiltinDocument, match="built in"):
        put(ds, "Outpost-RunShellScript", yaml_doc("mine"), create=True)
    with pytest.raises(BuiltinDocument, match="cannot be deleted"):
        ds.delete_document("Outpost-RunShellScript")
    with pytest.raises(BuiltinDocument, match="cannot be changed"):
        ds.set_default_version("Outpost-RunShellScript", 1)
    assert ds.get_document_version("Outpost-RunShellScript", "$LATEST") == b
    assert [d.builtin for d in ds.list_documents()] == [True]


def test_seeding_is_idempotent_and_adds_versions_for_new_content(ds: _TestStore) -> None:
    first = put(ds, "Outpost-RunShellScript", yaml_doc("v1"), create=False, builtin=True)
    assert put(ds, "Outpost-RunShellScript", yaml_doc("v1"), create=True, builtin=True) == first
    second = put(ds, "Outpost-RunShellScript", yaml_doc("v2"), create=False, builtin=True)
    assert (second.version, second.default_version, second.builtin) == (2, 2, True)
    ds.delete_document("Outpost-RunShellScript", builtin=True)
    assert ds.list_documents() == []
    back = put(ds, "Outpost-RunShellScript", yaml_doc("v2"), create=False, builtin=True)  # same content: undeleted
    assert (back.version, back.latest_version) == (2, 2)
    assert [d.name for d in ds.list_documents()] == ["Outpost-RunShellScript"]


def test_seeding_does_not_take_over_an_operator_document(ds: _TestStore) -> None:
    put(ds, "Outpost-Thing", yaml_doc(), create=True)
    with pytest.raises(Conflict, match="not built in"):
        put(ds, "Outpost-Thing", yaml_doc("x"), create=False, builtin=True)
    assert ds.get_document_version("Outpost-Thing").builtin is False


# -- documents: concurrency --------------------------------------------------------------------------

def test_concurrent_updates_get_distinct_consecutive_versions(ds: _TestStore) -> None:
    put(ds, "Deploy", yaml_doc("v1"), create=True)
    threads, each = 8, 3

    def update(i: int) -> list[int]:
        return [put(ds, "Deploy", yaml_doc(f"t{i}-{k}"), create=False).version for k in range(each)]

    versions = sorted(v for vs in run_threads(threads, update) for v in vs)
    assert versions == list(range(2, 2 + threads * each))
    latest = ds.get_document_version("Deploy", "$LATEST")
    assert latest.latest_version == 1 + threads * each
    assert ds.get_document_version("Deploy").version == 1
    # Each version holds the content of the put that got that number.
    contents = {ds.get_document_version("Deploy", str(v)).content for v in versions}
    assert len(contents) == threads * each


def test_concurrent_creates_of_one_name_make_exactly_one(ds: _TestStore) -> None:
    def create(i: int) -> str:
        try:
            put(ds, "Deploy", yaml_doc(f"t{i}"), create=True, who=f"op{i}")
            return "created"
        except Conflict:
            return "conflict"

    outcomes = run_threads(6, create)
    assert sorted(outcomes) == ["conflict"] * 5 + ["created"]
    assert ds.get_document_version("Deploy", "$LATEST").version == 1


def test_concurrent_seeding_creates_one_version(ds: _TestStore) -> None:
    recs = run_threads(4, lambda _i: put(ds, "Outpost-Seed", yaml_doc(), create=False, builtin=True))
    assert {(r.version, r.latest_version) for r in recs} == {(1, 1)}


# -- groups ------------------------------------------------------------------------------------------

def test_groups_create_replace_list_delete(ds: _TestStore) -> None:
    web = Targets(tags=(TagFilter("Role", ("web", "api")),))
    assert ds.put_group("web", web, NOW) == GroupRecord("web", web, NOW)
    ids = Targets(node_ids=("mi-1", "mi-2"), tags=(TagFilter("env", ("prod",)),))
    ds.put_group("a-ids", ids, NOW + 5)
    assert ds.get_group("a-ids") == GroupRecord("a-ids", ids, NOW + 5)
    replaced = Targets(tags=(TagFilter("Role", ("db",)),))
    assert ds.put_group("web", replaced, NOW + 10) == GroupRecord("web", replaced, NOW)  # created_at kept
    assert [g.name for g in ds.list_groups()] == ["a-ids", "web"]
    ds.delete_group("web")
    with pytest.raises(NotFound, match="no group web"):
        ds.get_group("web")
    with pytest.raises(NotFound, match="no group web"):
        ds.delete_group("web")
    assert ds.list_groups() == [GroupRecord("a-ids", ids, NOW + 5)]


# -- node tags ---------------------------------------------------------------------------------------

def test_set_node_tags_replaces_in_place_appends_and_removes(ds: _TestStore) -> None:
    ds.add_node(node("mi-1", (Tag("Role", "web"), Tag("env", "prod"), Tag("team", "a"))))
    got = ds.set_node_tags("mi-1", (Tag("env", "staging"), Tag("zone", "eu")), ("Role", "absent"))
    assert got == (Tag("env", "staging"), Tag("team", "a"), Tag("zone", "eu"))
    assert ds.get_node("mi-1").tags == got
    assert ds.set_node_tags("mi-1", (), ("env", "team", "zone")) == ()
    assert ds.get_node("mi-1").tags == ()
    assert ds.set_node_tags("mi-1", (Tag("Role", ""),), ()) == (Tag("Role", ""),)


def test_set_node_tags_refusals(ds: _TestStore) -> None:
    with pytest.raises(NotFound, match="no node mi-9"):
        ds.set_node_tags("mi-9", (Tag("a", "b"),), ())
    ds.add_node(node("mi-1", (Tag("a", "1"),)))
    with pytest.raises(StoreError, match="unique"):
        ds.set_node_tags("mi-1", (Tag("k", "1"), Tag("k", "2")), ())
    with pytest.raises(StoreError, match="both set and removed"):
        ds.set_node_tags("mi-1", (Tag("k", "1"),), ("k",))
    with pytest.raises(TagLimitExceeded, match="at most 3 tags"):
        ds.set_node_tags("mi-1", (Tag("b", "1"), Tag("c", "1"), Tag("d", "1")), (), max_tags=3)
    assert ds.get_node("mi-1").tags == (Tag("a", "1"),)  # nothing applied
    assert ds.set_node_tags("mi-1", (Tag("b", "1"), Tag("c", "1")), (), max_tags=3) == \
        (Tag("a", "1"), Tag("b", "1"), Tag("c", "1"))


def test_concurrent_tagging_of_one_node_loses_nothing(ds: _TestStore) -> None:
    ds.add_node(node("mi-1"))
    run_threads(8, lambda i: ds.set_node_tags("mi-1", (Tag(f"k{i}", str(i)),), ()))
    assert sorted(t.key for t in ds.get_node("mi-1").tags) == [f"k{i}" for i in range(8)]


# -- migration 0002 ----------------------------------------------------------------------------------

def _alembic(engine: Engine, fn: Callable[[Config], None]) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_tx(engine) as conn:
        config.attributes["connection"] = conn
        config.attributes["sealer"] = fixed_sealer()
        fn(config)


def test_0002_fills_defaults_on_existing_commands_and_downgrades_without_losing_rows(store_url: str) -> None:
    s = Store.open(store_url, fixed_sealer())
    try:
        _alembic(s.engine, lambda c: alembic_command.upgrade(c, "0001"))
        with write_tx(s.engine) as conn:
            conn.execute(text("INSERT INTO documents (sha256, content) VALUES (:h, :c)"), {"h": b"h", "c": b"{}"})
            conn.execute(text(
                "INSERT INTO commands (command_id, document_name, document_sha256, targets, comment, requested_by,"
                " created_at_ms, expires_at_ms, status, status_detail, target_count, completed_count, error_count)"
                " VALUES ('cmd-1', 'Doc', :h, '{}', '', 'alice', 1, 2, 'Pending', 'Pending', 1, 0, 0)"), {"h": b"h"})
            conn.execute(text("INSERT INTO invocations (command_id, node_id, status, status_detail, exit_code,"
                              " started_at_ms, ended_at_ms) VALUES ('cmd-1', 'mi-1', 'Pending', 'Pending', -1, 0, 0)"))
        s.migrate()
        with s.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT max_concurrency, max_errors, delivery_timed_out_count, document_version, parameters,"
                " cancel_requested FROM commands")).one()
            assert tuple(row) == ("50", "0", 0, 0, "{}", False)
            head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
        _alembic(s.engine, lambda c: alembic_command.downgrade(c, "0001"))
        insp = inspect(s.engine)
        assert not {"document_heads", "document_versions", "target_groups", "step_outputs"} & \
            set(insp.get_table_names())
        assert "cancel_requested" not in {c["name"] for c in insp.get_columns("commands")}
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM invocations")).scalar_one() == 1
        s.migrate()
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM invocations")).scalar_one() == 1
    finally:
        s.close()
