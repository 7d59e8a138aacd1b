"""``outpost controller init``: a CA, a server certificate, a document-signing key, the master key
that seals documents and output at rest, the first operator's credentials (holding
AdministratorAccess, valid 30 days, renewable with `outpost operator renew`), the database, and the
operator CLI's configuration."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from controller.runtime.access import record_operator
from controller.runtime.config import DEFAULT_PORT, CliConfig, ControllerDir, ControllerSettings
from controller.server.access_api import DEFAULT_OPERATOR_DAYS
from controller.store import Store
from controller.store.access import ADMINISTRATOR_ACCESS
from controller.trust.audit_trail import create_audit_key
from controller.trust.pki import CertificateAuthority, create_ca, write_private, write_public
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import keyring_path, open_keyring
from controller.trust.signing import DocumentSigner
from plugins.sdk.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InitResult:
    directory: Path
    ca_fingerprint: str
    cli_config: Path
    operator: str


def init_controller(directory: Path, hostnames: tuple[str, ...], *, operator: str, cli_config_path: Path,
                    database_url: str | None = None, port: int = DEFAULT_PORT,
                    master_key_file: Path | None = None) -> InitResult:
    """``master_key_file``: the keyring's path when the operator keeps it elsewhere (made there when
    it does not exist); else ``master.key`` in the directory."""
    cdir = ControllerDir(directory)
    if cdir.settings_path.exists():
        raise ConfigError(f"{cdir.path} is already initialised; refusing to overwrite its keys")
    if not hostnames:
        raise ConfigError("give at least one --hostname (the name or address agents dial)")
    cdir.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    (cdir.path / "operators").mkdir(exist_ok=True, mode=0o700)
    cdir.make_private()  # an existing directory too

    ca_pair = create_ca()
    write_private(cdir.file("ca.key"), ca_pair.key_pem)
    write_public(cdir.file("ca.crt"), ca_pair.cert_pem)
    ca = CertificateAuthority(ca_pair)
    server = ca.issue_server(list(hostnames))
    write_private(cdir.file("server.key"), server.key_pem)
    write_public(cdir.file("server.crt"), server.cert_pem)
    write_private(cdir.file("signing.key"), DocumentSigner.generate().private_pem())
    create_audit_key(cdir.path)
    op = ca.issue_operator(operator, DEFAULT_OPERATOR_DAYS)
    op_key, op_crt = cdir.file(f"operators/{operator}.key"), cdir.file(f"operators/{operator}.crt")
    write_private(op_key, op.key_pem)
    write_public(op_crt, op.cert_pem)

    keyring = open_keyring(keyring_path(cdir.path, master_key_file), create=True)
    url = database_url or cdir.default_database_url()
    store = Store.open(url, RecordSealer(keyring))
    try:
        store.migrate()
        record_operator(store, operator, op.cert_pem, "controller init", [ADMINISTRATOR_ACCESS])
    finally:
        store.close()
    listen = f"{hostnames[0]}:{port}"
    cdir.save_settings(ControllerSettings(url, hostnames, listen))
    CliConfig(controller=listen, ca=cdir.file("ca.crt"), certificate=op_crt, key=op_key,
              operator=operator).save(cli_config_path)
    log.info("initialised controller in %s", cdir.path)
    return InitResult(cdir.path, ca.fingerprint, cli_config_path, operator)
