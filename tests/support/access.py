"""An AccessSetup for tests that build AdminService in process: the operators named hold
AdministratorAccess in the store, as `controller init`'s first operator does."""
from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.runtime.access import build_access
from controller.server.access_api import AccessSetup
from controller.store.access import ADMINISTRATOR_ACCESS
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail
from controller.trust.pki import CertificateAuthority, create_ca


def admin_access(db: Db, *operators: str, ca: CertificateAuthority | None = None) -> AccessSetup:
    for name in operators:
        db.store.create_operator(name, "test", 0, [ADMINISTRATOR_ACCESS])
    trail = AuditTrail(db, Ed25519PrivateKey.generate(), record_reads=False)  # these tests read only
    return asyncio.run(build_access(db, ca or CertificateAuthority(create_ca()), Path("/nonexistent"), trail))
