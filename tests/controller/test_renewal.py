"""controller.server.renewal.NodeRenewal on a real SQLite store and audit trail: a CSR is certified
for the node the stream names, recorded by serial and on the trail before the answer; a bad CSR, and
a node past its three renewals, are refused on the trail with nothing issued."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.model import AuditQuery
from controller.server.renewal import RENEW, NodeRenewal
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail
from controller.trust.pki import CertificateAuthority, create_ca
from plugins.sdk.host.keys import make_key_and_csr
from plugins.sdk.wire.identity import identity_of_certificate, new_node_id
from tests.support.databases import sqlite_db

CA = CertificateAuthority(create_ca())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    with sqlite_db(tmp_path) as d:
        yield d


def test_renewals_are_certified_for_the_stream_s_node_recorded_and_bounded(db: Db) -> None:
    node = new_node_id()

    async def go() -> list:
        trail = AuditTrail(db, Ed25519PrivateKey.generate())
        renewal = NodeRenewal(db, CA, trail, valid_seconds=600)
        answers = [await renewal.renew(node, "10.0.0.7", make_key_and_csr("claims-another-node")[1])
                   for _ in range(3)]
        answers.append(await renewal.renew(node, "10.0.0.7", make_key_and_csr()[1]))  # the fourth at once
        other = new_node_id()
        answers.append(await renewal.renew(other, "10.0.0.8", b"-----BEGIN CERTIFICATE REQUEST-----\nAA\n"))
        await trail.close()
        return answers

    first, second, third, fourth, bad = asyncio.run(go())
    for answer in (first, second, third):
        cert = x509.load_pem_x509_certificate(answer.certificate_pem)
        assert answer.error == "" and identity_of_certificate(cert).name == node  # never the CSR's name
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert 600 <= lifetime.total_seconds() <= 660  # 600 s, backdated a tenth
    assert (fourth.certificate_pem, fourth.error) == (b"", "too many renewals; try again later")
    assert bad.certificate_pem == b"" and bad.error.startswith("csr: malformed certificate signing request")
    recorded = db.store.certificates_of("node", node)
    assert len(recorded) == 3 and all(c.revoked_at_ms is None for c in recorded)
    trail = [(r.entry.actor, r.entry.outcome.value, r.entry.detail[:20])
             for r in db.store.audit_page(AuditQuery(limit=100)) if r.entry.action == RENEW]
    assert [t[1] for t in trail] == ["Succeeded"] * 3 + ["AccessDenied", "AccessDenied"], trail
    assert trail[3][0] == f"node/{node}" and trail[3][2] == "too many renewals; t"
