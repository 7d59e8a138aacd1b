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
from plugins.sdk.identity import Identity, Role, identity_of_certificate

log = logging.getLogger(__name__)


def peer_identity(context: grpc.aio.ServicerContext) -> Identity | None:
    auth = context.auth_context()
    pems = auth.get("x509_pem_cert")
    if not pems:
        return None
    try:
        return identity_of_certificate(x509.load_pem_x509_certificate(pems[0]))
    except (IdentityError, ValueError) as exc:
        log.warning("peer %s presented a certificate without an Outpost identity: %s", context.peer(), exc)
        return None


async def require(context: grpc.aio.ServicerContext, role: Role, method: str) -> Identity:
    """The caller's identity if it has ``role``; otherwise the call is aborted PERMISSION_DENIED."""
    ident = peer_identity(context)
    if ident is None or ident.role is not role:
        who = ident.uri if ident else "an unidentified peer"
        log.warning("denied %s to %s (%s)", method, who, context.peer())
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"{method} is not allowed for {who}; it needs a {role.value} certificate")
    assert ident is not None
    return ident
