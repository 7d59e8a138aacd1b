"""agent.certificate and StateDir.save_certificate: when a certificate is due (two thirds of its
life), what a renewal's answer must be to be taken (this node, this key, the pinned CA), and a
renewed pair that is whole after a kill at any point of its saving."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from agent.certificate import CertificateRenewal, renew_at
from agent.state import AgentIdentity, StateDir
from controller.trust.pki import CertificateAuthority, create_ca
from plugins.sdk.host.keys import make_key_and_csr
from plugins.sdk.wire.identity import new_node_id
from plugins.sdk.wire.messages import CertificateRenewed

CA = CertificateAuthority(create_ca())
OTHER_CA = CertificateAuthority(create_ca())


def _identity(state: StateDir, seconds: int = 3000) -> AgentIdentity:
    node_id = new_node_id()
    key, csr = make_key_and_csr()
    ident = AgentIdentity(node_id, "127.0.0.1:1", CA.cert_pem, CA.sign_node_csr(csr, node_id, seconds).cert_pem, key,
                          bytes(32), "ed25519:00")
    state.save_identity(ident)
    return ident


def test_due_at_two_thirds_of_the_certificate_s_life(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    ident = _identity(state, 3000)  # backdated a tenth: 3300 s in all, due 2200 s after notBefore
    now = [0.0]
    renewal = CertificateRenewal(state, ident, clock=lambda: now[0])
    due = renew_at(ident.cert_pem)
    now[0] = due - 1
    assert not renewal.due()
    now[0] = due
    assert renewal.due()
    request = renewal.request()
    assert b"CERTIFICATE REQUEST" in request.csr_pem and not renewal.due()  # one at a time
    renewal.unanswered()  # the stream ended first: again a minute later
    assert not renewal.due()
    now[0] = due + 60
    assert renewal.due()


@pytest.mark.parametrize("wrong", ["another node", "another key", "another CA", "refused", "garbage"])
def test_a_renewal_answer_that_does_not_fit_is_not_taken(tmp_path: Path, wrong: str) -> None:
    state = StateDir(tmp_path / "s")
    ident = _identity(state)
    now = [renew_at(ident.cert_pem)]
    renewal = CertificateRenewal(state, ident, clock=lambda: now[0])
    csr = renewal.request().csr_pem
    other_key, other_csr = make_key_and_csr()
    cert = {"another node": CA.sign_node_csr(csr, new_node_id(), 60).cert_pem,
            "another key": CA.sign_node_csr(other_csr, ident.node_id, 60).cert_pem,
            "another CA": OTHER_CA.sign_node_csr(csr, ident.node_id, 60).cert_pem,
            "refused": b"", "garbage": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}[wrong]
    assert renewal.answered(CertificateRenewed(cert, "no" if not cert else "")) is None
    assert state.load_identity() == ident  # nothing saved
    assert not renewal.due()  # tried again a minute later
    now[0] += 60
    assert renewal.due()


def test_a_fitting_answer_is_saved_and_becomes_the_identity(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    ident = _identity(state)
    renewal = CertificateRenewal(state, ident, clock=lambda: renew_at(ident.cert_pem))
    csr = renewal.request().csr_pem
    cert = CA.sign_node_csr(csr, ident.node_id, 3000).cert_pem
    new = renewal.answered(CertificateRenewed(cert))
    assert new is not None and new.cert_pem == cert and new.key_pem != ident.key_pem
    assert new.renew_at == renew_at(cert)
    assert state.load_identity() == new
    assert sorted(p.name for p in state.path.iterdir() if p.name.startswith("node.")) == ["node.crt", "node.key"]


@pytest.mark.parametrize("killed", ["writing the key", "writing the certificate", "before the moves",
                                    "between the moves", "after the moves"])
def test_a_renewed_pair_is_whole_after_a_kill_at_any_point(tmp_path: Path, killed: str) -> None:
    state = StateDir(tmp_path / "s")
    old = _identity(state)
    key, csr = make_key_and_csr()
    cert = CA.sign_node_csr(csr, old.node_id, 3000).cert_pem
    p = state.path
    if killed == "writing the key":
        (p / "node.key.new").write_bytes(key[:40])
    elif killed == "writing the certificate":
        (p / "node.key.new").write_bytes(key)
        (p / "node.crt.new").write_bytes(cert[:100])
    else:
        (p / "node.key.new").write_bytes(key)
        (p / "node.crt.new").write_bytes(cert)
        if killed in ("between the moves", "after the moves"):
            os.replace(p / "node.key.new", p / "node.key")
        if killed == "after the moves":
            os.replace(p / "node.crt.new", p / "node.crt")
    loaded = state.load_identity()
    renewed = killed in ("before the moves", "between the moves", "after the moves")
    assert (loaded.key_pem, loaded.cert_pem) == ((key, cert) if renewed else (old.key_pem, old.cert_pem))
    assert dataclasses.replace(loaded, key_pem=old.key_pem, cert_pem=old.cert_pem) == old
    assert sorted(x.name for x in p.iterdir() if x.name.startswith("node.")) == ["node.crt", "node.key"]
