"""The document signer: the only holder of the Ed25519 key whose public half every agent pins.

It signs envelopes many at once (plugins/sdk/wire/batch.py): one signature over the root of the
envelopes' Merkle tree, and each node gets its envelope with the proof that leads to that root.
Agents check them with :func:`plugins.sdk.wire.envelope.verify_command`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from plugins.sdk.errors import ConfigError, InputError
from plugins.sdk.wire import batch
from plugins.sdk.wire.envelope import Envelope, SignedBatch, SignedCommand, key_id_of
from plugins.sdk.wire.identity import is_node_id, node_identity
from plugins.sdk.wire.key_rotation import KeyRotation, rotation_message


class CommandSigner(Protocol):
    """What signs commands for delivery and names the key agents pin: a DocumentSigner, or the
    controller's SigningKeys (controller/trust/signing_keys.py), whose key can rotate."""

    @property
    def key_id(self) -> str: ...

    def public_key_raw(self) -> bytes: ...

    def sign_commands(self, command_id: str, node_ids: Sequence[str], document: bytes, issued_at_ms: int,
                      expires_at_ms: int) -> SignedBatch: ...


class DocumentSigner:
    """Signs command envelopes with an Ed25519 key. Build with :meth:`generate` or :meth:`from_pem`."""

    __slots__ = ("_key", "_key_id", "_public_raw")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError("the document-signing key must be an Ed25519 private key")
        self._key = key
        self._public_raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                                         serialization.PublicFormat.Raw)
        self._key_id = key_id_of(self._public_raw)

    @classmethod
    def generate(cls) -> DocumentSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> DocumentSigner:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"document-signing key does not load: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"document-signing key must be Ed25519, got {type(key).__name__}")
        return cls(key)

    def private_pem(self) -> bytes:
        """PKCS8 PEM, unencrypted: write it with :func:`controller.trust.pki.write_private`."""
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def public_key_raw(self) -> bytes:
        """The 32 raw public-key bytes agents pin at enrollment."""
        return self._public_raw

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign_release(self, version: str, sha256: str) -> bytes:
        """The signature an agent release is published with (:func:`release_message`)."""
        return self._key.sign(release_message(version, sha256))

    def sign_rotation(self, public_key: bytes, issued_at_ms: int) -> KeyRotation:
        """A step handing trust from this key to ``public_key`` (raw): agents pinning this key verify
        it, then pin the new one (plugins/sdk/wire/key_rotation.py)."""
        message = rotation_message(self._key_id, public_key, issued_at_ms)
        return KeyRotation(self._key_id, public_key, issued_at_ms, self._key.sign(message))

    def sign_command(self, command_id: str, node_id: str, document: bytes, issued_at_ms: int,
                     expires_at_ms: int) -> SignedCommand:
        """Bind ``document`` to one node and a validity window, and sign it (a batch of one)."""
        return self.sign_commands(command_id, (node_id,), document, issued_at_ms, expires_at_ms).command(0)

    def sign_commands(self, command_id: str, node_ids: Sequence[str], document: bytes, issued_at_ms: int,
                      expires_at_ms: int) -> SignedBatch:
        """Bind ``document`` to each node and a validity window: one envelope per node (in order), all
        signed with one signature over their batch root."""
        for node_id in node_ids:
            if not is_node_id(node_id):
                node_identity(node_id)  # raises IdentityError, naming it
        if not command_id:
            raise InputError("command_id", "must not be empty")
        if expires_at_ms <= issued_at_ms:
            raise InputError("expires_at_ms", f"must be after issued_at_ms ({expires_at_ms} <= {issued_at_ms})")
        digest = hashlib.sha256(document).digest()
        envelopes = Envelope(command_id=command_id, node_id="", document_sha256=digest, issued_at_ms=issued_at_ms,
                             expires_at_ms=expires_at_ms, key_id=self._key_id).for_nodes(node_ids)
        root, proofs = batch.build(envelopes)
        return SignedBatch(tuple(envelopes), tuple(proofs), self._key.sign(batch.signed_message(root)),
                           bytes(document))


def release_message(version: str, sha256: str) -> bytes:
    """What an agent release's signature covers: its version and the sha256 of its wheel."""
    return b"outpost-agent-release\0" + version.encode() + b"\0" + sha256.encode()
