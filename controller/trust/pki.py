"""The controller's certificate authority: it issues the server, node and operator certificates.

The CA private key lives only here (and in the controller's state directory, written with
:func:`write_private`). Every key is ECDSA P-256 so that gRPC's BoringSSL accepts the
certificates on both ends of an mTLS connection. Identities travel as exactly one
``spiffe://outpost/...`` URI SAN (see :mod:`plugins.sdk.wire.identity`).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.model import NODE_CERTIFICATE_SECONDS
from plugins.sdk.errors import ConfigError, IdentityError
from plugins.sdk.host.files import write_private, write_public  # noqa: F401 - re-exported
from plugins.sdk.wire.identity import Identity, fingerprint, node_identity, operator_identity

# Certificates start this far in the past so that a node whose clock lags a little accepts them.
BACKDATE = dt.timedelta(minutes=5)
# A CSR larger than this is refused before parsing (a P-256 CSR is well under 1 KiB).
MAX_CSR_BYTES = 16 * 1024


@dataclass(frozen=True)
class CertifiedKey:
    """A private key (PKCS8 PEM, unencrypted) and its certificate (PEM)."""

    key_pem: bytes
    cert_pem: bytes


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate issued for a key the CA never saw (node CSR); ``serial`` is lowercase hex."""

    cert_pem: bytes
    serial: str
    not_after_ms: int = 0


def _issued(cert: x509.Certificate) -> IssuedCertificate:
    return IssuedCertificate(_cert_pem(cert), _serial_hex(cert), int(cert.not_valid_after_utc.timestamp() * 1000))


def issued_of(cert_pem: bytes) -> IssuedCertificate:
    """A certificate's serial and end, as the store records them."""
    return _issued(x509.load_pem_x509_certificate(cert_pem))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def _check_days(valid_days: int, name: str = "valid_days") -> None:
    if not isinstance(valid_days, int) or isinstance(valid_days, bool) or valid_days <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {valid_days!r}")


def create_ca(common_name: str = "Outpost CA", valid_days: int = 3650) -> CertifiedKey:
    """Make a new self-signed ECDSA P-256 CA that may sign leaf certificates only."""
    _check_days(valid_days)
    if not common_name or len(common_name) > 64:
        raise ConfigError(f"CA common name must be 1..64 characters, got {common_name!r}")
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Outpost"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertifiedKey(_key_pem(key), _cert_pem(cert))


_LEAF_KEY_USAGE = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                crl_sign=False, encipher_only=False, decipher_only=False)

_LeafPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class CertificateAuthority:
    """Issues leaf certificates with the CA key. Construct with a :class:`CertifiedKey` or :meth:`from_pem`."""

    __slots__ = ("_cert", "_cert_pem", "_fingerprint", "_key")

    def __init__(self, certified: CertifiedKey) -> None:
        try:
            key = serialization.load_pem_private_key(certified.key_pem, password=None)
            cert = x509.load_pem_x509_certificate(certified.cert_pem)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"CA key or certificate does not load: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError("CA key must be an ECDSA P-256 private key")
        if cert.public_key() != key.public_key():
            raise ConfigError("CA certificate does not belong to the CA key")
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            raise ConfigError("CA certificate has no basicConstraints") from None
        if not constraints.ca:
            raise ConfigError("CA certificate is not a CA (basicConstraints ca=False)")
        self._key: ec.EllipticCurvePrivateKey = key
        self._cert = cert
        self._cert_pem = _cert_pem(cert)
        self._fingerprint = fingerprint(self._cert_pem)

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> CertificateAuthority:
        return cls(CertifiedKey(key_pem, cert_pem))

    @property
    def cert_pem(self) -> bytes:
        return self._cert_pem

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the CA certificate (what activations print and agents pin)."""
        return self._fingerprint

    # -- issuing ---------------------------------------------------------------------------

    def _leaf(self, *, subject_cn: str, public_key: _LeafPublicKey, sans: Sequence[x509.GeneralName],
              usage: x509.ObjectIdentifier, valid_days: int = 0, valid_seconds: int = 0) -> x509.Certificate:
        if valid_seconds:
            _check_days(valid_seconds, "valid_seconds")
        else:
            _check_days(valid_days)
        now = _now()
        lifetime = dt.timedelta(seconds=valid_seconds) if valid_seconds else dt.timedelta(days=valid_days)
        not_after = min(now + lifetime, self._cert.not_valid_after_utc)
        backdate = min(BACKDATE, lifetime / 10)  # a short-lived certificate's renewal point stays ahead
        if not_after <= now:
            raise ConfigError("the CA certificate has expired; rotate the CA before issuing")
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - backdate)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_LEAF_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        return builder.sign(self._key, hashes.SHA256())

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        try:
            ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)

    def issue_server(self, hostnames: Sequence[str], valid_days: int = 825) -> CertifiedKey:
        """A TLS server certificate for the controller: IP SANs for addresses, DNS SANs otherwise."""
        if isinstance(hostnames, str):
            raise ConfigError("hostnames must be a sequence of names, not one string")
        names = [h.strip() for h in hostnames]
        if not names or any(not h for h in names):
            raise ConfigError(f"server certificate needs at least one non-empty hostname, got {list(hostnames)!r}")
        sans: list[x509.GeneralName] = []
        for host in names:
            san: x509.GeneralName
            try:
                san = x509.IPAddress(ipaddress.ip_address(host))
            except ValueError:
                if not host.isascii() or len(host) > 253 or any(c.isspace() for c in host):
                    raise ConfigError(f"not a usable DNS name: {host!r}") from None
                san = x509.DNSName(host.lower())
            if san not in sans:
                sans.append(san)
        key = _new_key()
        cn = names[0] if len(names[0]) <= 64 else "outpost-controller"
        cert = self._leaf(subject_cn=cn, public_key=key.public_key(), sans=sans,
                          usage=ExtendedKeyUsageOID.SERVER_AUTH, valid_days=valid_days)
        return CertifiedKey(_key_pem(key), _cert_pem(cert))

    def sign_node_csr(self, csr_pem: bytes, node_id: str,
                      valid_seconds: int = NODE_CERTIFICATE_SECONDS) -> IssuedCertificate:
        """Certify the CSR's key as ``node_id`` (for 7 days by default: the agent renews it over its
        stream at two thirds of that). The CSR's requested subject and SANs are ignored."""
        identity = node_identity(node_id)
        public_key = _csr_public_key(csr_pem)
        cert = self._leaf(subject_cn=identity.name, public_key=public_key, sans=_identity_sans(identity),
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH, valid_seconds=valid_seconds)
        return _issued(cert)

    def sign_operator_csr(self, csr_pem: bytes, name: str, valid_days: int) -> IssuedCertificate:
        """Certify the CSR's key as operator ``name`` (the key stays on the operator's workstation).
        The CSR's requested subject and SANs are ignored."""
        identity = operator_identity(name)
        cert = self._leaf(subject_cn=identity.name, public_key=_csr_public_key(csr_pem), sans=_identity_sans(identity),
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH, valid_days=valid_days)
        return _issued(cert)

    def issue_operator(self, name: str, valid_days: int = 365) -> CertifiedKey:
        """A client certificate (and a fresh key) for the operator CLI."""
        identity = operator_identity(name)
        key = _new_key()
        cert = self._leaf(subject_cn=identity.name, public_key=key.public_key(), sans=_identity_sans(identity),
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH, valid_days=valid_days)
        return CertifiedKey(_key_pem(key), _cert_pem(cert))


def _identity_sans(identity: Identity) -> list[x509.GeneralName]:
    return [x509.UniformResourceIdentifier(identity.uri)]


def _csr_public_key(csr_pem: bytes) -> _LeafPublicKey:
    if not isinstance(csr_pem, (bytes, bytearray)):
        raise IdentityError("certificate signing request must be PEM bytes")
    if len(csr_pem) > MAX_CSR_BYTES:
        raise IdentityError(f"certificate signing request is {len(csr_pem)} bytes; the limit is {MAX_CSR_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(bytes(csr_pem))
    except ValueError as exc:
        raise IdentityError(f"malformed certificate signing request: {exc}") from None
    try:
        public_key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IdentityError(f"unusable key in certificate signing request: {exc}") from None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise IdentityError(f"unsupported CSR key: EC curve {public_key.curve.name}; use P-256")
    elif not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise IdentityError(f"unsupported CSR key type {type(public_key).__name__}; use ECDSA P-256")
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IdentityError(f"certificate signing request signature cannot be checked: {exc}") from None
    if not valid:
        raise IdentityError("certificate signing request signature does not verify")
    return public_key


