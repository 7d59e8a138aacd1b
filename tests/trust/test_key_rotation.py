"""controller.trust.key_rotation on a real SQLite store: a rotation leaves every value under the new
key and the keyring file with it alone; a second one while the first runs is refused; a rotation a
stop cut short (retired keys left in the keyring file) is ended at the next start; a keyring file
that cannot be written stops the rotation before anything is sealed under the new key."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.store import Store
from controller.store.db import Db
from controller.trust.key_rotation import MasterKeyRotation, RotationUnderWay
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import Keyring, MasterKey, load_keyring, save_keyring
from plugins.sdk.errors import ConfigError
from tests.store.test_store import command, invocations, step

DOC = b'{"schemaVersion": "2.2", "mainSteps": []}'


@pytest.fixture
def ring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "master.key"
    path.parent.mkdir()
    save_keyring(path, Keyring(MasterKey.generate()))
    return path


def _db(tmp_path: Path, keyring: Keyring) -> Db:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", RecordSealer(keyring))
    store.migrate()
    return Db(store)


@pytest.fixture
def db(tmp_path: Path, ring_file: Path) -> Iterator[Db]:
    d = _db(tmp_path, load_keyring(ring_file))
    for i in range(5):
        cid = f"cmd-{i}"
        d.store.create_command(command(cid, document=DOC + b" " * i, target_count=1), DOC + b" " * i,
                               invocations(cid, ("mi-1",)))
        d.store.upsert_step(step(cid, "mi-1", 0, "s"))
        d.store.append_output(cid, "mi-1", "s", "stdout", 0, b"out %d" % i)
        if i % 2:
            d.store.compact_output(cid, "mi-1")
    try:
        yield d
    finally:
        d.close()


def test_a_rotation_leaves_everything_under_the_new_key(db: Db, ring_file: Path) -> None:
    old = load_keyring(ring_file).current.key_id
    rotation = MasterKeyRotation(db, ring_file, load_keyring(ring_file))
    result = asyncio.run(rotation.rotate())
    assert result.retired == (old,) and result.rewrapped == 5 + 5  # the documents, the outputs
    ring = load_keyring(ring_file)
    assert (ring.current.key_id, ring.retired) == (result.key_id, ())
    assert db.store.sealed_master_keys() == {result.key_id: 10}
    assert db.store.get_output("cmd-3", "mi-1")[0].stdout == b"out 3"
    assert db.store.get_document(hashlib.sha256(DOC + b" ").digest()) == DOC + b" "


def test_a_second_rotation_while_one_runs_is_refused(db: Db, ring_file: Path) -> None:
    rotation = MasterKeyRotation(db, ring_file, load_keyring(ring_file))

    async def both() -> None:
        first = asyncio.ensure_future(rotation.rotate())
        await asyncio.sleep(0)  # the first has taken its first step
        with pytest.raises(RotationUnderWay, match="under way"):
            await rotation.rotate()
        await first

    asyncio.run(both())
    assert load_keyring(ring_file).retired == ()


def test_a_rotation_cut_short_is_ended_at_the_next_start(tmp_path: Path, db: Db, ring_file: Path) -> None:
    old = load_keyring(ring_file)
    cut = Keyring(MasterKey.generate(), [old.current])  # what step 1 wrote before the stop
    save_keyring(ring_file, cut)
    db.store.use_sealer(RecordSealer(cut))
    assert db.store.rewrap_batch(0, None, limit=2)[0] == 2  # two documents re-wrapped, then the stop
    db.close()
    restarted = _db(tmp_path, load_keyring(ring_file))
    try:
        rotation = MasterKeyRotation(restarted, ring_file, load_keyring(ring_file))
        result = asyncio.run(rotation.resume())
        assert result is not None and result.rewrapped == 10 - 2 and result.retired == (old.current.key_id,)
        assert load_keyring(ring_file).retired == ()
        assert restarted.store.sealed_master_keys() == {cut.current.key_id: 10}
        assert asyncio.run(MasterKeyRotation(restarted, ring_file, load_keyring(ring_file)).resume()) is None
    finally:
        restarted.close()


def test_an_unwritable_keyring_stops_the_rotation_before_anything_changes(db: Db, ring_file: Path) -> None:
    before = load_keyring(ring_file)
    rotation = MasterKeyRotation(db, ring_file, before)
    away = ring_file.parent.rename(ring_file.parent.with_name("away"))  # its volume gone: nowhere to write
    try:
        with pytest.raises(ConfigError, match="master.key: No such file or directory"):
            asyncio.run(rotation.rotate())
    finally:
        away.rename(ring_file.parent)
    assert load_keyring(ring_file).current == before.current
    assert db.store.sealed_master_keys() == {before.current.key_id: 10}
    db.store.append_output("cmd-0", "mi-1", "s", "stderr", 0, b"later")  # still sealed under the old key
    assert db.store.sealed_master_keys() == {before.current.key_id: 11}
