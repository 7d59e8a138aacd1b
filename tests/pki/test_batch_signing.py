"""Envelopes signed many at once (plugins/sdk/wire/batch.py): every envelope of a batch verifies on its
own node with its own proof, and nothing else does."""
from __future__ import annotations

import hashlib

import pytest

from controller.trust.signing import DocumentSigner
from plugins.sdk.errors import IdentityError, VerificationError
from plugins.sdk.wire import batch
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Document, Step
from plugins.sdk.wire.envelope import SignedCommand, signing_key, verify_command
from plugins.sdk.wire.identity import new_node_id

NOW_MS = 1_800_000_000_000
DOCUMENT = Document((Step("hello", "shell", {"commands": ["echo hi"]}),)).canonical_bytes()


def _batch(signer: DocumentSigner, count: int) -> tuple[list[str], list[SignedCommand]]:
    nodes = [new_node_id() for _ in range(count)]
    signed = signer.sign_commands("cmd-1", nodes, DOCUMENT, NOW_MS, NOW_MS + 60_000)
    return nodes, [signed.command(i) for i in range(count)]


def _code(cmd: SignedCommand, signer: DocumentSigner, node_id: str) -> str:
    with pytest.raises(VerificationError) as info:
        verify_command(cmd, public_key=signing_key(signer.public_key_raw()), node_id=node_id, now_ms=NOW_MS + 1)
    return info.value.code


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 31, 256, 257])
def test_every_envelope_of_a_batch_verifies_on_its_node(count: int) -> None:
    signer = DocumentSigner.generate()
    nodes, signed = _batch(signer, count)
    assert len({s.signature for s in signed}) == 1  # one signature for the whole batch
    levels = {len(s.proof) // batch.STEP for s in signed}
    assert max(levels) == (count - 1).bit_length()  # a proof is as long as the tree is high
    key = signing_key(signer.public_key_raw())
    for node_id, cmd in zip(nodes, signed, strict=True):
        vc = verify_command(cmd, public_key=key, node_id=node_id, now_ms=NOW_MS + 1)
        assert vc.envelope.node_id == node_id and vc.envelope.command_id == "cmd-1"
        assert vc.envelope.document_sha256 == hashlib.sha256(DOCUMENT).digest()


def test_a_batch_travels_as_one_message_per_envelope() -> None:
    signer = DocumentSigner.generate()
    nodes = [new_node_id() for _ in range(3)]
    signed = signer.sign_commands("cmd-1", nodes, DOCUMENT, NOW_MS, NOW_MS + 60_000)
    messages = [wire.controller_message_to_pb(signed.command(i)) for i in range(len(nodes))]
    assert [wire.command_from_pb(m.command) for m in messages] == [signed.command(i) for i in range(3)]
    with pytest.raises(IdentityError):
        signer.sign_commands("cmd-1", [nodes[0], "not-a-node"], DOCUMENT, NOW_MS, NOW_MS + 60_000)


def test_a_batch_of_one_has_no_proof_and_signs_its_leaf() -> None:
    signer = DocumentSigner.generate()
    _, (cmd,) = _batch(signer, 1)
    assert cmd.proof == b""
    signing_key(signer.public_key_raw()).verify(cmd.signature, batch.ROOT_LABEL + batch.leaf_hash(cmd.envelope))


def test_an_envelope_with_another_nodes_proof_or_node_is_refused() -> None:
    signer = DocumentSigner.generate()
    nodes, signed = _batch(signer, 5)
    a, b = signed[0], signed[1]
    assert _code(SignedCommand(a.envelope, a.signature, a.document, b.proof), signer, nodes[0]) == "bad_signature"
    assert _code(a, signer, nodes[1]) == "wrong_node"  # a's envelope, delivered to b
    _, other = _batch(signer, 5)  # another batch's signature on a's envelope and proof
    assert _code(SignedCommand(a.envelope, other[0].signature, a.document, a.proof), signer, nodes[0]) \
        == "bad_signature"


def test_every_tampered_byte_of_a_proof_is_refused() -> None:
    signer = DocumentSigner.generate()
    nodes, signed = _batch(signer, 6)
    cmd = signed[2]
    for i in range(len(cmd.proof)):
        flipped = cmd.proof[:i] + bytes([cmd.proof[i] ^ 0x01]) + cmd.proof[i + 1:]
        code = _code(SignedCommand(cmd.envelope, cmd.signature, cmd.document, flipped), signer, nodes[2])
        # the side byte: 0 <-> 1 swaps the order (bad root); any other side value is no proof at all
        assert code == "bad_signature", (i, code)
    no_proof = SignedCommand(cmd.envelope, cmd.signature, cmd.document, b"")
    assert _code(no_proof, signer, nodes[2]) == "bad_signature"
    for cut in (cmd.proof[:-1], cmd.proof + b"\x00"):
        assert _code(SignedCommand(cmd.envelope, cmd.signature, cmd.document, cut), signer, nodes[2]) == "malformed"
    bad_side = bytes([7]) + cmd.proof[1:]
    assert _code(SignedCommand(cmd.envelope, cmd.signature, cmd.document, bad_side), signer, nodes[2]) == "malformed"
    too_long = (bytes([batch.LEFT]) + b"\x00" * 32) * (batch.MAX_LEVELS + 1)
    assert _code(SignedCommand(cmd.envelope, cmd.signature, cmd.document, too_long), signer, nodes[2]) == "malformed"


def test_a_leaf_cannot_pass_for_an_inner_node() -> None:
    """Second preimage: the two children of the root, presented as an envelope with no proof."""
    signer = DocumentSigner.generate()
    nodes, signed = _batch(signer, 2)
    left, right = batch.leaf_hash(signed[0].envelope), batch.leaf_hash(signed[1].envelope)
    forged = SignedCommand(left + right, signed[0].signature, signed[0].document, b"")
    assert _code(forged, signer, nodes[0]) == "bad_signature"


class _CountingKey:
    """The pinned key, counting its verifications."""

    def __init__(self, raw: bytes) -> None:
        self._key = signing_key(raw)
        self.verified = 0

    def public_bytes_raw(self) -> bytes:
        return self._key.public_bytes_raw()

    def verify(self, signature: bytes, data: bytes) -> None:
        self.verified += 1
        self._key.verify(signature, data)


def test_shared_verified_roots_verify_each_signature_once_and_never_remember_a_bad_one() -> None:
    signer = DocumentSigner.generate()
    nodes, signed = _batch(signer, 8)
    key, roots = _CountingKey(signer.public_key_raw()), batch.VerifiedRoots(size=2)
    for node_id, cmd in zip(nodes, signed, strict=True):
        verify_command(cmd, public_key=key, node_id=node_id, now_ms=NOW_MS + 1, verified_roots=roots)  # type: ignore[arg-type]
    assert key.verified == 1
    # each agent still checks its own envelope and proof against the remembered root
    a, b = signed[0], signed[1]
    with pytest.raises(VerificationError) as info:
        verify_command(SignedCommand(a.envelope, a.signature, a.document, b.proof), public_key=key,  # type: ignore[arg-type]
                       node_id=nodes[0], now_ms=NOW_MS + 1, verified_roots=roots)
    assert info.value.code == "bad_signature"
    bad = SignedCommand(a.envelope, bytes(64), a.document, a.proof)
    for _ in range(2):  # a signature that failed is verified (and refused) every time
        with pytest.raises(VerificationError):
            verify_command(bad, public_key=key, node_id=nodes[0], now_ms=NOW_MS + 1, verified_roots=roots)  # type: ignore[arg-type]
    assert key.verified == 4  # 1 + the wrong proof's root + twice the bad signature
    for _ in range(3):  # more batches than the memory holds: the first is forgotten, verified again
        other_nodes, other = _batch(signer, 1)
        verify_command(other[0], public_key=key, node_id=other_nodes[0], now_ms=NOW_MS + 1, verified_roots=roots)  # type: ignore[arg-type]
    verify_command(a, public_key=key, node_id=nodes[0], now_ms=NOW_MS + 1, verified_roots=roots)  # type: ignore[arg-type]
    assert key.verified == 8
