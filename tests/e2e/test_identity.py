"""End to end: who may talk to the controller's mutual-TLS listener, and as what.

The identity comes from the verified peer certificate only: a certificate from another CA never
gets a stream, an operator certificate cannot act as an agent, a node certificate cannot act as
an operator, and a client with no certificate does not get past the handshake.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import grpc
import pytest

from agent.csr import make_key_and_csr
from controller.trust.pki import CertificateAuthority, create_ca
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.wire.document import canonical_json
from tests.support.cluster import Cluster, wait_for

RPC_TIMEOUT = 10.0


def _hello() -> pb.AgentMessage:
    return pb.AgentMessage(hello=pb.Hello(facts=pb.Facts()))


def _channel(cluster: Cluster, *, key: bytes | None = None, cert: bytes | None = None) -> grpc.aio.Channel:
    """A channel to the mutual-TLS listener that trusts the real CA and presents ``cert`` (if any)."""
    ca = (cluster.controller_dir / "ca.crt").read_bytes()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    return grpc.aio.secure_channel(cluster.address, creds)


async def _connect_and_read(cluster: Cluster, key: bytes | None, cert: bytes | None,
                            hello: bool = True) -> grpc.aio.AioRpcError:
    """Open AgentService.Connect, send a Hello (unless ``hello`` is false: the identity check comes
    before any message, and a write racing the controller's refusal can end the call INTERNAL on the
    client's side), read; the call must fail. Returns its error."""
    async with _channel(cluster, key=key, cert=cert) as channel:
        call = pbg.AgentServiceStub(channel).Connect(timeout=RPC_TIMEOUT)
        try:
            if hello:
                await call.write(_hello())
            msg = await call.read()
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.INTERNAL:
                return exc
        else:
            raise AssertionError(f"Connect answered instead of failing: {msg}")
        # the controller may end the call before the Hello is written: the write then fails INTERNAL
        # ("Failed execute_batch"), and what the controller said is the call's own status
        return grpc.aio.AioRpcError(await call.code(), grpc.aio.Metadata(), await call.trailing_metadata(),
                                    await call.details())


async def _admin_call(cluster: Cluster, key: bytes | None, cert: bytes | None, method: str,
                      request: object) -> grpc.aio.AioRpcError:
    async with _channel(cluster, key=key, cert=cert) as channel:
        stub = pbg.AdminServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            reply = await getattr(stub, method)(request, timeout=RPC_TIMEOUT)
            raise AssertionError(f"{method} answered instead of failing: {reply}")
        return info.value


def _enrolled(cluster: Cluster, name: str = "a") -> Path:
    act = cluster.create_activation("Environment=dev")
    cluster.enroll(name, act)
    return cluster.state_dir(name)


def _foreign_node_credentials(node_id: str) -> tuple[bytes, bytes]:
    """(key, certificate) for ``node_id`` signed by a CA the controller has never seen."""
    rogue_ca = CertificateAuthority(create_ca("Rogue CA"))
    key_pem, csr_pem = make_key_and_csr(node_id)
    return key_pem, rogue_ca.sign_node_csr(csr_pem, node_id).cert_pem


def test_agent_with_a_certificate_from_another_ca_is_refused(cluster: Cluster) -> None:
    cluster.env["GRPC_VERBOSITY"] = "INFO"  # gRPC core logs failed handshakes at INFO
    cluster.start_controller()
    state = _enrolled(cluster, "a")
    node_id = cluster.node_ids["a"]

    # a copy of the enrolled agent's state with the same node id, but certified by another CA
    rogue = cluster.state_dir("rogue")
    shutil.copytree(state, rogue)
    key_pem, cert_pem = _foreign_node_credentials(node_id)
    (rogue / "node.key").write_bytes(key_pem)
    (rogue / "node.crt").write_bytes(cert_pem)
    cluster.node_ids["rogue"] = node_id
    proc = cluster.start_agent("rogue")

    agent_log = cluster.root / "agent-rogue.log"

    def stream_failed() -> bool:  # and the agent says why: its certificate is not the controller's CA's
        return agent_log.exists() and "TLS handshake with" in agent_log.read_text(errors="replace")
    wait_for(stream_failed, 20, "the rogue agent's stream to fail in the handshake")
    assert "another CA" in agent_log.read_text(errors="replace")

    # it keeps trying (backoff), but the node never comes Online
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        (row,) = [r for r in cluster.nodes() if r["node_id"] == node_id]
        assert row["ping_status"] != "Online", f"a foreign-CA certificate got the node Online:\n{cluster.logs()}"
        time.sleep(0.3)
    assert proc.poll() is None, "the agent should keep retrying, not exit"
    text = agent_log.read_text(errors="replace")
    assert "connected to" not in text
    controller_log = (cluster.root / "controller.log").read_text(errors="replace")
    assert f"node {node_id} connected" not in controller_log
    # the controller refused the client certificate in the TLS handshake (nothing reached Connect)
    assert "Handshake failed" in controller_log and "CERTIFICATE_VERIFY_FAILED" in controller_log, controller_log

    # the same credentials on a direct client: the handshake fails, Connect never runs
    err = asyncio.run(_connect_and_read(cluster, key_pem, cert_pem))
    assert err.code() == grpc.StatusCode.UNAVAILABLE, (err.code(), err.details())

    # and a foreign-CA certificate for a brand-new node id fares no better
    other_id = "mi-0123456789abcdef0"
    key2, cert2 = _foreign_node_credentials(other_id)
    err = asyncio.run(_connect_and_read(cluster, key2, cert2))
    assert err.code() == grpc.StatusCode.UNAVAILABLE, (err.code(), err.details())
    assert other_id not in {r["node_id"] for r in cluster.nodes()}

    # the genuine agent still gets in
    cluster.stop_agent("rogue")
    cluster.start_agent("a")
    cluster.wait_online(["a"])


def test_operator_certificate_cannot_connect_as_an_agent(cluster: Cluster) -> None:
    cluster.start_controller()
    ops = cluster.controller_dir / "operators"
    key, cert = (ops / "admin.key").read_bytes(), (ops / "admin.crt").read_bytes()
    err = asyncio.run(_connect_and_read(cluster, key, cert, hello=False))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (err.code(), err.details())
    assert "AgentService.Connect" in (err.details() or "")
    # the same credentials are good for the operator API
    assert cluster.nodes() == []
    records = [json.loads(line) for line in cluster.outpost("audit", "export", "--action", "node:Connect",
                                                            "--format", "jsonl").stdout.splitlines()]
    assert [(r["actor"], r["outcome"]) for r in records] == [("operator/admin", "AccessDenied")], records


def test_node_certificate_cannot_call_the_admin_api(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_controller()
    state = _enrolled(cluster, "a")
    cluster.start_agent("a")
    cluster.wait_online(["a"])
    node_id = cluster.node_ids["a"]
    key, cert = (state / "node.key").read_bytes(), (state / "node.crt").read_bytes()

    book = tmp_path / "site.yml"
    book.write_text("- name: p\n  targets: {tags: {Environment: dev}}\n  tasks:\n"
                    "    - {name: t, shell: 'touch /tmp/outpost-node-cert-should-not-run'}\n")
    (play,) = json.loads(cluster.outpost("playbook", "apply", str(book), "--check", "--output", "json").stdout)[
        "plays"]
    send = pb.SendCommandRequest(document=canonical_json(play["document"]),
                                 targets=pb.Targets(node_ids=[node_id]), document_name="p")

    calls = [("ListNodes", pb.ListNodesRequest()), ("SendCommand", send),
             ("CreateActivation", pb.CreateActivationRequest(registration_limit=1, expires_seconds=60)),
             ("ListCommands", pb.ListCommandsRequest())]
    for method, request in calls:
        err = asyncio.run(_admin_call(cluster, key, cert, method, request))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (method, err.code(), err.details())
        assert f"AdminService.{method}" in (err.details() or ""), err.details()

    # nothing was created: no command, no extra activation; the node is still fine
    assert cluster.outpost_json("command", "list") == []
    assert len(cluster.outpost_json("activation", "list")) == 1
    assert [r["ping_status"] for r in cluster.nodes()] == ["Online"]
    # each refusal is on the audit trail, with the node as its actor
    records = [json.loads(line) for line in cluster.outpost("audit", "export", "--actor", f"node/{node_id}",
                                                            "--format", "jsonl").stdout.splitlines()]
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("node:Enrol", "Succeeded"), ("node:List", "AccessDenied"), ("command:Send", "AccessDenied"),
        ("activation:Create", "AccessDenied"), ("command:List", "AccessDenied")], records


def test_client_without_a_certificate_is_refused(cluster: Cluster) -> None:
    cluster.start_controller()
    err = asyncio.run(_admin_call(cluster, None, None, "ListNodes", pb.ListNodesRequest()))
    assert err.code() == grpc.StatusCode.UNAVAILABLE, (err.code(), err.details())
    err = asyncio.run(_connect_and_read(cluster, None, None))
    assert err.code() == grpc.StatusCode.UNAVAILABLE, (err.code(), err.details())
