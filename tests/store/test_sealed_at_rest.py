"""Documents and output sealed at rest (issue 18, point 4), on SQLite and PostgreSQL: what the store
keeps holds no plaintext (on SQLite, the database file and its -wal read raw), reads back whole,
does not open under another master key, is re-wrapped by a rotation batch by batch (a rotation cut
off half way goes on from where it stopped), and what revisions before 0007 kept plain is sealed by
the migration, which refuses to run without the master key."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command as alembic_command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

from controller.runtime.sealed_store import open_sealed_store
from controller.store import Store
from controller.store.engine import write_tx
from controller.store.errors import StoreError
from controller.store.rewrap import SEALED_COLUMNS
from controller.store.store import MIGRATIONS_DIR
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import Keyring, MasterKey, SealError, load_keyring
from plugins.sdk.errors import ConfigError
from tests.store.test_store import command, invocations, step
from tests.support.keys import fixed_sealer

SECRET = b"hunter2-correct-horse"
DOC = b'{"schemaVersion": "2.2", "mainSteps": [{"name": "s", "inputs": {"runCommand": ["echo ' + SECRET + b'"]}}]}'
OUTPUT = b"the-known-output-line "


def _fill(store: Store, command_id: str = "cmd-1", settle: bool = True) -> None:
    cmd = command(command_id, document=DOC, target_count=1)
    store.create_command(cmd, DOC, invocations(command_id, ("mi-1",)))
    store.upsert_step(step(command_id, "mi-1", 0, "s"))
    for seq in range(3):
        store.append_output(command_id, "mi-1", "s", "stdout", seq, OUTPUT * 50)
    store.append_output(command_id, "mi-1", "s", "stderr", 0, SECRET)
    if settle:
        store.compact_output(command_id, "mi-1")


def _raw(store: Store) -> bytes:
    """Every sealed column's bytes, as the database returns them (of the tables its revision has)."""
    out = []
    with store.engine.connect() as conn:
        for sealed in SEALED_COLUMNS:
            if inspect(conn).has_table(sealed.table.name):
                out += [bytes(v) for (v,) in conn.execute(text(f"SELECT {sealed.column} FROM {sealed.table.name}"))]
    return b"".join(out)


def test_documents_and_output_are_kept_sealed_and_read_back_whole(store: Store) -> None:
    _fill(store)
    raw = _raw(store)
    assert raw and SECRET not in raw and OUTPUT not in raw and b"schemaVersion" not in raw
    assert store.get_document(hashlib.sha256(DOC).digest()) == DOC
    [out] = store.get_output("cmd-1", "mi-1")
    assert out.stdout == OUTPUT * 150 and out.stderr == SECRET
    pieces = list(store.output_pieces("cmd-1", "mi-1", piece_bytes=1000))
    assert b"".join(p.data for p in pieces if p.stream.value == "stdout") == OUTPUT * 150


def test_the_sqlite_files_read_raw_hold_no_plaintext(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    try:
        store.migrate()
        for i in range(3):
            _fill(store, f"cmd-{i}", settle=i != 1)
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("outpost.db")}
    finally:
        store.close()
    assert files.keys() >= {"outpost.db", "outpost.db-wal"}
    for name, data in files.items():
        assert SECRET not in data and OUTPUT not in data, name


def test_another_master_key_does_not_open_them(store: Store) -> None:
    _fill(store)
    stranger = Store(store.engine, RecordSealer(Keyring(MasterKey.generate())))
    with pytest.raises(SealError, match="not in the keyring"):
        stranger.get_output("cmd-1", "mi-1")
    with pytest.raises(SealError, match="not in the keyring"):
        stranger.get_document(hashlib.sha256(DOC).digest())


def _rewrap_all(store: Store, limit: int, stop_after: int | None = None) -> int:
    done, batches = 0, 0
    for which in range(len(SEALED_COLUMNS)):
        after = None
        while True:
            if stop_after is not None and batches == stop_after:
                return done
            n, after = store.rewrap_batch(which, after, limit)
            done, batches = done + n, batches + 1
            if after is None:
                break
    return done


def test_a_rotation_rewraps_every_value_and_goes_on_after_an_interruption(store: Store) -> None:
    for i in range(4):
        _fill(store, f"cmd-{i}", settle=i % 2 == 0)
    before = {c: store.get_output(c, "mi-1") for c in ("cmd-0", "cmd-1")}
    old = fixed_sealer().keyring.current
    total = sum(store.sealed_master_keys().values())
    new = MasterKey.generate()
    store.use_sealer(RecordSealer(Keyring(new, [old])))
    first = _rewrap_all(store, limit=2, stop_after=2)  # cut off after two batches
    assert 0 < first < total
    assert store.sealed_master_keys() == {new.key_id: first, old.key_id: total - first}
    assert _rewrap_all(store, limit=2) == total - first  # from the start again: what is done is skipped
    assert store.sealed_master_keys() == {new.key_id: total}
    store.use_sealer(RecordSealer(Keyring(new)))  # the old key dropped: everything still opens
    assert {c: store.get_output(c, "mi-1") for c in ("cmd-0", "cmd-1")} == before
    assert store.get_document(hashlib.sha256(DOC).digest()) == DOC


def _alembic(engine: Engine, fn: Callable[[Config], None], sealer: RecordSealer | None) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_tx(engine) as conn:
        config.attributes["connection"] = conn
        if sealer is not None:
            config.attributes["sealer"] = sealer
        fn(config)


def _plain_rows(store: Store) -> None:
    """What a store at revision 0006 kept: a document, a chunk and a compacted stream, all plain."""
    import zlib
    with write_tx(store.engine) as conn:
        conn.execute(text("INSERT INTO documents (sha256, content) VALUES (:h, :c)"),
                     {"h": hashlib.sha256(DOC).digest(), "c": DOC})
        conn.execute(text(
            "INSERT INTO commands (command_id, document_name, document_sha256, targets, comment, requested_by,"
            " created_at_ms, expires_at_ms, status, status_detail, target_count, completed_count, error_count)"
            " VALUES ('cmd-1', 'Doc', :h, '{}', '', 'alice', 1, 2, 'Pending', 'Pending', 1, 0, 0)"),
            {"h": hashlib.sha256(DOC).digest()})
        conn.execute(text("INSERT INTO invocations (command_id, node_id, status, status_detail, exit_code,"
                          " started_at_ms, ended_at_ms) VALUES ('cmd-1', 'mi-1', 'Pending', 'Pending', -1, 0, 0)"))
        conn.execute(text("INSERT INTO output_chunks (command_id, node_id, step_name, stream, seq, data)"
                          " VALUES ('cmd-1', 'mi-1', 's', 'stderr', 0, :d)"), {"d": SECRET})
        conn.execute(text("INSERT INTO step_outputs (command_id, node_id, step_name, stream, data, size, truncated)"
                          " VALUES ('cmd-1', 'mi-1', 's', 'stdout', :d, :n, :t)"),
                     {"d": zlib.compress(OUTPUT), "n": len(OUTPUT), "t": False})


def test_0007_seals_what_was_kept_plain_and_needs_the_master_key(store_url: str) -> None:
    store = Store.open(store_url, fixed_sealer())
    try:
        _alembic(store.engine, lambda c: alembic_command.upgrade(c, "0006"), None)
        _plain_rows(store)
        with pytest.raises(StoreError, match="needs the controller's master key"):
            _alembic(store.engine, lambda c: alembic_command.upgrade(c, "head"), None)
        store.migrate()
        raw = _raw(store)
        assert SECRET not in raw and OUTPUT not in raw
        if store_url.startswith("sqlite:///"):  # nor in the files: the old pages rewritten
            db = Path(store_url.removeprefix("sqlite:///"))
            for f in db.parent.glob(db.name + "*"):
                assert SECRET not in f.read_bytes() and OUTPUT not in f.read_bytes(), f.name
        assert store.get_output("cmd-1", "mi-1")[0].stdout == OUTPUT
        assert store.get_output("cmd-1", "mi-1")[0].stderr == SECRET
        assert store.get_document(hashlib.sha256(DOC).digest()) == DOC
        assert [p.data for p in store.output_pieces("cmd-1", "mi-1") if p.data] == [OUTPUT, SECRET]
        _alembic(store.engine, lambda c: alembic_command.downgrade(c, "0006"), fixed_sealer())
        assert SECRET in _raw(store)  # a downgrade opens them again
    finally:
        store.close()


def test_a_lost_keyring_is_not_replaced_while_sealed_values_need_it(tmp_path: Path) -> None:
    url, keyring_file = f"sqlite:///{tmp_path / 'outpost.db'}", tmp_path / "master.key"
    store, keyring = open_sealed_store(url, keyring_file)  # a directory from before sealing: one is made
    try:
        assert keyring.current.key_id == store.sealer.current_key_id
        assert keyring_file.stat().st_mode & 0o777 == 0o600
        assert load_keyring(keyring_file).current.key_id == store.sealer.current_key_id
        store.migrate()
        _fill(store)
    finally:
        store.close()
    again, _ = open_sealed_store(url, keyring_file)  # found and used
    again.close()
    keyring_file.unlink()
    with pytest.raises(ConfigError, match="master.key: no master key, and the database holds documents"):
        open_sealed_store(url, keyring_file)
    assert not keyring_file.exists()
