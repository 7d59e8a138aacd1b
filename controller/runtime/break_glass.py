"""Break glass: an administrator's credentials made on the controller's own host, for when no
operator can call the controller any more (the last administrator's certificate expired or was
revoked, its key lost). `outpost controller recover-operator --dir DIR NAME --out BUNDLE`.

Holding the controller's directory (its CA key, its database's master key) is already holding the
controller, so that is what this asks for; and it works only while the controller is stopped (it
takes the database's sole-controller lease, as a controller does), so that the audit trail has one
writer. NAME is a new operator holding AdministratorAccess, or an existing one (not revoked), which
keeps its policies and gets a new certificate. The issue is recorded like any certificate (it can be
revoked) and goes on the audit trail as ``operator:RecoverAccess`` by ``host/USER@HOSTNAME``."""
from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from controller.model import AuditEntry, AuditOutcome
from controller.runtime.config import ControllerDir
from controller.runtime.lease import LeaseKeeper, this_process
from controller.runtime.sealed_store import open_sealed_store
from controller.store import NotFound, Store
from controller.store.access import ADMINISTRATOR_ACCESS, CertificateRecord
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail, load_audit_key
from controller.trust.pki import CertificateAuthority, issued_of
from controller.trust.sealing import keyring_path
from plugins.sdk.errors import ConfigError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.wire.identity import Role

log = logging.getLogger(__name__)

RECOVER = "operator:RecoverAccess"  # the audit trail's action


@dataclass(frozen=True)
class Recovered:
    operator: str
    created: bool  # a new operator (AdministratorAccess), or a new certificate for an existing one
    policies: tuple[str, ...]
    serial: str
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    controller: str  # where the CLI calls


def recover_operator(directory: Path, name: str, days: int, master_key_file: Path | None = None) -> Recovered:
    cdir = ControllerDir(directory)
    settings = cdir.load_settings()
    store, _ = open_sealed_store(settings.database_url, keyring_path(cdir.path, master_key_file))
    try:
        store.migrate()
        lease = LeaseKeeper(store, this_process("recover-operator"))
        lease.acquire()  # AnotherController: the controller runs; this waits for it to stop
        try:
            return asyncio.run(_recover(cdir, store, name, days, settings.listen))
        finally:
            lease.release()
    finally:
        store.close()


async def _recover(cdir: ControllerDir, store: Store, name: str, days: int, listen: str) -> Recovered:
    ca = CertificateAuthority.from_pem(cdir.read("ca.key"), cdir.read("ca.crt"))
    at = now_ms()
    try:
        rec = store.get_operator(name)
    except NotFound:
        rec = None
    if rec is not None and rec.revoked_at_ms is not None:
        raise ConfigError(f"operator {name} is revoked; recover access under a new name")
    issued = ca.issue_operator(name, days)
    cert = issued_of(issued.cert_pem)
    db = Db(store)
    trail = AuditTrail(db, load_audit_key(cdir.path))
    try:
        if rec is None:
            await db.run(store.create_operator, name, "controller recover-operator", at, [ADMINISTRATOR_ACCESS])
        await db.run(store.record_certificate, CertificateRecord(cert.serial, Role.OPERATOR.value, name, at,
                                                                 cert.not_after_ms, None))
        policies = tuple(p for p, _ in await db.run(store.policies_of, name))
        actor = f"host/{getpass.getuser()}@{socket.gethostname()}"
        await trail.record(AuditEntry.event(at, actor[:200], "", RECOVER, AuditOutcome.SUCCEEDED, f"operator/{name}",
                                          f"certificate {cert.serial} issued on the controller's host "
                                          f"({'new operator' if rec is None else 'existing operator'})"))
    finally:
        await trail.close()
        db.close()
    log.warning("break glass: operator %s given certificate %s on this host", name, cert.serial)
    return Recovered(name, rec is None, policies, cert.serial, issued.key_pem, issued.cert_pem, ca.cert_pem,
                     listen)
