"""Why a call to the controller failed before the controller answered it, in one line an operator
can act on: a TLS handshake refused over a certificate told apart from a controller that is not
there. Both sides dial the controller over mutual TLS (the CLI with an operator certificate, the
agent with its node certificate) and both report through this.

gRPC says little: a certificate the controller does not trust ends, on the client, as UNAVAILABLE
with "Socket closed" (the controller verifies it after the client has sent it, under TLS 1.3, and
just closes the connection), which reads like a controller that is down. With the certificate and
the CA the caller trusts for the controller at hand, that case is decided locally: a certificate the
CA did not issue is one the controller refuses (it trusts only its own CA), and an expired one too.

Pure functions of what the caller has (the status code's name, its details, the PEM bytes): no
network, no gRPC import; ``cryptography`` is imported only when there is a certificate to read.
"""
from __future__ import annotations

import datetime as dt

UNAVAILABLE = "UNAVAILABLE"
_WHEN = "%Y-%m-%d %H:%M UTC"
# the details gRPC gives when this side refused the controller's certificate
_UNTRUSTED_SERVER = ("certificate_verify_failed", "certificate verify failed")
_WRONG_NAME = ("peer name", "hostname mismatch", "ip address mismatch")
# the details when the connection ended during or right after the handshake (the peer closed it)
_CLOSED = ("socket closed", "connection reset", "handshake failed")


def certificate_problem(cert_pem: bytes, ca_pem: bytes, now: dt.datetime | None = None) -> str | None:
    """Why the controller, which trusts the CA ``ca_pem`` only, would refuse the certificate
    ``cert_pem`` in a handshake: issued by another CA, or not valid now. None when it is one the
    CA issued and in date (or when either does not load: then nothing can be said)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        return None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return (f"the controller does not trust this certificate: it was issued by another CA "
                f"({cert.issuer.rfc4514_string()}), not by the controller's")
    now = now or dt.datetime.now(dt.UTC)
    if now > cert.not_valid_after_utc:
        return f"the controller does not trust this certificate: it expired at {cert.not_valid_after_utc:{_WHEN}}"
    if now < cert.not_valid_before_utc:
        return f"the controller does not trust this certificate yet: valid from {cert.not_valid_before_utc:{_WHEN}}"
    return None


def connection_failure(code: str, details: str, address: str, *, cert_pem: bytes | None = None,
                       ca_pem: bytes | None = None) -> str | None:
    """One line saying why a call to the controller at ``address`` failed to connect, from its
    status ``code`` (a grpc.StatusCode's name) and ``details``; None when the controller answered
    (any code but UNAVAILABLE) or the details say nothing this can name. ``cert_pem`` and ``ca_pem``:
    this side's certificate and the CA it trusts for the controller, to decide the case gRPC leaves
    open (the controller closing the connection in the handshake)."""
    if code != UNAVAILABLE:
        return None
    text = details.lower()
    handshake = f"TLS handshake with {address} failed"
    if any(s in text for s in _UNTRUSTED_SERVER):
        if any(s in text for s in _WRONG_NAME):
            return f"{handshake}: the controller's certificate is not for the host {address} names"
        return (f"{handshake}: the controller's certificate is not trusted here (issued by another CA? the "
                f"controller may have been set up again with a new CA)")
    if not any(s in text for s in _CLOSED):
        return None
    if cert_pem is not None and ca_pem is not None:  # decided: a certificate the controller refuses, or not that
        problem = certificate_problem(cert_pem, ca_pem)
        return f"{handshake}: {problem}" if problem is not None else None
    if "socket closed" in text:  # undecided: the likeliest reading, said as one
        return f"{handshake}: the controller closed the connection; it may not trust this certificate (another CA?)"
    return None
