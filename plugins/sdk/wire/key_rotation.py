"""The document-signing key rotated (issue 18, point 5): a rotation step names the key it replaces and
carries the new public key, signed by the key it replaces. An agent pins a new key only through a
step signed by the key it pins now, so a controller that has rotated several times while an agent
was away sends the chain of steps from the agent's key to its current one (plugins-side: the agent
verifies; the controller signs, in controller/trust/signing_keys.py)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from plugins.sdk.errors import VerificationError
from plugins.sdk.wire.envelope import key_id_of, signing_key

_DOMAIN = b"outpost signing-key rotation v1\x00"
MAX_STEPS = 64  # a chain longer than this is not one a controller sends


@dataclass(frozen=True, slots=True)
class KeyRotation:
    from_key_id: str  # the key this step replaces (and is signed by)
    public_key: bytes  # the new key's 32 raw bytes
    issued_at_ms: int
    signature: bytes

    @property
    def to_key_id(self) -> str:
        return key_id_of(self.public_key)


def rotation_message(from_key_id: str, public_key: bytes, issued_at_ms: int) -> bytes:
    """What a step's signature covers."""
    return b"".join([_DOMAIN, from_key_id.encode(), b"\x00", public_key, issued_at_ms.to_bytes(8, "big", signed=True)])


def follow_chain(steps: Sequence[KeyRotation], pinned: bytes) -> bytes:
    """The public key at the end of ``steps``, each verified under the key before it, starting from
    ``pinned`` (raw). VerificationError naming the first step that does not hold."""
    if not steps or len(steps) > MAX_STEPS:
        raise VerificationError("bad_rotation", f"a rotation has 1 to {MAX_STEPS} steps, got {len(steps)}")
    key = pinned
    for i, step in enumerate(steps):
        if step.from_key_id != key_id_of(key):
            raise VerificationError("bad_rotation", f"step {i} replaces {step.from_key_id}, not the pinned "
                                                    f"{key_id_of(key)}")
        try:
            Ed25519PublicKey.from_public_bytes(step.public_key)
        except ValueError:
            raise VerificationError("bad_rotation", f"step {i}: the new key is not an Ed25519 public key") from None
        try:
            signing_key(key).verify(step.signature, rotation_message(step.from_key_id, step.public_key,
                                                                     step.issued_at_ms))
        except InvalidSignature:
            raise VerificationError("bad_rotation", f"step {i}: not signed by {step.from_key_id}") from None
        key = step.public_key
    return key
