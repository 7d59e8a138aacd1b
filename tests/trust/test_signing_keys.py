"""controller.trust.signing_keys and plugins.sdk.wire.key_rotation: a rotation is signed for by the
key it replaces and kept on disk (a controller loaded again signs with the new key and knows every
step); the chain from any earlier key leads to the current one; a rotation a stop cut short is
finished when it was recorded and dropped when it was not; a forged, reordered, broken or
disconnected chain is refused naming the step."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from controller.trust.signing import DocumentSigner
from controller.trust.signing_keys import ROTATIONS, SIGNING_KEY, SigningKeys
from plugins.sdk.errors import ConfigError, VerificationError
from plugins.sdk.host.files import write_private
from plugins.sdk.wire.key_rotation import KeyRotation, follow_chain


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    write_private(tmp_path / SIGNING_KEY, DocumentSigner.generate().private_pem())
    return tmp_path


def test_rotations_are_kept_and_lead_from_any_earlier_key(directory: Path) -> None:
    keys = SigningKeys.load(directory)
    first = keys.key_id
    assert keys.chain_from(first) == ()
    pinned = keys.public_key_raw()
    one = keys.rotate(1000)
    two = keys.rotate(2000)
    assert (one.from_key_id, one.to_key_id, two.from_key_id) == (first, two.from_key_id, one.to_key_id)
    again = SigningKeys.load(directory)
    assert again.key_id == keys.key_id == two.to_key_id
    assert again.chain_from(first) == (one, two) and again.chain_from(one.to_key_id) == (two,)
    assert again.chain_from("ed25519:0000000000000000") is None
    assert follow_chain(again.chain_from(first) or (), pinned) == again.public_key_raw()
    assert os.stat(directory / ROTATIONS).st_mode & 0o777 == 0o600


def test_a_rotation_cut_short_is_finished_when_recorded_and_dropped_when_not(directory: Path) -> None:
    keys = SigningKeys.load(directory)
    old, old_pem = keys.key_id, (directory / SIGNING_KEY).read_bytes()
    stray = DocumentSigner.generate()
    write_private(directory / "signing.key.next", stray.private_pem())  # killed before the list was written
    assert SigningKeys.load(directory).key_id == old and not (directory / "signing.key.next").exists()
    keys.rotate(1000)
    new = keys.key_id
    # killed after the list was written, before the new key was moved over the old one
    write_private(directory / "signing.key.next", (directory / SIGNING_KEY).read_bytes())
    write_private(directory / SIGNING_KEY, old_pem)
    assert SigningKeys.load(directory).key_id == new and not (directory / "signing.key.next").exists()


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d[0].update(signature="00" * 64), "rotation 0: step 0: not signed by"),
    (lambda d: d[0].update(from_public_key=d[1]["public_key"]), "rotation 0: from_public_key is not"),
    (lambda d: d.reverse(), "rotation 1 does not follow rotation 0"),
    (lambda d: d.pop(), "its last rotation leads to"),
    (lambda d: d.append("garbage"), "not a list of signing key rotations"),
])
def test_a_damaged_rotation_list_is_refused(directory: Path, damage: object, message: str) -> None:
    keys = SigningKeys.load(directory)
    keys.rotate(1000)
    keys.rotate(2000)
    doc = json.loads((directory / ROTATIONS).read_text())
    damage(doc)  # type: ignore[operator]
    (directory / ROTATIONS).write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=message):
        SigningKeys.load(directory)


def test_a_chain_that_does_not_hold_is_refused_naming_the_step() -> None:
    a, b, c, x = (DocumentSigner.generate() for _ in range(4))
    ab, bc = a.sign_rotation(b.public_key_raw(), 1), b.sign_rotation(c.public_key_raw(), 2)
    assert follow_chain([ab, bc], a.public_key_raw()) == c.public_key_raw()
    forged = KeyRotation(a.key_id, x.public_key_raw(), 3, x.sign_rotation(x.public_key_raw(), 3).signature)
    cases = {
        "step 0: not signed by": [forged],
        "step 0 replaces": [bc, ab],  # reordered
        "step 1 replaces": [ab, ab],  # disconnected
        "1 to 64 steps": [],
        "not an Ed25519 public key": [KeyRotation(a.key_id, b"short", 1, b"")],
    }
    for message, chain in cases.items():
        with pytest.raises(VerificationError, match=message):
            follow_chain(chain, a.public_key_raw())
