"""The audit trail's integrity: each record carries the SHA-256 of the one before it, and the chain's
head is signed now and then with the controller's audit key (Ed25519), as CloudTrail signs its
digest files. Whoever can edit the store but lacks the key cannot change, remove, insert or reorder
a record without ``verify`` naming the first record where the chain breaks; what the last signature
does not yet cover is protected by the chain alone (hence: sign often, export elsewhere).

The records and how each is chained to the one before are controller/model.py's (the store appends
them); this module signs heads and checks the chain; controller/trust/audit_trail.py writes them.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controller.model import AUDIT_GENESIS, AuditRecord, SignedHead, audit_digest

_HEAD = struct.Struct(">qq32s")  # seq, at_ms, digest: what a head's signature covers
_HEAD_CONTEXT = b"outpost audit head v1\0"
SECRET_PREFIX = "hmac-sha256:"


def sign_head(key: Ed25519PrivateKey, record: AuditRecord, at_ms: int) -> SignedHead:
    return SignedHead(record.seq, at_ms, record.digest,
                      key.sign(_HEAD_CONTEXT + _HEAD.pack(record.seq, at_ms, record.digest)))


def keyed_hash(key: bytes, value: str) -> str:
    """A secret value as the trail keeps it: equal values show equal, none can be read back."""
    return SECRET_PREFIX + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    records: int  # read
    signed_up_to: int  # the last seq a verified signature covers (0: none)
    problem: str = ""  # the first, naming its record: "record 17: edited (its digest does not match)"

    def line(self) -> str:
        if self.ok:
            unsigned = self.records - self.signed_up_to
            return (f"audit trail intact: {self.records} record(s), signed up to {self.signed_up_to}"
                    + (f" ({unsigned} after the last signature, chained)" if unsigned else ""))
        return f"audit trail broken: {self.problem}"


def verify(records: Iterable[AuditRecord], heads: Iterable[SignedHead], public_key: Ed25519PublicKey) -> Verdict:
    """Walk the chain from its first record; the first break, by record: a record changed (its digest
    no longer matches what it holds), one missing (a gap in seq, or a prev that is not the digest
    before it), one inserted or moved (the same), a signed head that does not verify or no longer
    matches its record. Records in the order the store gives them (by seq)."""
    by_seq: dict[int, bytes] = {}
    count = 0
    last_seq, last_digest = 0, AUDIT_GENESIS
    for rec in records:
        count += 1
        if rec.seq != last_seq + 1:
            what = "missing" if rec.seq > last_seq + 1 else "out of order or inserted"
            return Verdict(False, count, 0, f"record {rec.seq}: after record {last_seq}: "
                                            f"record(s) {what} (seq {last_seq + 1} expected)")
        if rec.digest != audit_digest(rec.seq, rec.prev, rec.entry):
            return Verdict(False, count, 0, f"record {rec.seq}: edited (its digest does not match what it holds)")
        if rec.prev != last_digest:
            return Verdict(False, count, 0, f"record {rec.seq}: its chain breaks (prev is not record "
                                            f"{last_seq}'s digest: a record removed, inserted or rewritten)")
        by_seq[rec.seq] = rec.digest
        last_seq, last_digest = rec.seq, rec.digest
    signed = 0
    for head in heads:
        if head.seq not in by_seq:
            if head.seq > last_seq:
                return Verdict(False, count, signed, f"record {head.seq}: signed on {head.at_ms} but gone "
                                                     f"(the trail ends at {last_seq}: records removed from its end)")
            continue
        try:
            public_key.verify(head.signature, _HEAD_CONTEXT + _HEAD.pack(head.seq, head.at_ms, head.digest))
        except InvalidSignature:
            return Verdict(False, count, signed, f"record {head.seq}: the signed head there does not verify")
        if head.digest != by_seq[head.seq]:
            return Verdict(False, count, signed, f"record {head.seq}: differs from what was signed on "
                                                 f"{head.at_ms} (the trail was rewritten up to there)")
        signed = max(signed, head.seq)
    return Verdict(True, count, signed)
