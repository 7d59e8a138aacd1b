"""ListNodes pages through the fleet by node id: AdminService over a real (SQLite) store, an
operator's real certificate in a stand-in gRPC context."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from controller.db import Db
from controller.pki import CertificateAuthority, create_ca
from controller.server import page_token
from controller.server.admin_service import MAX_NODES_PAGE, AdminService
from controller.store import Store
from outpost.v1 import outpost_pb2 as pb
from tests.controller.test_auth import Aborted, FakeContext
from tests.store.test_store import node

NODE_IDS = [f"mi-{i:017x}" for i in (7, 1, 5, 3, 9)]


@pytest.fixture(scope="module")
def operator_pem() -> bytes:
    return CertificateAuthority(create_ca()).issue_operator("alice").cert_pem


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AdminService]:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}")
    store.migrate()
    for node_id in NODE_IDS:
        store.add_node(node(node_id))
    db = Db(store)
    try:  # ListNodes needs the store and the operator check only
        yield AdminService(db, None, None, "", SimpleNamespace(validate=None), None)  # type: ignore[arg-type]
    finally:
        db.close()


def _list(service: AdminService, pem: bytes, **fields: object) -> pb.ListNodesResponse:
    return asyncio.run(service.ListNodes(pb.ListNodesRequest(**fields), FakeContext(pem)))  # type: ignore[arg-type]


@pytest.mark.parametrize("page", [1, 2, 4, 5, 6, 0])
def test_pages_cover_every_node_once_in_node_id_order(service: AdminService, operator_pem: bytes, page: int) -> None:
    seen: list[str] = []
    pages = 0
    token = ""
    while True:
        resp = _list(service, operator_pem, max_results=page, next_token=token)
        pages += 1
        assert len(resp.nodes) <= (page or MAX_NODES_PAGE)
        seen += [n.node_id for n in resp.nodes]
        token = resp.next_token
        if not token:
            break
    assert seen == sorted(NODE_IDS)
    assert pages == (-(-len(NODE_IDS) // page) if page else 1)  # no empty last page when it ends exactly
    first = _list(service, operator_pem).nodes[0]
    assert first.node_id == sorted(NODE_IDS)[0] and [t.key for t in first.tags] == ["role", "env"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_results": MAX_NODES_PAGE + 1}, f"max_results: must be 1..{MAX_NODES_PAGE}, got {MAX_NODES_PAGE + 1}"),
    ({"max_results": -1}, f"max_results: must be 1..{MAX_NODES_PAGE}, got -1"),
    ({"next_token": "mi-0000000000000001"}, "next_token: 'mi-0000000000000001' is not a page token"),
    ({"next_token": "%%%"}, "next_token: '%%%' is not a page token"),
    ({"next_token": page_token.encode("")}, "is not a page token"),
])
def test_a_bad_page_request_is_refused_by_name(service: AdminService, operator_pem: bytes,
                                               fields: dict[str, object], message: str) -> None:
    ctx = FakeContext(operator_pem)
    with pytest.raises(Aborted):
        asyncio.run(service.ListNodes(pb.ListNodesRequest(**fields), ctx))  # type: ignore[arg-type]
    assert ctx.aborted[0][0] is grpc.StatusCode.INVALID_ARGUMENT and message in ctx.aborted[0][1]


@pytest.mark.parametrize("key", ["mi-00000000000000001", "", "a/b+c=?", "ü"])
def test_a_page_token_round_trips_its_key(key: str) -> None:
    token = page_token.encode(key)
    assert "=" not in token and "/" not in token and "+" not in token
    if key:
        assert page_token.decode(token) == key
    else:
        with pytest.raises(ValueError, match="is not a page token"):
            page_token.decode(token)
    assert page_token.decode("") == ""
