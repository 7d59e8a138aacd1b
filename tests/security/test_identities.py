"""Identities: a certificate used where it does not belong (a node's on the admin API, an operator's as
an agent), one from a foreign CA, and a deregistered node's."""
from __future__ import annotations

import grpc

from controller.trust.pki import CertificateAuthority, create_ca
from tests.security.rig import Credentials, Rig, connect_refusal, now, refused
from tests.support.cluster import wait_for


def test_a_node_certificate_on_the_admin_api(rig: Rig) -> None:
    """A node's own certificate and key in a CLI configuration that says it is the administrator."""
    node = rig.spare_node("sec-node-as-operator")
    state = rig.c.state_dir("sec-node-as-operator")
    config = rig.write("node-as-admin.yaml", f"controller: {rig.c.address}\nca: {rig.c.controller_dir / 'ca.crt'}\n"
                       f"certificate: {state / 'node.crt'}\nkey: {state / 'node.key'}\noperator: admin\n")
    since = now()
    line = rig.send_refused(config, rig.marker("node-as-operator"), "--targets", f"Key=InstanceIds,Values={node}")
    assert f"AdminService.SendCommand is not allowed for spiffe://outpost/node/{node}" in line
    rig.audited("command:Send", "the refusal", since, actor=f"node/{node}", outcome="AccessDenied")


def test_an_operator_certificate_connects_as_an_agent(rig: Rig) -> None:
    rig.operator("sec-as-agent")
    before, since = rig.node_ids(), now()
    err = connect_refusal(rig.c, Credentials.of_operator(rig.bundle("sec-as-agent"), "sec-as-agent"))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED and "AgentService.Connect" in err.details()
    assert "\n" not in err.details()
    rig.audited("node:Connect", "the refusal", since, actor="operator/sec-as-agent", outcome="AccessDenied")
    assert rig.node_ids() == before


def test_a_client_certificate_from_a_foreign_ca(rig: Rig) -> None:
    """A certificate for operator admin, signed by a CA the controller has never seen."""
    forged = CertificateAuthority(create_ca("Rogue CA")).issue_operator("admin")
    key, cert = rig.write("rogue/admin.key", forged.key_pem.decode()), rig.write("rogue/admin.crt",
                                                                                 forged.cert_pem.decode())
    config = rig.write("rogue/config.yaml", f"controller: {rig.c.address}\nca: {rig.c.controller_dir / 'ca.crt'}\n"
                       f"certificate: {cert}\nkey: {key}\noperator: admin\n")
    def handshakes_refused() -> int:
        return (rig.root / "controller.log").read_text(errors="replace").count("CERTIFICATE_VERIFY_FAILED")
    before, refusals, since = len(rig.json("activation", "list")), handshakes_refused(), now()
    line = refused(rig.cli("activation", "create", "--tags", "Environment=prod", config=config),
                   f"TLS handshake with {rig.c.address} failed", "issued by another CA")
    assert "Rogue CA" in line
    # not audited (nothing gets past the handshake): the controller logs the refused handshake
    wait_for(lambda: handshakes_refused() > refusals, 10, "the controller to log the refused handshake")
    assert len(rig.json("activation", "list")) == before
    assert not rig.audit("activation:Create", since=since)


def test_a_deregistered_node_reconnects(rig: Rig) -> None:
    node = rig.spare_node("sec-deregistered")
    said = rig.ok("node", "deregister", node)
    serial = said.partition("certificate(s) ")[2].partition(" revoked")[0]
    assert serial, said
    since = now()
    err = connect_refusal(rig.c, Credentials.of_node(rig.c.state_dir("sec-deregistered")))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED and "revoked" in err.details(), err
    assert serial in err.details() and "\n" not in err.details()
    rig.audited("node:Connect", "the refusal", since, actor=f"node/{node}", outcome="AccessDenied")
    assert node not in rig.node_ids()
