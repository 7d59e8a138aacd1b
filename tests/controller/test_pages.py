"""ListNodes, ResolveTargets and GetCommand page by node id, and WatchCommand replays a page at a
time: AdminService over a real (SQLite) store, an operator's real certificate in a stand-in gRPC
context."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from controller.events.bus import EventBus
from controller.fleet.capacity import StreamCapacity
from controller.server import admin_service, page_token
from controller.server.admin_service import MAX_PAGE, AdminService
from controller.store import Store
from controller.store.db import Db
from controller.trust.pki import CertificateAuthority, create_ca
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.status import Detail
from tests.controller.test_auth import Aborted, FakeContext
from tests.store.test_store import DOC, command, invocations, node, step
from tests.support.access import admin_access
from tests.support.keys import fixed_sealer

NODE_IDS = [f"mi-{i:017x}" for i in (7, 1, 5, 3, 9)]


@pytest.fixture(scope="module")
def operator_pem() -> bytes:
    return CertificateAuthority(create_ca()).issue_operator("alice").cert_pem


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AdminService]:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    store.migrate()
    for node_id in NODE_IDS:
        store.add_node(node(node_id))
    store.create_command(command("cmd-1"), DOC, invocations("cmd-1", tuple(NODE_IDS)))
    for node_id in NODE_IDS:
        store.upsert_steps([step("cmd-1", node_id, 0, "s1")])
        store.append_output("cmd-1", node_id, "s1", "stdout", 0, node_id.encode() * 40)
    db = Db(store)
    try:  # ListNodes and GetCommand need the store and the operator check only
        async def resolve(targets: object) -> list[str]:  # the dispatcher's answer: node id order
            return sorted(NODE_IDS)[1::2]
        yield AdminService(db, SimpleNamespace(resolve=resolve), EventBus(), "",  # type: ignore[arg-type]
                           SimpleNamespace(validate=None, describe=None), StreamCapacity(10, 1024),
                           admin_access(db, "alice"))  # type: ignore[arg-type]
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
        assert len(resp.nodes) <= (page or MAX_PAGE)
        seen += [n.node_id for n in resp.nodes]
        token = resp.next_token
        if not token:
            break
    assert seen == sorted(NODE_IDS)
    assert pages == (-(-len(NODE_IDS) // page) if page else 1)  # no empty last page when it ends exactly
    first = _list(service, operator_pem).nodes[0]
    assert first.node_id == sorted(NODE_IDS)[0] and [t.key for t in first.tags] == ["role", "env"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_results": MAX_PAGE + 1}, f"max_results: must be 1..{MAX_PAGE}, got {MAX_PAGE + 1}"),
    ({"max_results": -1}, f"max_results: must be 1..{MAX_PAGE}, got -1"),
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


def _invocation_pages(service: AdminService, pem: bytes, page: int) -> list[pb.GetCommandResponse]:
    out, token = [], ""
    while True:
        resp = asyncio.run(service.GetCommand(pb.GetCommandRequest(command_id="cmd-1", max_results=page,
                                                                   next_token=token), FakeContext(pem)))
        out.append(resp)
        if not (token := resp.next_token):
            return out


@pytest.mark.parametrize(("page", "page_bytes", "sizes"), [
    (0, admin_service.PAGE_BYTES, [5]), (2, admin_service.PAGE_BYTES, [2, 2, 1]), (5, admin_service.PAGE_BYTES, [5]),
    (0, 2800, [3, 2]),  # ends by bytes (each invocation about 900 bytes with its preview)
    (2, 2800, [2, 2, 1]),
    (0, 1, [1, 1, 1, 1, 1]),  # never an empty page: one invocation at least
])
def test_get_command_pages_its_invocations_by_count_and_by_bytes(service: AdminService, operator_pem: bytes,
                                                                 monkeypatch: pytest.MonkeyPatch, page: int,
                                                                 page_bytes: int, sizes: list[int]) -> None:
    monkeypatch.setattr(admin_service, "PAGE_BYTES", page_bytes)
    pages = _invocation_pages(service, operator_pem, page)
    assert [len(p.invocations) for p in pages] == sizes
    invs = [i for p in pages for i in p.invocations]
    assert [i.node_id for i in invs] == sorted(NODE_IDS)
    assert all(i.steps[0].stdout == i.node_id * 40 for i in invs)  # each with its own preview
    assert all(p.command.command_id == "cmd-1" and p.document == pages[0].document != b"" for p in pages)
    assert all(abs(i.ByteSize() - 900) < 20 for i in invs)  # what the byte budgets above count on


def test_get_command_refuses_a_bad_page_request_by_name(service: AdminService, operator_pem: bytes) -> None:
    for fields, message in (({"max_results": 1001}, "max_results: must be 1..1000, got 1001"),
                            ({"next_token": "bogus"}, "next_token: 'bogus' is not a page token from this listing")):
        ctx = FakeContext(operator_pem)
        with pytest.raises(Aborted):
            asyncio.run(service.GetCommand(pb.GetCommandRequest(command_id="cmd-1", **fields), ctx))
        assert ctx.aborted == [(grpc.StatusCode.INVALID_ARGUMENT, message)]


@pytest.mark.parametrize("page", [1, 2, 3, 0])
def test_resolve_targets_pages_through_the_chosen_nodes(service: AdminService, operator_pem: bytes, page: int) -> None:
    chosen, token, pages = [], "", 0
    while True:
        resp = asyncio.run(service.ResolveTargets(pb.ResolveTargetsRequest(max_results=page, next_token=token),
                                                  FakeContext(operator_pem)))  # type: ignore[arg-type]
        chosen += [n.node_id for n in resp.nodes]
        pages += 1
        if not (token := resp.next_token):
            break
    assert chosen == sorted(NODE_IDS)[1::2] and all(n.tags for n in resp.nodes)
    assert pages == (-(-2 // page) if page else 1)
    after_unchosen = asyncio.run(service.ResolveTargets(pb.ResolveTargetsRequest(
        next_token=page_token.encode(sorted(NODE_IDS)[2])), FakeContext(operator_pem)))  # type: ignore[arg-type]
    assert [n.node_id for n in after_unchosen.nodes] == [sorted(NODE_IDS)[3]]


def _watch(service: AdminService, pem: bytes) -> list[pb.CommandEvent]:
    async def collect() -> list[pb.CommandEvent]:
        return [e async for e in service.WatchCommand(pb.WatchCommandRequest(command_id="cmd-1"), FakeContext(pem))]
    return asyncio.run(collect())


def test_a_late_watcher_is_replayed_every_invocation_and_its_output_a_page_at_a_time(
        service: AdminService, operator_pem: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    service._db.store.update_command("cmd-1", Detail.SUCCESS, len(NODE_IDS), 0)  # terminal: the watch ends
    whole = _watch(service, operator_pem)
    monkeypatch.setattr(admin_service, "WATCH_PAGE", 2)
    paged = _watch(service, operator_pem)
    for events in (whole, paged):
        kinds = [e.WhichOneof("body") for e in events]
        assert kinds.count("invocation") == kinds.count("output") == len(NODE_IDS) and kinds[-1] == "command"
        assert [e.node_id for e in events if e.HasField("invocation")] == sorted(NODE_IDS)
        assert sorted((e.node_id, e.output.data) for e in events if e.HasField("output")) == \
            sorted((n, n.encode() * 40) for n in NODE_IDS)
    assert [e.WhichOneof("body") for e in paged][:4] == ["invocation", "invocation", "output", "output"]  # page 1
    assert sorted(e.SerializeToString() for e in paged) == sorted(e.SerializeToString() for e in whole)
    ctx = FakeContext(operator_pem)
    with pytest.raises(Aborted):
        asyncio.run(anext(service.WatchCommand(pb.WatchCommandRequest(command_id="nope"), ctx)))
    assert ctx.aborted == [(grpc.StatusCode.NOT_FOUND, "command 'nope' does not exist")]
