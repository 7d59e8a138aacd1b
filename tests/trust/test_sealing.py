"""controller.trust.sealing: envelope encryption (AES-256-GCM data keys wrapped by a master key).
A sealed value opens with its data key and its place only; a wrapped key unwraps under the master
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
    open_sealed,
    save_keyring,
    seal,
)
from plugins.sdk.errors import ConfigError

WHERE = b"output_chunks.data:cmd-1:mi-1:step:stdout:0"


def test_a_sealed_value_opens_with_its_key_and_place_only() -> None:
    ring = Keyring(MasterKey.generate())
    dk = ring.new_data_key()
    sealed = seal(dk.plain, b"s3cr3t output", WHERE)
    assert b"s3cr3t" not in sealed and b"s3cr3t" not in dk.wrapped and dk.plain not in dk.wrapped
    assert open_sealed(ring.unwrap(dk.wrapped), sealed, WHERE) == b"s3cr3t output"
    assert seal(dk.plain, b"s3cr3t output", WHERE) != sealed  # a fresh nonce each time
    with pytest.raises(SealError, match="another row's, or altered"):
        open_sealed(dk.plain, sealed, b"output_chunks.data:cmd-1:mi-2:step:stdout:0")  # moved
    with pytest.raises(SealError, match="another row's, or altered"):
        open_sealed(ring.new_data_key().plain, sealed, WHERE)
    altered = bytearray(sealed)
    altered[-1] ^= 1
    with pytest.raises(SealError, match="altered"):
        open_sealed(dk.plain, bytes(altered), WHERE)
    with pytest.raises(SealError, match="not a sealed value"):
        open_sealed(dk.plain, b"plain text", WHERE)


def test_rotation_rewraps_keys_and_leaves_the_data_alone() -> None:
    old = MasterKey.generate()
    dk = Keyring(old).new_data_key()
    sealed = seal(dk.plain, b"data", WHERE)
    new = MasterKey.generate()
    rotating = Keyring(new, [old])
    assert rotating.unwrap(dk.wrapped) == dk.plain  # the retired key still unwraps
    rewrapped = rotating.rewrap(dk.wrapped)
    assert rotating.master_key_of(rewrapped) == new.key_id and rotating.rewrap(rewrapped) == rewrapped
    assert open_sealed(Keyring(new).unwrap(rewrapped), sealed, WHERE) == b"data"  # the old key is gone now
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
    assert keyring_path(tmp_path, {}) == path
    assert keyring_path(tmp_path, {"OUTPOST_MASTER_KEY_FILE": "/etc/outpost/key"}) == Path("/etc/outpost/key")


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
