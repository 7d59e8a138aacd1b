"""controller.trust.sealing: envelope encryption (AES-256-GCM data keys wrapped by a master key).
A wrapped key unwraps under the master
key that wrapped it, also after a rotation retired it, and re-wraps under the current one without
touching the data; the keyring file is 0600 and a bad one is a one-line ConfigError that shows no
key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.trust.sealing import (
    Keyring,
    MasterKey,
    SealError,
    create_keyring,
    keyring_path,
    load_keyring,
    open_keyring,
    save_keyring,
)
from plugins.sdk.errors import ConfigError


def test_rotation_rewraps_keys_and_leaves_the_data_key_as_it_was() -> None:
    old = MasterKey.generate()
    dk = Keyring(old).new_data_key()
    new = MasterKey.generate()
    rotating = Keyring(new, [old])
    assert rotating.unwrap(dk.wrapped) == dk.plain  # the retired key still unwraps
    rewrapped = rotating.rewrap(dk.wrapped)
    assert rotating.master_key_of(rewrapped) == new.key_id and rotating.rewrap(rewrapped) == rewrapped
    assert Keyring(new).unwrap(rewrapped) == dk.plain  # the old key is gone now
    with pytest.raises(SealError, match=f"master key '{old.key_id}', which is not in the keyring"):
        Keyring(new).unwrap(dk.wrapped)
    forged = MasterKey(old.key_id, MasterKey.generate().secret)  # the id, not the key
    with pytest.raises(SealError, match="does not unwrap"):
        Keyring(forged).unwrap(dk.wrapped)
    with pytest.raises(SealError, match="wrong length"):
        rotating.unwrap(dk.wrapped[:-1])


def test_the_keyring_file_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ring = create_keyring(path)
    assert path.stat().st_mode & 0o777 == 0o600
    back = load_keyring(path)
    assert back.current == ring.current and back.retired == ()
    save_keyring(path, Keyring(MasterKey.generate(), [ring.current]))
    assert load_keyring(path).retired == (ring.current,)
    assert ring.current.secret.hex() not in repr(ring.current) and "********" in repr(ring.current)
    assert keyring_path(tmp_path, None) == path
    assert keyring_path(tmp_path, Path("/etc/outpost/key")) == Path("/etc/outpost/key")


def test_a_keyring_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    create_keyring(path)
    path.chmod(0o640)
    with pytest.raises(ConfigError, match=r"open to others \(mode 0640\); make it 0600"):
        load_keyring(path)


def test_open_keyring_makes_one_only_when_told(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "master.key"
    path.parent.mkdir()
    with pytest.raises(ConfigError, match="no master key"):
        open_keyring(path, create=False)
    made = open_keyring(path, create=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert open_keyring(path, create=True).current == made.current  # kept, never remade


@pytest.mark.parametrize(("content", "message"), [
    (None, "no master key (run `outpost controller init`, or set OUTPOST_MASTER_KEY_FILE"),
    ("{not json", "the master key does not load: JSONDecodeError"),
    ("[]", "expected an object with current and retired"),
    ('{"current": {"id": "k"}}', "current: expected an object with id and key"),
    ('{"current": {"id": "k", "key": "***"}}', "current.key: not base64"),
    ('{"current": {"id": "k", "key": "AAAA"}}', "current: a master key is 32 bytes"),
    ('{"current": {"id": "k", "key": "' + "A" * 43 + '="}, "retired": "x"}', "retired: expected a list"),
])
def test_a_bad_keyring_is_one_line_naming_what(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "master.key"
    if content is not None:
        path.write_text(content)
        path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_keyring(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_two_keys_with_one_id_are_refused(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path = tmp_path / "master.key"
    save_keyring(path, Keyring(key, [key]))
    with pytest.raises(ConfigError, match="two master keys with one id"):
        load_keyring(path)
    doc = json.loads(path.read_text())
    assert doc["current"]["id"] == key.key_id
