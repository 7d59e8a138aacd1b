"""Where the controller keeps its keys and settings, and where the operator CLI finds it.

Controller directory (``controller init --dir DIR``)::

    DIR/controller.yaml        database URL, hostnames, default listen address
    DIR/ca.key  DIR/ca.crt     the CA (ECDSA P-256); the key is 0600 and never leaves DIR
    DIR/server.key  server.crt the server certificate with the SANs given at init
    DIR/signing.key            the Ed25519 document-signing key (0600)
    DIR/outpost.db             the embedded SQLite store (default)
    DIR/operators/NAME.key|crt operator credentials made at init

CLI configuration (``--config``, ``OUTPOST_CONFIG`` or ``~/.config/outpost/config.yaml``): the
controller address and the operator's CA, certificate and key paths.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from controller.model import NODE_CERTIFICATE_SECONDS
from plugins.sdk.errors import ConfigError, InputError
from plugins.sdk.host.files import write_private

if TYPE_CHECKING:
    from controller.events.webhook_config import WebhookConfig
    from plugins.sdk.secrets import Secret

DEFAULT_PORT = 8443


def default_cli_config_path() -> Path:
    env = os.environ.get("OUTPOST_CONFIG")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "outpost" / "config.yaml"


def _load_yaml(path: Path) -> dict[str, object]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return doc


def _str(doc: dict[str, object], key: str, path: Path) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {key}: expected a non-empty string")
    return value


MAX_NODE_CERTIFICATE = 365 * 24 * 3600


@dataclass(frozen=True)
class ControllerSettings:
    database_url: str
    hostnames: tuple[str, ...]
    listen: str
    webhooks: tuple[WebhookConfig, ...] = ()
    retention_days: int = 30
    audit_reads: bool = True  # reads (Get, List, ...) in the audit trail too
    require_safe_parameters: bool = False  # refuse documents that paste a parameter into a script as text
    node_certificate_seconds: int = NODE_CERTIFICATE_SECONDS  # renewed by the agent at two thirds
    webhooks_ca_bundle: Path | None = None  # the CAs https webhooks are verified with; None: the system's
    notification_secret: Secret | None = None  # signs commands' own notifications; None: they are refused


class ControllerDir:
    def __init__(self, path: Path) -> None:
        self.path = path.resolve()

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def settings_path(self) -> Path:
        return self.path / "controller.yaml"

    def make_private(self) -> bool:
        """The directory and its operators/ room 0700, whether or not they existed before (a directory
        made by hand, or loosened since, is tightened). True when something was wider."""
        widened = False
        for path in (self.path, self.path / "operators"):
            if path.is_dir() and stat.S_IMODE(path.stat().st_mode) != 0o700:
                os.chmod(path, 0o700)
                widened = True
        return widened

    def default_database_url(self) -> str:
        return f"sqlite:///{self.path / 'outpost.db'}"

    def save_settings(self, settings: ControllerSettings) -> None:
        doc = {"database_url": settings.database_url, "hostnames": list(settings.hostnames),
               "listen": settings.listen, "retention_days": settings.retention_days,
               "audit_reads": settings.audit_reads, "require_safe_parameters": settings.require_safe_parameters,
               "node_certificate_seconds": settings.node_certificate_seconds,
               "webhooks": [{"url": w.url, "secret": w.secret.reveal(), "events": sorted(w.events)}
                            for w in settings.webhooks]}
        if settings.webhooks_ca_bundle is not None:
            doc["webhooks_ca_bundle"] = str(settings.webhooks_ca_bundle)
        if settings.notification_secret is not None:
            doc["notification_secret"] = settings.notification_secret.reveal()
        write_private(self.settings_path, yaml.safe_dump(doc, sort_keys=True).encode())

    def load_settings(self) -> ControllerSettings:
        if not self.settings_path.exists():
            raise ConfigError(f"{self.path}: not a controller directory (run `outpost controller init` first)")
        doc = _load_yaml(self.settings_path)
        hostnames = doc.get("hostnames")
        if not isinstance(hostnames, list) or not all(isinstance(h, str) for h in hostnames):
            raise ConfigError(f"{self.settings_path}: hostnames: expected a list of strings")
        retention = doc.get("retention_days", 30)
        if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
            raise ConfigError(f"{self.settings_path}: retention_days: expected a positive integer")
        audit_reads, safe = doc.get("audit_reads", True), doc.get("require_safe_parameters", False)
        for key, value in (("audit_reads", audit_reads), ("require_safe_parameters", safe)):
            if not isinstance(value, bool):
                raise ConfigError(f"{self.settings_path}: {key}: expected true or false")
        lifetime = doc.get("node_certificate_seconds", NODE_CERTIFICATE_SECONDS)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 10 <= lifetime <= MAX_NODE_CERTIFICATE:
            raise ConfigError(f"{self.settings_path}: node_certificate_seconds: expected 10 to {MAX_NODE_CERTIFICATE} "
                              f"(a year), got {lifetime!r}")
        try:
            from controller.events.webhook_config import (  # the controller's settings only, not the CLI's (10 ms)
                load_ca_bundle,
                load_notification_secret,
                load_webhooks,
            )

            webhooks = load_webhooks(doc.get("webhooks"), "webhooks")
            ca_bundle = load_ca_bundle(doc.get("webhooks_ca_bundle"))
            notification_secret = load_notification_secret(doc.get("notification_secret"))
        except InputError as exc:
            raise ConfigError(f"{self.settings_path}: {exc}") from None
        return ControllerSettings(_str(doc, "database_url", self.settings_path), tuple(hostnames),
                                  _str(doc, "listen", self.settings_path), webhooks, retention, audit_reads, safe,
                                  lifetime, ca_bundle, notification_secret)

    def read(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{self.path / name}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class CliConfig:
    controller: str
    ca: Path
    certificate: Path
    key: Path
    operator: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"controller": self.controller, "ca": str(self.ca), "certificate": str(self.certificate),
               "key": str(self.key), "operator": self.operator}
        write_private(path, yaml.safe_dump(doc, sort_keys=True).encode())

    @classmethod
    def load(cls, path: Path) -> CliConfig:
        if not path.exists():
            raise ConfigError(f"{path}: no CLI configuration; run `outpost controller init` or pass --config")
        doc = _load_yaml(path)
        return cls(_str(doc, "controller", path), Path(_str(doc, "ca", path)),
                   Path(_str(doc, "certificate", path)), Path(_str(doc, "key", path)), _str(doc, "operator", path))

    def credentials(self) -> tuple[bytes, bytes, bytes]:
        """(ca, key, certificate) PEM bytes."""
        try:
            return self.ca.read_bytes(), self.key.read_bytes(), self.certificate.read_bytes()
        except OSError as exc:
            raise ConfigError(f"operator credentials: {exc}") from None
