"""Signed command envelopes: the controller signs, the agent verifies (this module only verifies).

The envelope (the exact serialized ``outpost.v1.Envelope`` bytes in ``Command.envelope``) binds the
command id, the node id, the document's sha256 and a validity window. The controller signs a
delivery's envelopes together: the signature is Ed25519 over the root of their Merkle tree, which
``Command.proof`` leads to from this envelope (plugins/sdk/wire/batch.py).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import DocumentError, VerificationError
from plugins.sdk.wire import batch
from plugins.sdk.wire.document import Document, document_from_bytes

# How far an envelope's issued_at may lie in the future (clock skew between controller and node).
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
_COMMAND_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def is_command_id(value: str) -> bool:
    """Command ids are short and printable (uuids in practice): safe in logs, ledgers and paths."""
    return bool(_COMMAND_ID.match(value))


@dataclass(frozen=True)
class Envelope:
    command_id: str
    node_id: str
    document_sha256: bytes
    issued_at_ms: int
    expires_at_ms: int
    key_id: str

    def for_nodes(self, node_ids: Sequence[str]) -> list[bytes]:
        """This envelope's bytes with each of ``node_ids`` in place of its node (one message, its
        node id set and serialized per node: a fan-out builds thousands)."""
        msg = pb.Envelope(command_id=self.command_id, document_sha256=self.document_sha256,
                          issued_at_ms=self.issued_at_ms, expires_at_ms=self.expires_at_ms, key_id=self.key_id)
        out = []
        for node_id in node_ids:
            msg.node_id = node_id
            out.append(msg.SerializeToString())
        return out


@dataclass(frozen=True)
class SignedCommand:
    envelope: bytes
    signature: bytes
    document: bytes
    proof: bytes = b""  # from the envelope's leaf to the signed batch root; empty for a batch of one


@dataclass(frozen=True)
class SignedBatch:
    """Envelopes signed together: ``signature`` covers the root that ``proofs[i]`` leads to from
    ``envelopes[i]`` (plugins/sdk/wire/batch.py)."""
    envelopes: tuple[bytes, ...]
    proofs: tuple[bytes, ...]
    signature: bytes
    document: bytes

    def command(self, index: int) -> SignedCommand:
        return SignedCommand(self.envelopes[index], self.signature, self.document, self.proofs[index])


@dataclass(frozen=True)
class VerifiedCommand:
    envelope: Envelope
    document: Document


def claimed_command_id(envelope: bytes) -> str:
    """The command id an unverified envelope claims, if it is well-formed: for a refusal's report
    only, never trusted."""
    try:
        claimed = pb.Envelope.FromString(envelope).command_id
    except Exception:  # noqa: BLE001 - a garbage envelope has no id to report
        return ""
    return claimed if is_command_id(claimed) else ""


def key_id_of(public_key_raw: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key_raw).hexdigest()[:16]


def signing_key(public_key_raw: bytes) -> Ed25519PublicKey:
    """The pinned document-signing key, loaded once (an agent verifies every command with it)."""
    try:
        return Ed25519PublicKey.from_public_bytes(public_key_raw)
    except ValueError as exc:
        raise VerificationError("bad_key", f"the pinned signing key does not load: {exc}") from None


def verify_command(cmd: SignedCommand, *, public_key: Ed25519PublicKey, node_id: str, now_ms: int,
                   verified_roots: batch.VerifiedRoots | None = None) -> VerifiedCommand:
    """Check signature (on the batch root the proof leads to), node binding, validity window and
    document hash; parse the document. ``verified_roots``: signatures already verified in this
    process (``outpost swarm``'s agents share them; see plugins/sdk/wire/batch.py).

    Raises :class:`VerificationError` with a code: ``bad_signature``, ``malformed`` (also for a
    command id that is not a plain id, or a proof that is not one),
    ``wrong_node``, ``expired``, ``not_yet_valid``, ``document_mismatch``, ``bad_document``.
    """
    signed = batch.signed_message(batch.root_of(cmd.envelope, cmd.proof))
    if verified_roots is None:
        batch.check_signature(public_key, cmd.signature, signed)
    else:
        verified_roots.check_signature(public_key, cmd.signature, signed)
    try:
        raw = pb.Envelope.FromString(cmd.envelope)
    except DecodeError as exc:
        raise VerificationError("malformed", f"envelope does not parse: {exc}") from None
    env = Envelope(raw.command_id, raw.node_id, raw.document_sha256, raw.issued_at_ms, raw.expires_at_ms,
                   raw.key_id)
    if not is_command_id(env.command_id):
        raise VerificationError("malformed", f"envelope command id {env.command_id!r} is not a valid id")
    if env.node_id != node_id:
        raise VerificationError("wrong_node", f"envelope is for {env.node_id!r}, this node is {node_id!r}")
    if now_ms >= env.expires_at_ms:
        raise VerificationError("expired", f"envelope expired {now_ms - env.expires_at_ms} ms ago")
    if env.issued_at_ms - MAX_CLOCK_SKEW_MS > now_ms:
        raise VerificationError("not_yet_valid", "envelope issued in the future beyond the allowed clock skew")
    if hashlib.sha256(cmd.document).digest() != env.document_sha256:
        raise VerificationError("document_mismatch", "document sha256 differs from the signed envelope")
    try:
        document = document_from_bytes(cmd.document)
    except DocumentError as exc:
        raise VerificationError("bad_document", str(exc)) from None
    return VerifiedCommand(env, document)
