"""Enrolment with a hybrid activation.

1. Discover and pin the controller's CA: a TLS handshake without verification fetches the chain the
   enrolment listener presents; the CA certificate in it must match the fingerprint the operator
   was given with the activation (kubeadm's discovery-token-ca-cert-hash), or nothing is sent.
2. Call ``AgentService.Enroll`` over TLS verified with that CA (server authentication only), with
   the activation id and code, a CSR for a key made here (it never leaves the node) and the facts.
3. Store the node id, certificate, CA bundle and the document-signing public key.
"""
from __future__ import annotations

import logging
import socket
import ssl

import grpc

from agent.certificate import renew_at
from agent.csr import check_node_certificate, make_key_and_csr
from agent.facts import gather_facts
from agent.state import AgentIdentity, StateDir
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import ConfigError, IdentityError, OutpostError
from plugins.sdk.facts import Facts
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.identity import fingerprint

log = logging.getLogger(__name__)

ENROLL_TIMEOUT_SECONDS = 20.0
_ENCODING_DER = 2  # ssl._ssl.ENCODING_DER


class EnrolmentError(OutpostError):
    """Enrolment was refused or could not be completed."""


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"controller address {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def default_enrolment_endpoint(controller: str) -> str:
    """The enrolment listener is on the port after the controller's (see docs/architecture.md)."""
    host, port = split_address(controller)
    return f"{host}:{port + 1}"


def _presented_chain(host: str, port: int) -> list[bytes]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # nothing is trusted yet: the pin below decides
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, port), timeout=ENROLL_TIMEOUT_SECONDS) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            # public in Python 3.13; the same method is reachable on 3.11 and 3.12 through _sslobj
            getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain
            return [ssl.DER_cert_to_PEM_cert(c.public_bytes(_ENCODING_DER)).encode() for c in getter()]


def discover_ca(endpoint: str, pinned_fingerprint: str) -> bytes:
    """The PEM of the CA certificate the enrolment endpoint presents whose fingerprint is pinned."""
    want = pinned_fingerprint.strip().lower()
    if not want.startswith("sha256:") or len(want) != 71:
        raise ConfigError(f"--ca-fingerprint {pinned_fingerprint!r}: expected sha256:<64 hex digits>")
    host, port = split_address(endpoint)
    try:
        chain = _presented_chain(host, port)
    except OSError as exc:
        raise EnrolmentError(f"cannot reach the enrolment endpoint {endpoint}: {exc}") from None
    seen = []
    for pem in chain:
        fp = fingerprint(pem)
        seen.append(fp)
        if fp == want:
            return pem
    raise EnrolmentError(f"the controller at {endpoint} does not present the pinned CA {want} "
                         f"(presented: {', '.join(seen) or 'nothing'}); refusing to enrol")


def enroll(*, controller: str, endpoint: str, activation_id: str, activation_code: str,
           ca_fingerprint: str, state: StateDir, registry: PluginRegistry,
           facts: Facts | None = None) -> AgentIdentity:
    """``facts``: what the request reports about the node (default: gathered from this machine)."""
    if state.exists():
        raise ConfigError(f"{state.path} already holds an enrolled identity; use another --state-dir")
    ca_pem = discover_ca(endpoint, ca_fingerprint)
    key_pem, csr_pem = make_key_and_csr()
    request = pb.EnrollRequest(activation_id=activation_id, activation_code=activation_code, csr_pem=csr_pem,
                               facts=wire.facts_to_pb(facts or gather_facts(registry.infos())))
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    try:
        with grpc.secure_channel(endpoint, creds) as channel:
            reply = pbg.AgentServiceStub(channel).Enroll(request, timeout=ENROLL_TIMEOUT_SECONDS)
    except grpc.RpcError as exc:
        raise EnrolmentError(f"enrolment refused: {exc.details()}") from None
    try:
        check_node_certificate(reply.certificate_pem, key_pem, reply.node_id, ca_pem)
    except IdentityError as exc:
        raise EnrolmentError(f"the controller returned a certificate this agent cannot use: {exc}") from None
    identity = AgentIdentity(node_id=reply.node_id, controller=controller, ca_pem=reply.ca_bundle_pem or ca_pem,
                             cert_pem=reply.certificate_pem, key_pem=key_pem,
                             signing_public_key=reply.signing_public_key, signing_key_id=reply.signing_key_id,
                             renew_at=renew_at(reply.certificate_pem))
    state.save_identity(identity)
    log.info("enrolled as %s with %s", reply.node_id, controller)
    return identity
