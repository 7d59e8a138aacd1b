"""The agent's side of enrollment: make a key and a CSR, and check the certificate that comes back.

ECDSA P-256 keys only (gRPC's BoringSSL accepts them as TLS client keys). The controller ignores
the CSR's subject and SANs; the hint is only there to make the CSR readable in logs.
"""
from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plugins.sdk.errors import IdentityError

_MAX_CN = 64


def make_key_and_csr(node_hint: str = "outpost-node") -> tuple[bytes, bytes]:
    """Return ``(private key PEM (PKCS8, unencrypted), CSR PEM)`` for a fresh P-256 key."""
    hint = (node_hint or "").strip()[:_MAX_CN] or "outpost-node"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hint)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


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
