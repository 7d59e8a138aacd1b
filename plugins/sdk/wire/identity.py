"""Identities carried in certificates as spiffe:// URI SANs, and CA fingerprints."""
from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugins.sdk.errors import IdentityError

if TYPE_CHECKING:
    from cryptography import x509

TRUST_DOMAIN = "outpost"
_NODE_ID = re.compile(r"^mi-[0-9a-f]{17}$")
_OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_SPIFFE = re.compile(r"^spiffe://outpost/(node|operator)/([^/]+)$")


class Role(enum.Enum):
    NODE = "node"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Identity:
    role: Role
    name: str  # node id or operator name

    @property
    def uri(self) -> str:
        return f"spiffe://{TRUST_DOMAIN}/{self.role.value}/{self.name}"


def new_node_id() -> str:
    return "mi-" + secrets.token_hex(9)[:17]


def is_node_id(value: str) -> bool:
    return bool(_NODE_ID.match(value))


def node_identity(node_id: str) -> Identity:
    if not is_node_id(node_id):
        raise IdentityError(f"not a node id: {node_id!r} (expected mi- and 17 hex digits)")
    return Identity(Role.NODE, node_id)


def operator_identity(name: str) -> Identity:
    if not _OPERATOR.match(name):
        raise IdentityError(f"not an operator name: {name!r}")
    return Identity(Role.OPERATOR, name)


def parse_spiffe(uri: str) -> Identity:
    m = _SPIFFE.match(uri)
    if not m:
        raise IdentityError(f"not an Outpost identity: {uri!r}")
    role, name = Role(m.group(1)), m.group(2)
    return node_identity(name) if role is Role.NODE else operator_identity(name)


def identity_of_certificate(cert: x509.Certificate) -> Identity:
    from cryptography import x509  # here: the CLI and the compiler need only the names above (20 ms)

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subjectAltName") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    if len(spiffe) != 1:
        raise IdentityError(f"certificate must carry exactly one spiffe URI SAN, has {len(spiffe)}")
    return parse_spiffe(spiffe[0])


def fingerprint(cert_pem: bytes) -> str:
    """``sha256:<hex>`` of the first certificate's DER encoding (what activations print)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem)
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
