"""The agent's certificate renewed before it expires (issue 18, point 5): at two thirds of its life
(from notBefore to notAfter) the agent makes a new key and asks the controller, on its stream, to
certify it. The answer is checked (a certificate for this node, for this key, from the pinned CA)
and saved with its key as one pair (StateDir.save_certificate: an agent killed meanwhile finds the
pair whole at its next start); the agent's next stream opens with it. A refusal, or no answer on
this stream, is tried again on a later one (at least RETRY_SECONDS later), well before the old
certificate expires."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from agent.state import AgentIdentity, StateDir
from plugins.sdk.errors import IdentityError
from plugins.sdk.wire.messages import CertificateRenewed, RenewCertificate

log = logging.getLogger(__name__)

RENEW_AT = 2 / 3  # of the certificate's life
RETRY_SECONDS = 60.0


def renew_at(cert_pem: bytes) -> float:
    """When (epoch seconds) a certificate is due for renewal."""
    from cryptography import x509  # here: an agent that is not renewing keeps X.509 out of its memory

    cert = x509.load_pem_x509_certificate(cert_pem)
    start, end = cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
    return start + (end - start) * RENEW_AT


class CertificateRenewal:
    def __init__(self, state: StateDir, identity: AgentIdentity, clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self.identity = identity
        self._clock = clock
        self._due_at: float | None = None  # read from the certificate when first asked
        self._pending_key: bytes | None = None

    def due(self) -> bool:
        if self._pending_key is not None:
            return False
        if self._due_at is None:  # kept in identity.json; read from the certificate for state from before
            self._due_at = self.identity.renew_at or renew_at(self.identity.cert_pem)
        return self._clock() >= self._due_at

    def request(self) -> RenewCertificate:
        from plugins.sdk.host.keys import make_key_and_csr

        key_pem, csr_pem = make_key_and_csr(self.identity.node_id)
        self._pending_key = key_pem
        log.info("certificate of node %s is two thirds through its life: asking for the next", self.identity.node_id)
        return RenewCertificate(csr_pem)

    def unanswered(self) -> None:
        """The stream ended before the answer: ask again on a later one."""
        if self._pending_key is not None:
            self._pending_key = None
            self._due_at = self._clock() + RETRY_SECONDS

    def answered(self, msg: CertificateRenewed) -> AgentIdentity | None:
        """The new identity once saved, or None (refused, or not a certificate to use: tried later)."""
        key_pem, self._pending_key = self._pending_key, None
        if key_pem is None:
            log.warning("a certificate came that this agent did not ask for; ignored")
            return None
        try:
            if not msg.certificate_pem:
                raise IdentityError(f"refused: {msg.error or 'no reason given'}")
            from agent.csr import check_node_certificate  # here: X.509 only when renewing

            check_node_certificate(msg.certificate_pem, key_pem, self.identity.node_id, self.identity.ca_pem)
        except IdentityError as exc:
            log.warning("certificate renewal of node %s: %s; trying again later", self.identity.node_id, exc)
            self._due_at = self._clock() + RETRY_SECONDS
            return None
        self.identity = replace(self.identity, key_pem=key_pem, cert_pem=msg.certificate_pem,
                                renew_at=renew_at(msg.certificate_pem))
        self._state.save_renewal(self.identity)
        self._due_at = None
        log.info("node %s has its next certificate; its next stream uses it", self.identity.node_id)
        return self.identity
