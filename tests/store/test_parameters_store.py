"""The parameter store (controller/store/parameters.py): put, get, list, delete; versions counted by
puts and an existing name refused without overwrite; every value sealed at rest with its name and
version (the SQLite files read raw hold none), re-wrapped by a master key rotation; SSM's name rules."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from controller.store import Store
from controller.store.errors import Conflict, NotFound
from controller.store.parameters import name_problem, value_problem
from controller.store.rewrap import SEALED_COLUMNS
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import Keyring, MasterKey, SealError
from tests.support.keys import fixed_sealer

SECRET = "s3cret-Pa55word-value"
AT = 1_700_000_000_000


def _put(store: Store, name: str, value: str, type_: str = "String", *, overwrite: bool = False,
         description: str = "", by: str = "alice", at: int = AT):
    return store.put_parameter(name, type_, value, description, overwrite=overwrite, at_ms=at, by=by)


def test_put_get_list_delete(store: Store) -> None:
    assert _put(store, "/app/name", "web", description="the app").version == 1
    _put(store, "/app/db/password", SECRET, "SecureString")
    _put(store, "plain", "a,b", "StringList")
    got = store.get_parameter("/app/db/password")
    assert (got.type, got.value, got.version, got.secure, got.modified_by) == ("SecureString", SECRET, 1, True, "alice")
    assert store.get_parameter("/app/name", with_value=False).value is None
    assert [p.name for p in store.list_parameters()] == ["/app/db/password", "/app/name", "plain"]
    assert [p.name for p in store.list_parameters("/app/db")] == ["/app/db/password"]
    assert [p.name for p in store.list_parameters("/app/")] == ["/app/db/password", "/app/name"]
    assert store.list_parameters("/ap") == []  # a path is a hierarchy, not a text prefix
    assert all(p.value is None for p in store.list_parameters())
    store.delete_parameter("plain")
    with pytest.raises(NotFound, match="no parameter named 'plain'"):
        store.get_parameter("plain")
    with pytest.raises(NotFound):
        store.delete_parameter("plain")


def test_a_put_of_an_existing_name_needs_overwrite_and_counts_versions(store: Store) -> None:
    _put(store, "/app/name", "v1", description="kept")
    with pytest.raises(Conflict, match="already exists .*--overwrite"):
        _put(store, "/app/name", "v2")
    assert store.get_parameter("/app/name").value == "v1"
    rec = _put(store, "/app/name", "v2", "StringList", overwrite=True, by="bob", at=AT + 5)
    assert (rec.version, rec.description, rec.modified_by, rec.modified_at_ms) == (2, "kept", "bob", AT + 5)
    got = store.get_parameter("/app/name")
    assert (got.value, got.version, got.type) == ("v2", 2, "StringList")
    assert _put(store, "fresh", "x", overwrite=True).version == 1  # overwrite of nothing: a first version


def test_a_send_gets_the_values_of_the_names_there_are(store: Store) -> None:
    _put(store, "/a", "1")
    _put(store, "/b", SECRET, "SecureString")
    found = store.parameters_for_send(["/a", "/b", "/missing"])
    assert {n: (r.type, r.value) for n, r in found.items()} == {"/a": ("String", "1"), "/b": ("SecureString", SECRET)}


def test_every_value_is_sealed_with_its_place(store: Store) -> None:
    _put(store, "/app/db/password", SECRET, "SecureString")
    _put(store, "/app/name", "a-plain-String-value")
    with store.engine.connect() as conn:
        raw = b"".join(bytes(v) for (v,) in conn.execute(text("SELECT value FROM parameters")))
    assert SECRET.encode() not in raw and b"a-plain-String-value" not in raw
    with store.engine.begin() as conn:  # a value copied to another name does not open there
        conn.execute(text("UPDATE parameters SET value = (SELECT value FROM parameters WHERE name = '/app/db/password')"
                          " WHERE name = '/app/name'"))
    with pytest.raises(SealError):
        store.get_parameter("/app/name")
    stranger = Store(store.engine, RecordSealer(Keyring(MasterKey.generate())))
    with pytest.raises(SealError, match="not in the keyring"):
        stranger.get_parameter("/app/db/password")


def test_the_sqlite_files_read_raw_hold_no_value(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    try:
        store.migrate()
        _put(store, "/app/db/password", SECRET, "SecureString")
        _put(store, "/app/db/password", SECRET + "-2", "SecureString", overwrite=True)
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("outpost.db")}
    finally:
        store.close()
    for name, data in files.items():
        assert SECRET.encode() not in data, name


def test_a_rotation_rewraps_parameter_values(store: Store) -> None:
    _put(store, "/app/db/password", SECRET, "SecureString")
    _put(store, "/app/name", "web")
    which = [i for i, c in enumerate(SEALED_COLUMNS) if c.table.name == "parameters"]
    assert len(which) == 1
    old = fixed_sealer().keyring.current
    new = MasterKey.generate()
    store.use_sealer(RecordSealer(Keyring(new, [old])))
    assert store.rewrap_batch(which[0], None, 1) == (1, ("/app/db/password", 1))
    assert store.rewrap_batch(which[0], ("/app/db/password", 1), 1)[0] == 1
    assert store.sealed_master_keys() == {new.key_id: 2}
    store.use_sealer(RecordSealer(Keyring(new)))
    assert store.get_parameter("/app/db/password").value == SECRET


@pytest.mark.parametrize(("name", "problem"), [
    ("/app/db/password", None),
    ("plain_Name-1.x", None),
    ("", "a parameter name is required"),
    ("/app/has space", "is not a parameter name"),
    ("app/no-leading-slash", "a hierarchical name begins with /"),
    ("/app/", "a hierarchical name begins with /"),
    ("/app//x", "a hierarchical name begins with /"),
    ("awsThing", "reserved"),
    ("/SSM/x", "reserved"),
    ("/Aws", "reserved"),
    ("/x" * 506, "is not a parameter name"),  # 1012 characters
    ("/" + "/".join("l" * 16), "at most 15 levels"),
])
def test_names_follow_ssm_rules(name: str, problem: str | None) -> None:
    found = name_problem(name)
    assert (found is None) if problem is None else (found is not None and problem in found), found


@pytest.mark.parametrize(("type_", "value", "problem"), [
    ("String", "x", None),
    ("StringList", "a,b,c", None),
    ("SecureString", "x" * 4096, None),
    ("String", "", "1 to 4096 bytes"),
    ("String", "é" * 2049, "1 to 4096 bytes"),
    ("StringList", "a,,b", "none of them empty"),
    ("Secure", "val-q", "type: expected one of String, StringList, SecureString"),
])
def test_values_follow_ssm_rules(type_: str, value: str, problem: str | None) -> None:
    found = value_problem(type_, value, "")
    assert (found is None) if problem is None else (found is not None and problem in found), found
    if found:
        assert not value or value[:5] not in found  # a value is never quoted
