"""Who may do what, set up when the controller starts: the revoked serials, the operators' policies
(loaded on first use, kept until they change) and the gate every admin call passes.

A database from before operators were recorded (migration 0005) holds none: the controller then
adopts each operator certificate in its directory's ``operators/`` as an operator holding
AdministratorAccess (what every operator certificate could do before), and says so.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from controller.model import Tag
from controller.server.access_api import AccessSetup
from controller.server.access_gate import AccessGate
from controller.server.auth import PeerIdentities
from controller.server.call_audit import CallAudit
from controller.store import NotFound, Store
from controller.store.access import ADMINISTRATOR_ACCESS, CertificateRecord
from controller.store.db import Db
from controller.store.errors import Conflict
from controller.trust.audit_trail import AuditTrail
from controller.trust.authorizer import Authorizer
from controller.trust.pki import CertificateAuthority, issued_of
from controller.trust.revocation import Denylist
from plugins.sdk.errors import IdentityError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.wire.identity import Role, identity_of_certificate

log = logging.getLogger(__name__)


def holding(store: Store, operator: str) -> tuple[bool, bool, Sequence[tuple[str, str]]]:
    """(known, revoked, its policies as (name, document)): what the Authorizer loads."""
    try:
        rec = store.get_operator(operator)
    except NotFound:
        return False, False, ()
    return True, rec.revoked_at_ms is not None, store.policies_of(operator)


def record_operator(store: Store, name: str, cert_pem: bytes, created_by: str, policies: Sequence[str]) -> None:
    """An operator and the certificate it was issued outside a call (``controller init``, adoption)."""
    issued = issued_of(cert_pem)
    at = now_ms()
    store.create_operator(name, created_by, at, policies)
    store.record_certificate(CertificateRecord(issued.serial, Role.OPERATOR.value, name, at, issued.not_after_ms, None))


def adopt_operators(store: Store, operators_dir: Path) -> list[str]:
    """The operators whose certificates lie in ``operators_dir``, when the store records none yet."""
    if store.list_operators():
        return []
    adopted: list[str] = []
    for crt in sorted(operators_dir.glob("*.crt")):
        try:
            identity = identity_of_certificate(x509.load_pem_x509_certificate(crt.read_bytes()))
        except (IdentityError, OSError, ValueError) as exc:
            log.warning("not adopting %s as an operator: %s", crt, exc)
            continue
        if identity.role is not Role.OPERATOR:
            continue
        try:
            record_operator(store, identity.name, crt.read_bytes(), "adopted at upgrade", [ADMINISTRATOR_ACCESS])
        except Conflict:
            continue
        adopted.append(identity.name)
    if adopted:
        log.warning("operators recorded for the first time, each holding %s as every operator certificate did "
                    "before: %s; scope them with `outpost policy attach|detach`", ADMINISTRATOR_ACCESS,
                    ", ".join(adopted))
    return adopted


async def build_access(db: Db, ca: CertificateAuthority, operators_dir: Path, trail: AuditTrail) -> AccessSetup:
    await db.run(adopt_operators, db.store, operators_dir)
    denylist = Denylist(await db.run(db.store.revoked_serials))

    async def load(operator: str) -> tuple[bool, bool, Sequence[tuple[str, str]]]:
        return await db.run(holding, db.store, operator)

    async def node_tags() -> Sequence[tuple[str, Sequence[Tag]]]:
        return await db.run(db.store.tagged_nodes)

    authorizer = Authorizer(load)
    gate = AccessGate(PeerIdentities(), authorizer, denylist, node_tags, CallAudit(trail))
    return AccessSetup(ca, gate)
