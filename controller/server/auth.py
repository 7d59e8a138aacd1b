"""Who is calling: taken from the verified peer certificate only, never from a payload.

The mutual-TLS listener has already verified the chain against the CA; here the certificate's
single spiffe URI SAN decides the role. Node certificates may call only AgentService.Connect,
operator certificates only AdminService (default deny for anything else).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from cryptography import x509

from plugins.sdk.errors import IdentityError
from plugins.sdk.wire.identity import Identity, Role, identity_of_certificate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    """A caller as its verified certificate names it."""
    identity: Identity
    serial: str  # lower-case hex: what a revocation names


def _parse(context: grpc.aio.ServicerContext, pem: bytes) -> Peer | None:
    try:
        cert = x509.load_pem_x509_certificate(pem)
        return Peer(identity_of_certificate(cert), format(cert.serial_number, "x"))
    except (IdentityError, ValueError) as exc:
        log.warning("peer %s presented a certificate without an Outpost identity: %s", context.peer(), exc)
        return None


class PeerIdentities:
    """The identity in each verified peer certificate, parsed once: an operator's CLI presents the
    same certificate with every call, and parsing it cost 0.1 ms a call here. The certificate's
    PEM bytes are the key, so a different certificate is always parsed afresh; at most ``limit``
    are kept (none with 0), the oldest forgotten first. One per service."""

    def __init__(self, limit: int = 1024) -> None:
        self._known: dict[bytes, Peer] = {}
        self._limit = limit

    def of(self, context: grpc.aio.ServicerContext) -> Identity | None:
        peer = self.peer(context)
        return peer.identity if peer is not None else None

    def peer(self, context: grpc.aio.ServicerContext) -> Peer | None:
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            return None
        pem = pems[0]
        peer = self._known.get(pem)
        if peer is None:
            peer = _parse(context, pem)
            if peer is None:  # not kept: a bad certificate is reported at every call
                return None
            if self._limit:
                if len(self._known) >= self._limit:
                    del self._known[next(iter(self._known))]
                self._known[pem] = peer
        return peer

    async def require(self, context: grpc.aio.ServicerContext, role: Role, method: str) -> Identity:
        """The caller's identity if it has ``role``; otherwise the call is aborted PERMISSION_DENIED."""
        return (await self.require_peer(context, role, method)).identity

    async def require_peer(self, context: grpc.aio.ServicerContext, role: Role, method: str) -> Peer:
        """The caller if its certificate has ``role``; otherwise the call is aborted PERMISSION_DENIED."""
        peer = self.peer(context)
        if peer is None or peer.identity.role is not role:
            who = peer.identity.uri if peer else "an unidentified peer"
            log.warning("denied %s to %s (%s)", method, who, context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"{method} is not allowed for {who}; it needs a {role.value} certificate")
        assert peer is not None
        return peer
