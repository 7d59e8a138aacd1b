"""The agent's side of enrollment and renewal: a key and a CSR (plugins/sdk/host/keys.py), and the
check of the certificate that comes back."""
from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from plugins.sdk.errors import IdentityError
from plugins.sdk.host.keys import make_key_and_csr
from plugins.sdk.wire.identity import Role, identity_of_certificate

__all__ = ["certifies", "check_node_certificate", "load_certificate_chain_ok", "make_key_and_csr"]

_SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def load_certificate_chain_ok(cert_pem: bytes, ca_pem: bytes) -> None:
    """Raise :class:`IdentityError` unless ``cert_pem`` was signed directly by the CA in ``ca_pem``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise IdentityError(f"certificate does not load: {exc}") from None
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise IdentityError(f"CA certificate does not load: {exc}") from None
    try:
        cert.verify_directly_issued_by(ca)
    except InvalidSignature:
        raise IdentityError("certificate signature does not verify with the CA key") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IdentityError(f"certificate was not issued by this CA: {exc}") from None


def check_node_certificate(cert_pem: bytes, key_pem: bytes, node_id: str, ca_pem: bytes) -> None:
    """Raise :class:`IdentityError` unless ``cert_pem`` certifies the key of ``key_pem`` as node
    ``node_id`` and the CA of ``ca_pem`` signed it."""
    load_certificate_chain_ok(cert_pem, ca_pem)
    cert = x509.load_pem_x509_certificate(cert_pem)
    ident = identity_of_certificate(cert)
    if ident.role is not Role.NODE or ident.name != node_id:
        raise IdentityError(f"the certificate names {ident.uri}, not node {node_id}")
    if not certifies(cert_pem, key_pem):
        raise IdentityError("the certificate is for another key")


def certifies(cert_pem: bytes, key_pem: bytes) -> bool:
    """Whether ``cert_pem`` is a whole certificate for the key of ``key_pem``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return False
    return bool(cert.public_key().public_bytes(*_SPKI) == key.public_key().public_bytes(*_SPKI))
