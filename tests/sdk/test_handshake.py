"""plugins.sdk.host.handshake: why a call failed to connect, from a status code, its details and
this side's certificate and CA. The details are the ones gRPC gave in tests/e2e runs (a CLI with a
certificate from another CA; a CLI that trusts another CA than the controller's)."""
from __future__ import annotations

import datetime as dt

import pytest

from controller.trust.pki import CertificateAuthority, create_ca
from plugins.sdk.host.handshake import certificate_problem, connection_failure

OURS = CertificateAuthority(create_ca("Outpost CA"))
OTHER = CertificateAuthority(create_ca("Outpost CA"))  # the same name, another key: as a second `controller init`
OUR_CERT = OURS.issue_operator("admin").cert_pem
THEIR_CERT = OTHER.issue_operator("admin").cert_pem
ADDRESS = "127.0.0.1:50051"
CLOSED = "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:50051: Socket closed"
UNTRUSTED = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: Tls handshake failed "
             "(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:"
             "CERTIFICATE_VERIFY_FAILED: self signed certificate in certificate chain: OK")
REFUSED = "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:50051: Connection refused"
HANDSHAKE = f"TLS handshake with {ADDRESS} failed: "


def test_a_certificate_from_another_ca_is_named_as_such() -> None:
    said = connection_failure("UNAVAILABLE", CLOSED, ADDRESS, cert_pem=THEIR_CERT, ca_pem=OURS.cert_pem)
    assert said == HANDSHAKE + ("the controller does not trust this certificate: it was issued by another CA "
                                "(CN=Outpost CA,O=Outpost), not by the controller's")


def test_without_the_certificates_the_closed_handshake_is_the_likely_reading() -> None:
    said = connection_failure("UNAVAILABLE", CLOSED, ADDRESS)
    assert said == HANDSHAKE + ("the controller closed the connection; it may not trust this certificate "
                                "(another CA?)")


def test_a_controller_certificate_not_trusted_here() -> None:
    said = connection_failure("UNAVAILABLE", UNTRUSTED, ADDRESS, cert_pem=OUR_CERT, ca_pem=OURS.cert_pem)
    assert said is not None and said.startswith(HANDSHAKE + "the controller's certificate is not trusted here")
    wrong_host = UNTRUSTED.replace("self signed certificate in certificate chain", "Peer name x is not in peer "
                                                                                   "certificate")
    assert connection_failure("UNAVAILABLE", wrong_host, ADDRESS) == (
        HANDSHAKE + f"the controller's certificate is not for the host {ADDRESS} names")


@pytest.mark.parametrize(("code", "details", "cert"), [
    ("UNAVAILABLE", CLOSED, OUR_CERT),  # our certificate is fine: something else closed it
    ("UNAVAILABLE", REFUSED, THEIR_CERT),  # nothing listens: not a handshake
    ("UNAVAILABLE", "", None),
    ("PERMISSION_DENIED", "operator certificate required", THEIR_CERT),  # the controller answered
    ("DEADLINE_EXCEEDED", "Deadline Exceeded", None),
])
def test_what_is_not_a_refused_handshake_is_left_to_the_caller(code: str, details: str, cert: bytes | None) -> None:
    ca = OURS.cert_pem if cert is not None else None
    assert connection_failure(code, details, ADDRESS, cert_pem=cert, ca_pem=ca) is None


def test_an_expired_or_not_yet_valid_certificate() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    said = certificate_problem(OUR_CERT, OURS.cert_pem, now=later)
    assert said is not None and said.startswith("the controller does not trust this certificate: it expired at ")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    said = certificate_problem(OUR_CERT, OURS.cert_pem, now=earlier)
    assert said is not None and said.startswith("the controller does not trust this certificate yet: valid from ")
    assert certificate_problem(b"not a certificate", OURS.cert_pem) is None
