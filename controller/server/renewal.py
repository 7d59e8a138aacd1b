"""A node's certificate renewed over its authenticated stream (issue 18, point 5): node certificates
live 7 days by default, and at two thirds of that the agent sends a CSR for a key it made; the
controller certifies it for the node the stream's verified certificate names (never one a payload
names), records it by serial (for revocation) and on the audit trail, and answers on the stream.
The old certificate stays valid until it expires: the agent's next stream uses the new one.

A node may renew once a stream, and three times then once a minute at most (a flood of CSRs costs
one refusal each, not a signature and a row)."""
from __future__ import annotations

import logging

from controller.model import NODE_CERTIFICATE_SECONDS, AuditEntry, AuditOutcome
from controller.server.rate_limit import RateLimiter
from controller.store.access import CertificateRecord
from controller.store.db import Db
from controller.store.errors import StoreError
from controller.trust.audit_trail import AuditTrail, AuditUnavailable
from controller.trust.pki import CertificateAuthority
from plugins.sdk.errors import IdentityError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.wire.identity import Role
from plugins.sdk.wire.messages import CertificateRenewed

log = logging.getLogger(__name__)

RENEW = "node:RenewCertificate"  # the audit trail's action


class NodeRenewal:
    def __init__(self, db: Db, ca: CertificateAuthority, trail: AuditTrail,
                 valid_seconds: int = NODE_CERTIFICATE_SECONDS) -> None:
        self._db = db
        self._ca = ca
        self._trail = trail
        self.valid_seconds = valid_seconds
        self._limiter = RateLimiter(rate=1 / 60, burst=3)

    async def renew(self, node_id: str, source_ip: str, csr_pem: bytes) -> CertificateRenewed:
        """The node's next certificate, or why not (the stream goes on either way)."""
        if self._limiter.wait(node_id) > 0:
            return self._refused(node_id, source_ip, "too many renewals; try again later")
        self._limiter.charge(node_id)
        try:
            issued = self._ca.sign_node_csr(csr_pem, node_id, self.valid_seconds)
        except IdentityError as exc:
            return self._refused(node_id, source_ip, f"csr: {exc}")
        at = now_ms()
        try:
            await self._db.run(self._db.store.record_certificate, CertificateRecord(
                issued.serial, Role.NODE.value, node_id, at, issued.not_after_ms, None))
            # on record before it goes out, as at enrolment
            await self._trail.record(self._entry(node_id, source_ip, AuditOutcome.SUCCEEDED,
                                                 f"certificate {issued.serial} issued"))
        except (AuditUnavailable, StoreError) as exc:  # the agent asks again on a later stream
            log.error("certificate renewal of node %s not recorded: %s", node_id, exc)
            return CertificateRenewed(b"", "the controller could not record the certificate; try again later")
        log.info("renewed the certificate of node %s: %s, until %d", node_id, issued.serial, issued.not_after_ms)
        return CertificateRenewed(issued.cert_pem)

    def _refused(self, node_id: str, source_ip: str, why: str) -> CertificateRenewed:
        log.warning("certificate renewal of node %s refused: %s", node_id, why)
        self._trail.submit(self._entry(node_id, source_ip, AuditOutcome.DENIED, why))
        return CertificateRenewed(b"", why)

    @staticmethod
    def _entry(node_id: str, source_ip: str, outcome: AuditOutcome, detail: str) -> AuditEntry:
        return AuditEntry.event(now_ms(), f"node/{node_id}", source_ip, RENEW, outcome, f"node/{node_id}", detail)
