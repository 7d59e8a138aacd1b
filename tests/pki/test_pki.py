"""Tests for the controller CA, the document signer and the agent-side CSR helpers."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.csr import load_certificate_chain_ok, make_key_and_csr
from controller.trust.pki import (
    CertificateAuthority,
    CertifiedKey,
    IssuedCertificate,
    create_ca,
    write_private,
    write_public,
)
from controller.trust.signing import DocumentSigner
from plugins.sdk.errors import ConfigError, IdentityError, InputError, VerificationError
from plugins.sdk.wire.document import Document, Step
from plugins.sdk.wire.envelope import SignedCommand, key_id_of, signing_key, verify_command
from plugins.sdk.wire.identity import Role, fingerprint, identity_of_certificate, new_node_id

NOW_MS = 1_700_000_000_000


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(create_ca())


@pytest.fixture(scope="module")
def other_ca() -> CertificateAuthority:
    return CertificateAuthority(create_ca("Someone Else"))


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _ext(cert: x509.Certificate, cls: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(cls)


# -- CA --------------------------------------------------------------------------------------

def test_ca_properties(ca: CertificateAuthority) -> None:
    cert = _cert(ca.cert_pem)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Outpost CA"
    cert.verify_directly_issued_by(cert)  # self-signed
    assert ca.fingerprint == fingerprint(ca.cert_pem)
    assert ca.fingerprint.startswith("sha256:") and len(ca.fingerprint) == 7 + 64


def test_ca_from_pem_round_trip_and_mismatch(ca: CertificateAuthority) -> None:
    created = create_ca()
    again = CertificateAuthority.from_pem(created.key_pem, created.cert_pem)
    assert again.cert_pem == created.cert_pem
    with pytest.raises(ConfigError, match="does not belong"):
        CertificateAuthority.from_pem(created.key_pem, ca.cert_pem)
    with pytest.raises(ConfigError):
        CertificateAuthority.from_pem(b"not a key", created.cert_pem)


# -- server certificates -----------------------------------------------------------------------

def test_server_certificate_sans(ca: CertificateAuthority) -> None:
    issued = ca.issue_server(["127.0.0.1", "ctl.example", "::1"])
    assert isinstance(issued, CertifiedKey)
    cert = _cert(issued.cert_pem)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                       ipaddress.ip_address("::1")]
    assert san.get_values_for_type(x509.DNSName) == ["ctl.example"]
    assert "localhost" not in san.get_values_for_type(x509.DNSName)
    assert _ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    assert _ext(cert, x509.BasicConstraints).value.ca is False
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(_cert(ca.cert_pem), x509.SubjectKeyIdentifier).value.digest
    load_certificate_chain_ok(issued.cert_pem, ca.cert_pem)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert key.public_key() == cert.public_key()


def test_server_certificate_needs_a_hostname(ca: CertificateAuthority) -> None:
    with pytest.raises(ConfigError):
        ca.issue_server([])
    with pytest.raises(ConfigError):
        ca.issue_server("127.0.0.1")  # a bare string is a mistake, not 9 hostnames


# -- node certificates -------------------------------------------------------------------------

def _csr_asking_for(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
                    uri: str) -> bytes:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri),
                                                    x509.DNSName("evil.example")]), critical=False)
        .sign(key, algorithm)
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_node_certificate_has_only_the_node_identity(ca: CertificateAuthority) -> None:
    node_id = new_node_id()
    key_pem, csr_pem = make_key_and_csr("web-1")
    issued = ca.sign_node_csr(csr_pem, node_id)
    assert isinstance(issued, IssuedCertificate)
    cert = _cert(issued.cert_pem)
    assert issued.serial == format(cert.serial_number, "x")
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(f"spiffe://outpost/node/{node_id}")]
    identity = identity_of_certificate(cert)
    assert identity.role is Role.NODE and identity.name == node_id
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == node_id
    assert _ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert _ext(cert, x509.BasicConstraints).value.ca is False
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert cert.public_key() == key.public_key()
    load_certificate_chain_ok(issued.cert_pem, ca.cert_pem)


def test_node_certificate_ignores_requested_identity(ca: CertificateAuthority) -> None:
    node_id = new_node_id()
    csr_pem = _csr_asking_for(ec.generate_private_key(ec.SECP256R1()), "spiffe://outpost/operator/admin")
    cert = _cert(ca.sign_node_csr(csr_pem, node_id).cert_pem)
    identity = identity_of_certificate(cert)
    assert identity.role is Role.NODE and identity.name == node_id
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == []
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"spiffe://outpost/node/{node_id}"]
    assert "admin" not in cert.subject.rfc4514_string()


def test_node_csr_with_ed25519_key_is_accepted(ca: CertificateAuthority) -> None:
    csr_pem = _csr_asking_for(ed25519.Ed25519PrivateKey.generate(), "spiffe://outpost/node/mi-00000000000000000")
    node_id = new_node_id()
    cert = _cert(ca.sign_node_csr(csr_pem, node_id).cert_pem)
    assert isinstance(cert.public_key(), ed25519.Ed25519PublicKey)
    assert identity_of_certificate(cert).name == node_id


def test_tampered_csr_is_refused(ca: CertificateAuthority) -> None:
    _, csr_pem = make_key_and_csr("outpost-node")
    der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    assert der.count(b"outpost-node") == 1
    tampered = x509.load_der_x509_csr(der.replace(b"outpost-node", b"outpost-nodf"))
    tampered_pem = tampered.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(IdentityError, match="signature"):
        ca.sign_node_csr(tampered_pem, new_node_id())


@pytest.mark.parametrize("csr_pem", [b"", b"garbage", (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                                       b"-----END CERTIFICATE REQUEST-----\n")])
def test_malformed_csr_is_refused(ca: CertificateAuthority, csr_pem: bytes) -> None:
    with pytest.raises(IdentityError, match="malformed"):
        ca.sign_node_csr(csr_pem, new_node_id())


def test_unsupported_csr_keys_are_refused(ca: CertificateAuthority) -> None:
    rsa_csr = _csr_asking_for(rsa.generate_private_key(65537, 2048), "spiffe://outpost/node/x")
    with pytest.raises(IdentityError, match="unsupported"):
        ca.sign_node_csr(rsa_csr, new_node_id())
    p384_csr = _csr_asking_for(ec.generate_private_key(ec.SECP384R1()), "spiffe://outpost/node/x")
    with pytest.raises(IdentityError, match="P-256"):
        ca.sign_node_csr(p384_csr, new_node_id())


def test_bad_node_id_is_refused(ca: CertificateAuthority) -> None:
    _, csr_pem = make_key_and_csr()
    with pytest.raises(IdentityError):
        ca.sign_node_csr(csr_pem, "mi-nothex")


def test_certificate_from_another_ca_is_refused(ca: CertificateAuthority, other_ca: CertificateAuthority) -> None:
    _, csr_pem = make_key_and_csr()
    issued = other_ca.sign_node_csr(csr_pem, new_node_id())
    with pytest.raises(IdentityError):
        load_certificate_chain_ok(issued.cert_pem, ca.cert_pem)
    with pytest.raises(IdentityError):
        load_certificate_chain_ok(b"nonsense", ca.cert_pem)
    # Same subject name, different key: the signature check must catch it.
    twin = CertificateAuthority(create_ca("Outpost CA"))
    forged = twin.sign_node_csr(csr_pem, new_node_id())
    with pytest.raises(IdentityError):
        load_certificate_chain_ok(forged.cert_pem, ca.cert_pem)


# -- operator certificates ---------------------------------------------------------------------

def test_operator_certificate(ca: CertificateAuthority) -> None:
    issued = ca.issue_operator("alice")
    cert = _cert(issued.cert_pem)
    identity = identity_of_certificate(cert)
    assert identity.role is Role.OPERATOR and identity.name == "alice"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert _ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert key.public_key() == cert.public_key()
    load_certificate_chain_ok(issued.cert_pem, ca.cert_pem)
    with pytest.raises(IdentityError):
        ca.issue_operator("bad/name")


# -- files -------------------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_private_is_0600_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "ca.key"
    old = os.umask(0)
    try:
        write_private(path, b"secret-1")
        assert _mode(path) == 0o600
        assert path.read_bytes() == b"secret-1"
        os.chmod(path, 0o644)  # even a loosened existing file comes back 0600
        write_private(path, b"secret-2")
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert path.read_bytes() == b"secret-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key"]  # no temp files left


def test_write_public_is_0644(tmp_path: Path) -> None:
    path = tmp_path / "ca.crt"
    old = os.umask(0o077)
    try:
        write_public(path, b"cert-1")
        assert _mode(path) == 0o644
        write_public(path, b"cert-2")
    finally:
        os.umask(old)
    assert _mode(path) == 0o644 and path.read_bytes() == b"cert-2"


def test_write_private_reports_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write_private(tmp_path / "missing" / "key", b"x")


# -- document signing --------------------------------------------------------------------------

DOCUMENT = Document((Step("hello", "shell", {"commands": ["echo hi"]}),)).canonical_bytes()


def _signed(signer: DocumentSigner, node_id: str) -> SignedCommand:
    return signer.sign_command("cmd-1", node_id, DOCUMENT, NOW_MS, NOW_MS + 60_000)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def test_document_signer_round_trip() -> None:
    signer = DocumentSigner.generate()
    again = DocumentSigner.from_pem(signer.private_pem())
    assert again.public_key_raw() == signer.public_key_raw() and len(signer.public_key_raw()) == 32
    assert signer.key_id == key_id_of(signer.public_key_raw())
    assert signer.private_pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    node_id = new_node_id()
    verified = verify_command(_signed(again, node_id), public_key=signing_key(signer.public_key_raw()),
                              node_id=node_id, now_ms=NOW_MS + 1)
    assert verified.envelope.command_id == "cmd-1"
    assert verified.envelope.node_id == node_id
    assert verified.envelope.key_id == signer.key_id
    assert verified.envelope.document_sha256 == hashlib.sha256(DOCUMENT).digest()
    assert verified.document.steps[0].name == "hello"


def _refusal(cmd: SignedCommand, public_key_raw: bytes, node_id: str, now_ms: int = NOW_MS + 1) -> str:
    with pytest.raises(VerificationError) as info:
        verify_command(cmd, public_key=signing_key(public_key_raw), node_id=node_id, now_ms=now_ms)
    return info.value.code


def test_document_signer_refusals() -> None:
    signer = DocumentSigner.generate()
    pub = signer.public_key_raw()
    node_id = new_node_id()
    cmd = _signed(signer, node_id)
    for i in range(len(cmd.envelope)):
        tampered = SignedCommand(_flip(cmd.envelope, i), cmd.signature, cmd.document)
        assert _refusal(tampered, pub, node_id) == "bad_signature"
    assert _refusal(SignedCommand(cmd.envelope, _flip(cmd.signature, 5), cmd.document), pub, node_id) \
        == "bad_signature"
    assert _refusal(SignedCommand(cmd.envelope, cmd.signature, _flip(cmd.document, 10)), pub, node_id) \
        == "document_mismatch"
    assert _refusal(cmd, pub, new_node_id()) == "wrong_node"
    assert _refusal(cmd, pub, node_id, now_ms=NOW_MS + 60_000) == "expired"
    assert _refusal(cmd, DocumentSigner.generate().public_key_raw(), node_id) == "bad_signature"


def test_document_signer_rejects_bad_input() -> None:
    signer = DocumentSigner.generate()
    with pytest.raises(IdentityError):
        signer.sign_command("cmd-1", "not-a-node", DOCUMENT, NOW_MS, NOW_MS + 1)
    with pytest.raises(InputError):
        signer.sign_command("cmd-1", new_node_id(), DOCUMENT, NOW_MS, NOW_MS)
    with pytest.raises(ConfigError):
        DocumentSigner.from_pem(create_ca().key_pem)  # an EC key is not a document-signing key
    with pytest.raises(ConfigError):
        DocumentSigner.from_pem(b"garbage")


# -- real gRPC mTLS ----------------------------------------------------------------------------

_METHOD = "/outpost.test.Echo/WhoAmI"


async def _who_am_i(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    values = context.auth_context().get("peer_spiffe_id", [])
    return b",".join(values)


@contextlib.asynccontextmanager
async def _echo_server(ca: CertificateAuthority) -> AsyncIterator[int]:
    """A real mTLS gRPC server that requires a client certificate from ``ca``; yields its port."""
    server_ck = ca.issue_server(["127.0.0.1"])
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "outpost.test.Echo", {"WhoAmI": grpc.unary_unary_rpc_method_handler(_who_am_i)}),))
    creds = grpc.ssl_server_credentials([(server_ck.key_pem, server_ck.cert_pem)],
                                        root_certificates=ca.cert_pem, require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def _call(port: int, key_pem: bytes, cert_pem: bytes, root_pem: bytes) -> bytes:
    creds = grpc.ssl_channel_credentials(root_certificates=root_pem, private_key=key_pem,
                                         certificate_chain=cert_pem)
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        return await channel.unary_unary(_METHOD)(b"", timeout=10)


def test_grpc_mtls_accepts_our_certificates(ca: CertificateAuthority) -> None:
    node_id = new_node_id()
    key_pem, csr_pem = make_key_and_csr()
    node_cert = ca.sign_node_csr(csr_pem, node_id).cert_pem
    operator = ca.issue_operator("alice")

    async def scenario() -> tuple[bytes, bytes]:
        async with _echo_server(ca) as port:
            return (await _call(port, key_pem, node_cert, ca.cert_pem),
                    await _call(port, operator.key_pem, operator.cert_pem, ca.cert_pem))

    node_answer, operator_answer = asyncio.run(scenario())
    assert node_answer == f"spiffe://outpost/node/{node_id}".encode()
    assert operator_answer == b"spiffe://outpost/operator/alice"


def test_grpc_client_from_another_ca_fails(ca: CertificateAuthority, other_ca: CertificateAuthority) -> None:
    key_pem, csr_pem = make_key_and_csr()
    stranger_cert = other_ca.sign_node_csr(csr_pem, new_node_id()).cert_pem

    async def scenario() -> grpc.StatusCode:
        async with _echo_server(ca) as port:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _call(port, key_pem, stranger_cert, ca.cert_pem)
            return info.value.code()

    assert asyncio.run(scenario()) == grpc.StatusCode.UNAVAILABLE
