"""The agent's state directory: its identity (written at enrolment), its ledger and work dirs.

Layout::

    DIR/identity.json   node id, controller address, pinned signing key (hex) and key id
                        (identity.yaml in state written before; still read)
    DIR/ca.pem          the controller's CA bundle (pinned at enrolment by fingerprint)
    DIR/node.crt        this node's certificate
    DIR/node.key        this node's private key (0600; made here, never leaves the node)
    DIR/ledger          executed command ids (append-only, fsynced)
    DIR/journal         what the agent holds of each command until the controller acknowledges its
                        result (agent/journal.py; a swarm keeps one for all its agents, in its root)
    DIR/journal.lock    held by the agent running on DIR (its pid): a second one refuses to start
    DIR/work/           working directories of running commands
    DIR/install/        the agent versions it installed for itself (plugins/agent_update): versions/V/,
                        the ``current`` link, and while an update hands over update.json and connected
"""
from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.durable import fsync_dir
from plugins.sdk.errors import ConfigError
from plugins.sdk.host.files import write_private


@dataclass(frozen=True)
class AgentIdentity:
    node_id: str
    controller: str  # host:port of the mutual-TLS listener
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    signing_public_key: bytes  # raw Ed25519
    signing_key_id: str
    renew_at: float = 0.0  # epoch seconds its certificate is due for renewal (0: read from it)


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def ledger_path(self) -> Path:
        return self.path / "ledger"

    @property
    def journal_path(self) -> Path:
        return self.path / "journal"

    @property
    def work_dir(self) -> Path:
        return self.path / "work"

    @property
    def install_dir(self) -> Path:
        """Where the agent keeps the versions it installed for itself (plugins/agent_update)."""
        return self.path / "install"

    def note_connected(self, version: str) -> None:
        """While an update hands over (``install/update.json``), say that this agent (its version and
        pid) has connected: what the updater waits for before it keeps the new version."""
        if not (self.install_dir / "update.json").exists():
            return
        try:
            write_private(self.install_dir / "connected", f"{version} {os.getpid()}\n".encode())
        except (OSError, ConfigError) as exc:
            logging.getLogger(__name__).warning("cannot note the connection for the update under way: %s", exc)

    @property
    def identity_path(self) -> Path:
        return self.path / "identity.json"

    @property
    def _legacy_identity_path(self) -> Path:
        return self.path / "identity.yaml"

    def exists(self) -> bool:
        return self.identity_path.exists() or self._legacy_identity_path.exists()

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.work_dir.mkdir(exist_ok=True, mode=0o700)
        for path in (self.path, self.work_dir):  # existing ones too: keys and journals live here
            if stat.S_IMODE(path.stat().st_mode) != 0o700:
                os.chmod(path, 0o700)

    def save_identity(self, ident: AgentIdentity) -> None:
        self.create()
        write_private(self.path / "node.key", ident.key_pem)
        write_private(self.path / "node.crt", ident.cert_pem)
        write_private(self.path / "ca.pem", ident.ca_pem)
        doc = {"node_id": ident.node_id, "controller": ident.controller,
               "signing_public_key": ident.signing_public_key.hex(), "signing_key_id": ident.signing_key_id}
        if ident.renew_at:
            doc["renew_at"] = ident.renew_at
        write_private(self.identity_path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    def save_renewal(self, ident: AgentIdentity) -> None:
        """A renewed identity: its certificate and key (``save_certificate``), then when it is due."""
        self.save_certificate(ident.key_pem, ident.cert_pem)
        doc = json.loads(self.identity_path.read_text())
        doc["renew_at"] = ident.renew_at
        write_private(self.identity_path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    def save_signing_key(self, ident: AgentIdentity) -> None:
        """A rotated document-signing key pinned: identity.json rewritten whole (atomically)."""
        doc = json.loads(self.identity_path.read_text())
        doc["signing_public_key"], doc["signing_key_id"] = ident.signing_public_key.hex(), ident.signing_key_id
        write_private(self.identity_path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    def save_certificate(self, key_pem: bytes, cert_pem: bytes) -> None:
        """A renewed certificate and its key, as one pair: both written beside the old pair first
        (``.new``, fsynced), then each moved over its old one; ``load_identity`` finishes a move an
        agent killed meanwhile left half done, or drops a pair it left half written."""
        key, crt = self.path / "node.key", self.path / "node.crt"
        write_private(_new(key), key_pem)
        write_private(_new(crt), cert_pem)
        os.replace(_new(key), key)
        os.replace(_new(crt), crt)
        fsync_dir(self.path)

    def _finish_certificate(self) -> None:
        key, crt = self.path / "node.key", self.path / "node.crt"
        if not _new(crt).exists():
            _new(key).unlink(missing_ok=True)  # killed while writing the pair: the old one stands
            return
        new_key = _new(key) if _new(key).exists() else key  # else: already moved
        from agent.csr import certifies  # here: X.509 only when a renewal was left half done

        if certifies(_new(crt).read_bytes(), new_key.read_bytes()):
            if new_key != key:
                os.replace(new_key, key)
            os.replace(_new(crt), crt)
        else:  # the certificate half written: the old pair stands
            _new(key).unlink(missing_ok=True)
            _new(crt).unlink()
        fsync_dir(self.path)

    def _identity_doc(self) -> object:
        """JSON, so a running agent never loads a YAML parser (0.9 MB of its idle memory); state
        enrolled before that keeps its identity.yaml, read with PyYAML."""
        if self.identity_path.exists():
            return json.loads(self.identity_path.read_text())
        if self._legacy_identity_path.exists():
            import yaml

            try:
                return yaml.safe_load(self._legacy_identity_path.read_text())
            except yaml.YAMLError as exc:
                raise ValueError(f"identity.yaml: {exc}") from None
        raise ConfigError(f"{self.path}: not enrolled (no identity.json); run `outpost agent enroll` first")

    def load_identity(self) -> AgentIdentity:
        try:
            self._finish_certificate()
            doc = self._identity_doc()
            if not isinstance(doc, dict):
                raise ValueError("the identity is not a mapping")
            return AgentIdentity(
                node_id=str(doc["node_id"]), controller=str(doc["controller"]),
                ca_pem=(self.path / "ca.pem").read_bytes(), cert_pem=(self.path / "node.crt").read_bytes(),
                key_pem=(self.path / "node.key").read_bytes(),
                signing_public_key=bytes.fromhex(str(doc["signing_public_key"])),
                signing_key_id=str(doc["signing_key_id"]), renew_at=float(doc.get("renew_at", 0.0)),
            )
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.path}: broken agent state: {exc}") from None


def _new(path: Path) -> Path:
    return path.with_name(path.name + ".new")
