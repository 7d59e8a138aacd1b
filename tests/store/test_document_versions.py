"""Document versions (migration 0011): version names, listing versions, deleting one version, on
SQLite and (when configured) PostgreSQL: see conftest.py."""
from __future__ import annotations

import hashlib

import pytest
from alembic import command as alembic_command
from sqlalchemy import inspect, text

from controller.store import NotFound, Store, StoreError
from controller.store.documents import BuiltinDocument, DefaultVersion, DocumentRecord
from controller.store.engine import write_tx
from controller.store.errors import Conflict
from tests.store.test_documents import NOW, _alembic, yaml_doc
from tests.support.keys import fixed_sealer


def put(s: Store, name: str, text: str, *, create: bool, version_name: str = "",
        builtin: bool = False) -> DocumentRecord:
    content = yaml_doc(text)
    return s.put_document(name, content, "YAML", hashlib.sha256(content).hexdigest(), "d", "alice", NOW,
                          create=create, builtin=builtin, version_name=version_name)


def test_version_names_are_stored_found_and_never_reused(store: Store) -> None:
    v1 = put(store, "Deploy", "one", create=True, version_name="release-1.0")
    v2 = put(store, "Deploy", "two", create=False)
    assert (v1.version_name, v2.version_name) == ("release-1.0", "")
    assert store.get_document_version("Deploy", version_name="release-1.0").content == yaml_doc("one")
    assert store.get_document_version("Deploy", "1", version_name="release-1.0").version == 1
    with pytest.raises(NotFound, match="version 2 is not the one named 'release-1.0' \\(that is version 1\\)"):
        store.get_document_version("Deploy", "2", version_name="release-1.0")
    with pytest.raises(NotFound, match="document Deploy has no version named 'nope'"):
        store.get_document_version("Deploy", version_name="nope")
    with pytest.raises(Conflict, match="already has a version named 'release-1.0' \\(version 1\\)"):
        put(store, "Deploy", "three", create=False, version_name="release-1.0")
    # the same name on another document is fine
    assert put(store, "Other", "x", create=True, version_name="release-1.0").version_name == "release-1.0"
    # the refused put left nothing: the next version is 3
    assert put(store, "Deploy", "three", create=False, version_name="r3").version == 3


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "semi;colon", "ünï"])
def test_bad_version_names_are_refused_naming_the_rule(store: Store, bad: str) -> None:
    if bad == "":  # "" means no name: accepted
        assert put(store, "Deploy", "one", create=True, version_name=bad).version_name == ""
        return
    with pytest.raises(StoreError, match="version name .*: use 1 to 128 characters"):
        put(store, "Deploy", "one", create=True, version_name=bad)
    with pytest.raises(NotFound):
        store.get_document_version("Deploy")


def test_list_versions_oldest_first_without_deleted_ones(store: Store) -> None:
    put(store, "Deploy", "one", create=True, version_name="a")
    put(store, "Deploy", "two", create=False, version_name="b")
    put(store, "Deploy", "three", create=False)
    listed = store.list_document_versions("Deploy")
    assert [(r.version, r.version_name, r.default_version, r.latest_version) for r in listed] == \
        [(1, "a", 1, 3), (2, "b", 1, 3), (3, "", 1, 3)]
    gone = store.delete_document_version("Deploy", 2)
    assert (gone.version, gone.version_name) == (2, "b")
    assert [r.version for r in store.list_document_versions("Deploy")] == [1, 3]
    with pytest.raises(NotFound, match="no document Nope"):
        store.list_document_versions("Nope")


def test_delete_one_version_keeps_the_row_and_the_numbering(store: Store) -> None:
    put(store, "Deploy", "one", create=True)
    put(store, "Deploy", "two", create=False, version_name="two")
    put(store, "Deploy", "three", create=False)
    store.delete_document_version("Deploy", 3)
    with pytest.raises(NotFound, match="document Deploy version 3 was deleted"):
        store.get_document_version("Deploy", "3")
    latest = store.get_document_version("Deploy", "$LATEST")
    assert (latest.version, latest.latest_version) == (2, 2)  # $LATEST is the newest left
    assert store.get_document_version("Deploy", "3", include_deleted=True).content == yaml_doc("three")
    with pytest.raises(NotFound, match="has no version 3 \\(it was deleted\\)"):
        store.delete_document_version("Deploy", 3)
    with pytest.raises(NotFound, match="version 3 was deleted"):
        store.set_default_version("Deploy", 3)
    # the next update is 4: a number a command recorded never comes to mean other content
    assert put(store, "Deploy", "four", create=False).version == 4
    store.delete_document_version("Deploy", 2)
    with pytest.raises(NotFound, match="has no version named 'two'"):
        store.get_document_version("Deploy", version_name="two")
    with pytest.raises(Conflict, match="version named 'two' \\(version 2, deleted\\)"):
        put(store, "Deploy", "five", create=False, version_name="two")
    assert [d.latest_version for d in store.list_documents() if d.name == "Deploy"] == [4]


def test_the_default_version_cannot_be_deleted(store: Store) -> None:
    put(store, "Deploy", "one", create=True)
    put(store, "Deploy", "two", create=False)
    with pytest.raises(DefaultVersion, match="version 1 is its default version and cannot be deleted: "
                                             "set another default first"):
        store.delete_document_version("Deploy", 1)
    store.set_default_version("Deploy", 2)
    store.delete_document_version("Deploy", 1)
    assert [r.version for r in store.list_document_versions("Deploy")] == [2]
    with pytest.raises(NotFound, match="document Deploy has no version 9 \\(latest is 2\\)"):
        store.delete_document_version("Deploy", 9)
    with pytest.raises(NotFound, match="no document Never"):
        store.delete_document_version("Never", 1)


def test_builtin_versions_cannot_be_deleted(store: Store) -> None:
    put(store, "Outpost-Thing", "one", create=True, builtin=True)
    put(store, "Outpost-Thing", "two", create=True, builtin=True)
    with pytest.raises(BuiltinDocument, match="built in"):
        store.delete_document_version("Outpost-Thing", 1)


def test_0011_keeps_existing_versions_unnamed_and_live_and_downgrades(store_url: str) -> None:
    s = Store.open(store_url, fixed_sealer())
    try:
        _alembic(s.engine, lambda c: alembic_command.upgrade(c, "0008"))
        content = yaml_doc("old")
        with write_tx(s.engine) as conn:
            conn.execute(text("INSERT INTO document_heads (name, latest_version, default_version, builtin, deleted)"
                              " VALUES ('Old', 1, 1, false, false)"))
            conn.execute(text("INSERT INTO document_versions (name, version, content, format, sha256, description,"
                              " created_at_ms, created_by) VALUES ('Old', 1, :c, 'YAML', :h, 'd', 1, 'alice')"),
                         {"c": content, "h": hashlib.sha256(content).hexdigest()})
        s.migrate()
        (old,) = s.list_document_versions("Old")
        assert (old.version, old.version_name, old.content) == (1, "", content)
        put(s, "Old", "new", create=False, version_name="named")
        _alembic(s.engine, lambda c: alembic_command.downgrade(c, "0008"))
        assert not {"version_name", "deleted"} & {c["name"] for c in inspect(s.engine).get_columns("document_versions")}
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM document_versions")).scalar_one() == 2
        s.migrate()
        assert [r.version_name for r in s.list_document_versions("Old")] == ["", ""]
    finally:
        s.close()
