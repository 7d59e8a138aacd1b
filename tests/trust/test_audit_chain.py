"""controller.trust.audit: a trail in, tampered in each way an attacker with the store but not the
key can, and the verdict out, naming the first bad record."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.model import AuditEntry, AuditRecord, SignedHead
from controller.model import AuditOutcome as Outcome
from controller.model import audit_chained as chained
from controller.model import audit_digest as digest_of
from controller.trust.audit import (
    keyed_hash,
    sign_head,
    verify,
)

KEY = Ed25519PrivateKey.generate()


def entry(i: int) -> AuditEntry:
    return AuditEntry(at_ms=1000 + i, actor="operator/alice", source_ip="10.0.0.1", action="command:Send",
                      outcome=Outcome.ALLOWED, request_id=f"req-{i}", resource="document/deploy",
                      targets="Key=tag:Role,Values=web", resolved=3, parameters=(("token", keyed_hash(b"k", "s3")),))


def trail(n: int = 10) -> tuple[list[AuditRecord], list[SignedHead]]:
    records: list[AuditRecord] = []
    heads: list[SignedHead] = []
    for i in range(n):
        records.append(chained(records[-1] if records else None, entry(i)))
        if records[-1].seq % 5 == 0:
            heads.append(sign_head(KEY, records[-1], 5000 + i))
    return records, heads


def rechain(records: list[AuditRecord], start: int) -> list[AuditRecord]:
    """What an attacker without the key can do after a change: recompute every digest from ``start``."""
    out = records[:start]
    for rec in records[start:]:
        prev = out[-1].digest if out else bytes(32)
        out.append(AuditRecord(rec.seq, rec.entry, prev, digest_of(rec.seq, prev, rec.entry)))
    return out


def edited(records: list[AuditRecord]) -> list[AuditRecord]:
    records[2] = replace(records[2], entry=replace(records[2].entry, actor="operator/mallory"))
    return records


def edited_and_rechained(records: list[AuditRecord]) -> list[AuditRecord]:
    return rechain(edited(records), 2)


def deleted(records: list[AuditRecord]) -> list[AuditRecord]:
    del records[3]
    return records


def deleted_and_renumbered(records: list[AuditRecord]) -> list[AuditRecord]:
    del records[3]
    return [replace(r, seq=i + 1) for i, r in enumerate(records)]


def inserted(records: list[AuditRecord]) -> list[AuditRecord]:
    forged = AuditRecord(4, entry(99), records[2].digest, digest_of(4, records[2].digest, entry(99)))
    return records[:3] + [forged] + [replace(r, seq=r.seq + 1) for r in records[3:]]


def reordered(records: list[AuditRecord]) -> list[AuditRecord]:
    a, b = records[5], records[6]
    records[5], records[6] = replace(b, seq=a.seq), replace(a, seq=b.seq)
    return records


def truncated(records: list[AuditRecord]) -> list[AuditRecord]:
    return records[:7]


@pytest.mark.parametrize(("tamper", "problem"), [
    (edited, "record 3: edited (its digest does not match what it holds)"),
    (edited_and_rechained, "record 5: differs from what was signed on 5004 (the trail was rewritten up to there)"),
    (deleted, "record 5: after record 3: record(s) missing (seq 4 expected)"),
    (deleted_and_renumbered, "record 4: edited (its digest does not match what it holds)"),
    (inserted, "record 5: edited (its digest does not match what it holds)"),
    (reordered, "record 6: edited (its digest does not match what it holds)"),
    (truncated, "record 10: signed on 5009 but gone (the trail ends at 7: records removed from its end)"),
])
def test_tampering_is_named_at_the_first_bad_record(tamper: Callable[[list[AuditRecord]], list[AuditRecord]],
                                                     problem: str) -> None:
    records, heads = trail()
    verdict = verify(tamper(list(records)), heads, KEY.public_key())
    assert not verdict.ok and verdict.problem == problem
    assert verdict.line() == f"audit trail broken: {problem}"


def test_an_intact_trail_and_what_its_signatures_cover() -> None:
    records, heads = trail(12)
    verdict = verify(records, heads, KEY.public_key())
    assert verdict.ok and verdict.records == 12 and verdict.signed_up_to == 10
    assert verdict.line() == "audit trail intact: 12 record(s), signed up to 10 (2 after the last signature, chained)"
    assert verify([], [], KEY.public_key()).line() == "audit trail intact: 0 record(s), signed up to 0"


def test_a_head_signed_by_another_key_or_altered_does_not_verify() -> None:
    records, heads = trail()
    forged = sign_head(Ed25519PrivateKey.generate(), records[4], 5004)
    assert verify(records, [forged], KEY.public_key()).problem == "record 5: the signed head there does not verify"
    moved = replace(heads[0], at_ms=1)
    assert verify(records, [moved], KEY.public_key()).problem == "record 5: the signed head there does not verify"


def test_the_chain_starts_at_genesis_and_a_record_moved_to_the_front_breaks_it() -> None:
    records, _ = trail(3)
    assert records[0].prev == bytes(32) and records[1].prev == records[0].digest
    fake_first = replace(records[1], seq=1)
    assert verify([fake_first], [], KEY.public_key()).problem.startswith("record 1: edited")
    lone = AuditRecord(1, entry(1), records[0].digest, digest_of(1, records[0].digest, entry(1)))
    assert verify([lone], [], KEY.public_key()).problem.startswith("record 1: its chain breaks")


def test_secret_values_are_kept_as_keyed_hashes() -> None:
    assert keyed_hash(b"k", "s3") == keyed_hash(b"k", "s3") != keyed_hash(b"other", "s3")
    assert keyed_hash(b"k", "s3").startswith("hmac-sha256:") and "s3" not in keyed_hash(b"k", "s3")[12:]
    secret = replace(entry(0), parameters=(("p", keyed_hash(b"k", "s3cr3t")),))
    assert b"s3cr3t" not in chained(None, secret).entry.canonical()
