"""A fresh key and a certificate signing request for it: how an agent enrols and how an operator's
workstation asks for its certificate; the key never leaves the machine that made it.

ECDSA P-256 keys only (gRPC's BoringSSL accepts them as TLS client keys). The controller ignores
the CSR's subject and SANs; the hint is only there to make the CSR readable in logs.
"""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_MAX_CN = 64


def make_key_and_csr(hint: str = "outpost-node") -> tuple[bytes, bytes]:
    """Return ``(private key PEM (PKCS8, unencrypted), CSR PEM)`` for a fresh P-256 key."""
    name = (hint or "").strip()[:_MAX_CN] or "outpost-node"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)
