"""Envelopes signed many at once: a Merkle tree over a delivery's envelopes, one signature on its root.

A fan-out to 10,000 nodes needs 10,000 envelopes, each bound to its node; signing each cost the
controller 60-140 us (1.3 s of its event loop per fan-out, measured). Instead the controller
signs the root of a Merkle tree whose leaves are the envelopes, and each node receives its own
envelope, that signature and its proof: the sibling hashes on the way from its leaf to the root.
The node recomputes the root from its envelope and checks the signature on it, so every envelope is
as bound to its node, command, document and validity window as when it was signed alone.

Hashing as RFC 6962 (Certificate Transparency): leaf = SHA-256(0x00 || envelope), inner node =
SHA-256(0x01 || left || right), so a leaf never passes for an inner node. A level with an odd count
carries its last hash up unchanged. What is signed is ``ROOT_LABEL || root``: a signature made here
can never be taken for one over anything else the key signs.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from plugins.sdk.errors import VerificationError

ROOT_LABEL = b"outpost.v1 envelope batch root\x00"
STEP = 33  # a proof level: the side byte and the sibling's sha256
LEFT, RIGHT = 0, 1  # the side the sibling is on
MAX_LEVELS = 32  # 4 billion envelopes in a batch: more levels than that is a malformed proof
_LEAF, _NODE = b"\x00", b"\x01"
_SIBLING_LEFT, _SIBLING_RIGHT = bytes((LEFT,)), bytes((RIGHT,))


def leaf_hash(envelope: bytes) -> bytes:
    return hashlib.sha256(_LEAF + envelope).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def build(envelopes: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """The root of the envelopes' tree, and each envelope's proof (in the same order)."""
    if not envelopes:
        raise ValueError("a batch holds at least one envelope")
    levels = [[leaf_hash(e) for e in envelopes]]
    while len(level := levels[-1]) > 1:
        up = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:  # the odd one out goes up as it is
            up.append(level[-1])
        levels.append(up)
    proofs = []
    for leaf in range(len(envelopes)):
        steps, at = [], leaf
        for level in levels[:-1]:
            sibling = at ^ 1
            if sibling < len(level):  # else: carried up, no step at this level
                steps.append((_SIBLING_RIGHT if sibling > at else _SIBLING_LEFT) + level[sibling])
            at >>= 1
        proofs.append(b"".join(steps))
    return levels[-1][0], proofs


def root_of(envelope: bytes, proof: bytes) -> bytes:
    """The root that ``proof`` leads to from ``envelope``; VerificationError ``malformed`` for a proof
    that is not whole levels or names a side that does not exist."""
    if len(proof) % STEP or len(proof) > MAX_LEVELS * STEP:
        raise VerificationError("malformed", f"batch proof of {len(proof)} bytes is not whole levels of {STEP}")
    h = leaf_hash(envelope)
    for at in range(0, len(proof), STEP):
        side, sibling = proof[at], proof[at + 1:at + STEP]
        if side == RIGHT:
            h = _node(h, sibling)
        elif side == LEFT:
            h = _node(sibling, h)
        else:
            raise VerificationError("malformed", f"batch proof level {at // STEP} names side {side}")
    return h


def signed_message(root: bytes) -> bytes:
    """The bytes the signature covers."""
    return ROOT_LABEL + root


def check_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        raise VerificationError("bad_signature", "envelope signature does not verify with the pinned key") from None


class VerifiedRoots:
    """Batch roots whose signature has verified, the most recent ``size`` of them, keyed by the exact
    key, root and signature. ``outpost swarm`` gives its agents one: each of them still recomputes the
    root from its own envelope and proof and checks everything the envelope binds, while a signature
    that verified for one agent of the process is not verified again for the next (real nodes verify
    in parallel, each on its own CPU; 10,000 simulated ones on this machine's two cores would spend
    1.5 s of the swarm's event loop per fan-out on it). A plain agent has none: it verifies every
    signature."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._seen: dict[bytes, None] = {}

    def check_signature(self, public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
        """:func:`check_signature`, unless these very bytes verified with this key before."""
        key = public_key.public_bytes_raw() + signature + message
        if key in self._seen:
            return
        check_signature(public_key, signature, message)  # raises: a bad one is never remembered
        self._seen[key] = None
        if len(self._seen) > self._size:
            del self._seen[next(iter(self._seen))]
