"""GetOutput and StreamOutput through AdminService over a real (SQLite) store, an operator's real
certificate in a stand-in gRPC context: the stream carries a node's output whole in bounded pieces,
and a command, node or step that does not exist is NOT_FOUND in one line naming it and what there is."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from agent.csr import make_key_and_csr
from controller.events.bus import EventBus
from controller.fleet.capacity import StreamCapacity
from controller.model import PIECE_BYTES
from controller.server.admin_service import AdminService
from controller.store import Store
from controller.store.db import Db
from controller.trust.pki import CertificateAuthority, create_ca
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.identity import new_node_id
from tests.controller.test_auth import Aborted, FakeContext
from tests.store.test_store import command, invocations, node, step
from tests.support.access import admin_access
from tests.support.keys import fixed_sealer

NODES = [f"mi-{i:017x}" for i in range(1, 13)]
DOCUMENT = json.dumps({"schemaVersion": "2.2", "mainSteps": [
    {"action": "aws:runShellScript", "name": n, "inputs": {"runCommand": ["true"]}}
    for n in ("build", "deploy", "check")]}, sort_keys=True, separators=(",", ":")).encode()
BIG = os.urandom(3 * PIECE_BYTES + 5)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(create_ca())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AdminService]:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    store.migrate()
    for node_id in NODES:
        store.add_node(node(node_id))
    cmd = command("cmd-1", document=DOCUMENT, target_count=len(NODES))
    assert cmd.document_sha256 == hashlib.sha256(DOCUMENT).digest()
    store.create_command(cmd, DOCUMENT, invocations("cmd-1", tuple(NODES)))
    store.upsert_steps([step("cmd-1", NODES[0], 0, "build"), step("cmd-1", NODES[0], 1, "deploy")])
    for seq, at in enumerate(range(0, len(BIG), 65536)):
        store.append_output("cmd-1", NODES[0], "build", "stdout", seq, BIG[at:at + 65536])
    store.append_output("cmd-1", NODES[0], "deploy", "stderr", 0, b"warn\n")
    db = Db(store)
    try:
        yield AdminService(db, SimpleNamespace(), EventBus(), "",  # type: ignore[arg-type]
                           SimpleNamespace(validate=None, describe=None), StreamCapacity(10, 1024),
                           admin_access(db, "alice"))  # type: ignore[arg-type]
    finally:
        db.close()


def _stream(service: AdminService, pem: bytes, **fields: str) -> list[pb.OutputPiece]:
    async def collect() -> list[pb.OutputPiece]:
        return [p async for p in service.StreamOutput(pb.StreamOutputRequest(**fields), FakeContext(pem))]
    return asyncio.run(collect())


def test_the_stream_carries_every_step_whole_in_bounded_pieces(service: AdminService,
                                                                ca: CertificateAuthority) -> None:
    pieces = _stream(service, ca.issue_operator("alice").cert_pem, command_id="cmd-1", node_id=NODES[0])
    assert all(len(p.data) <= PIECE_BYTES for p in pieces)
    assert len([p for p in pieces if p.step_name == "build" and p.stream == pb.OUTPUT_STREAM_STDOUT]) >= 4
    joined: dict[tuple[str, int], bytes] = {}
    for p in pieces:
        joined[(p.step_name, p.stream)] = joined.get((p.step_name, p.stream), b"") + p.data
    assert joined == {("build", pb.OUTPUT_STREAM_STDOUT): BIG, ("build", pb.OUTPUT_STREAM_STDERR): b"",
                      ("deploy", pb.OUTPUT_STREAM_STDOUT): b"", ("deploy", pb.OUTPUT_STREAM_STDERR): b"warn\n"}
    assert [(p.step_name, p.stream) for p in pieces if p.last] == list(joined)
    # one step; a step of the document that has not run yet has nothing (and is no error)
    only = _stream(service, ca.issue_operator("alice").cert_pem, command_id="cmd-1", node_id=NODES[0],
                   step_name="deploy")
    assert [(p.step_name, p.data, p.last) for p in only] == [("deploy", b"", True), ("deploy", b"warn\n", True)]
    assert _stream(service, ca.issue_operator("alice").cert_pem, command_id="cmd-1", node_id=NODES[0],
                   step_name="check") == []


@pytest.mark.parametrize("method", ["GetOutput", "StreamOutput"])
def test_what_does_not_exist_is_not_found_naming_what_does(service: AdminService, ca: CertificateAuthority,
                                                           method: str) -> None:
    pem = ca.issue_operator("alice").cert_pem

    def refusal(**fields: str) -> tuple[grpc.StatusCode, str]:
        ctx = FakeContext(pem)

        async def call() -> None:
            if method == "GetOutput":
                await service.GetOutput(pb.GetOutputRequest(**fields), ctx)  # type: ignore[arg-type]
            else:
                [p async for p in service.StreamOutput(pb.StreamOutputRequest(**fields), ctx)]  # type: ignore[arg-type]
        with pytest.raises(Aborted):
            asyncio.run(call())
        (aborted,) = ctx.aborted
        return aborted

    assert refusal(command_id="cmd-1", node_id=NODES[0], step_name="nosuch") == (
        grpc.StatusCode.NOT_FOUND, "command cmd-1 has no step 'nosuch'; its steps are build, deploy, check")
    assert refusal(command_id="cmd-1", node_id="mi-nosuch") == (
        grpc.StatusCode.NOT_FOUND, f"command cmd-1 has no invocation on node 'mi-nosuch'; its nodes are "
                                   f"{', '.join(NODES[:10])} and 2 more")
    assert refusal(command_id="nosuch", node_id=NODES[0]) == (
        grpc.StatusCode.NOT_FOUND, "command 'nosuch' does not exist")


def test_a_node_certificate_may_not_read_output(service: AdminService, ca: CertificateAuthority) -> None:
    node_id = new_node_id()
    _key, csr = make_key_and_csr(node_id)
    ctx = FakeContext(ca.sign_node_csr(csr, node_id).cert_pem)

    async def call() -> None:
        [p async for p in service.StreamOutput(pb.StreamOutputRequest(command_id="cmd-1", node_id=NODES[0]), ctx)]
    with pytest.raises(Aborted):
        asyncio.run(call())
    assert [code for code, _ in ctx.aborted] == [grpc.StatusCode.PERMISSION_DENIED]
    assert "AdminService.StreamOutput" in ctx.aborted[0][1]
