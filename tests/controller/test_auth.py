"""PeerIdentities: the caller's identity from its verified certificate, parsed once per certificate."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from unittest import mock

import grpc
import pytest

from agent.csr import make_key_and_csr
from controller.server.auth import PeerIdentities
from controller.trust.pki import CertificateAuthority, create_ca
from plugins.sdk.wire.identity import Role, identity_of_certificate, new_node_id


class Aborted(Exception):
    """What FakeContext.abort raises, as grpc.aio's abort does."""


@dataclass
class FakeContext:
    """What PeerIdentities reads of a grpc.aio.ServicerContext."""
    pem: bytes | None
    aborted: list[tuple[grpc.StatusCode, str]] = field(default_factory=list)

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.pem]} if self.pem is not None else {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5555"

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:  # a refusal's audit record reads it
        return ()

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted.append((code, details))
        raise Aborted(details)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(create_ca())


def _operator(ca: CertificateAuthority, name: str) -> bytes:
    return ca.issue_operator(name).cert_pem


def _node(ca: CertificateAuthority) -> bytes:
    node_id = new_node_id()
    _key, csr = make_key_and_csr(node_id)
    return ca.sign_node_csr(csr, node_id).cert_pem


def _require(ids: PeerIdentities, ctx: FakeContext, role: Role) -> str:
    return asyncio.run(ids.require(ctx, role, "AdminService.Test")).name  # type: ignore[arg-type]


def test_each_certificate_is_parsed_once_and_answers_with_its_own_identity(ca: CertificateAuthority) -> None:
    ids = PeerIdentities()
    alice, bob = _operator(ca, "alice"), _operator(ca, "bob")
    with mock.patch("controller.server.auth.identity_of_certificate",
                    wraps=identity_of_certificate) as parse:
        assert [_require(ids, FakeContext(p), Role.OPERATOR) for p in (alice, alice, bob, alice, bob)] == \
            ["alice", "alice", "bob", "alice", "bob"]
    assert parse.call_count == 2


def test_the_oldest_certificate_is_forgotten_past_the_limit_and_limit_0_keeps_none(ca: CertificateAuthority) -> None:
    pems = [_operator(ca, f"op{i}") for i in range(3)]
    for limit, parses in ((2, 4), (0, 4), (3, 3)):
        ids = PeerIdentities(limit=limit)
        with mock.patch("controller.server.auth.identity_of_certificate",
                        wraps=identity_of_certificate) as parse:
            for pem in (*pems, pems[0]):  # the first again: forgotten with limit 2 (and 0), kept with 3
                ids.of(FakeContext(pem))  # type: ignore[arg-type]
        assert parse.call_count == parses, limit


def test_a_wrong_role_or_no_identity_is_denied_every_time(ca: CertificateAuthority,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    ids = PeerIdentities()
    node = FakeContext(_node(ca))
    for _ in range(2):
        with pytest.raises(Aborted, match="needs a operator certificate"):
            _require(ids, node, Role.OPERATOR)
    assert [c for c, _ in node.aborted] == [grpc.StatusCode.PERMISSION_DENIED] * 2
    bare = FakeContext(ca.issue_server(["controller.example"]).cert_pem)  # no spiffe identity: not kept
    for _ in range(2):
        with pytest.raises(Aborted, match="an unidentified peer"):
            _require(ids, bare, Role.OPERATOR)
    assert caplog.text.count("without an Outpost identity") == 2
    with pytest.raises(Aborted, match="an unidentified peer"):
        _require(ids, FakeContext(None), Role.OPERATOR)
