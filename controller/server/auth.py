"""Who is calling: taken from the verified peer certificate only, never from a payload.

The mutual-TLS listener has already verified the chain against the CA; here the certificate's
single spiffe URI SAN decides the role. Node certificates may call only AgentService.Connect,
operator certificates only AdminService (default deny for anything else).
"""
from __future__ import annotations

import logging

import grpc
from cryptography import x509

from plugins.sdk.errors import IdentityError
from plugins.sdk.wire.identity import Identity, Role, identity_of_certificate

log = logging.getLogger(__name__)


def _parse(context: grpc.aio.ServicerContext, pem: bytes) -> Identity | None:
    try:
        return identity_of_certificate(x509.load_pem_x509_certificate(pem))
    except (IdentityError, ValueError) as exc:
        log.warning("peer %s presented a certificate without an Outpost identity: %s", context.peer(), exc)
        return None


class PeerIdentities:
    """The identity in each verified peer certificate, parsed once: an operator's CLI presents the
    same certificate with every call, and parsing it cost 0.1 ms a call here. The certificate's
    PEM bytes are the key, so a different certificate is always parsed afresh; at most ``limit``
    are kept (none with 0), the oldest forgotten first. One per service."""

    def __init__(self, limit: int = 1024) -> None:
        self._known: dict[bytes, Identity] = {}
        self._limit = limit

    def of(self, context: grpc.aio.ServicerContext) -> Identity | None:
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            return None
        pem = pems[0]
        ident = self._known.get(pem)
        if ident is None:
            ident = _parse(context, pem)
            if ident is None:  # not kept: a bad certificate is reported at every call
                return None
            if self._limit:
                if len(self._known) >= self._limit:
                    del self._known[next(iter(self._known))]
                self._known[pem] = ident
        return ident

    async def require(self, context: grpc.aio.ServicerContext, role: Role, method: str) -> Identity:
        """The caller's identity if it has ``role``; otherwise the call is aborted PERMISSION_DENIED."""
        ident = self.of(context)
        if ident is None or ident.role is not role:
            who = ident.uri if ident else "an unidentified peer"
            log.warning("denied %s to %s (%s)", method, who, context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"{method} is not allowed for {who}; it needs a {role.value} certificate")
        assert ident is not None
        return ident
