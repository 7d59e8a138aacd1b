"""The agent's side of enrollment: a key and a CSR (plugins/sdk/host/keys.py), and the check of the
certificate that comes back."""
from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from plugins.sdk.errors import IdentityError
from plugins.sdk.host.keys import make_key_and_csr

__all__ = ["load_certificate_chain_ok", "make_key_and_csr"]


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
