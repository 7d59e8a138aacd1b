"""controller.server.agent_service: an agent that goes while its Hello is being stored is stored
gone too, never left Online without a stream (seen once in the bench: nodes Online for minutes
after their swarm was killed mid-connect)."""
from __future__ import annotations

import asyncio
import contextlib

import grpc

from agent.csr import make_key_and_csr
from agent.facts import gather_facts
from controller.fleet.capacity import StreamCapacity
from controller.fleet.sessions import Hub
from controller.server.agent_service import AgentStreamService
from controller.trust.pki import CertificateAuthority, create_ca
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.identity import new_node_id


class _Context:
    """A node's stream: its verified certificate, a Hello, then nothing."""

    def __init__(self, cert_pem: bytes) -> None:
        self._cert = cert_pem
        self._reads = 0

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._cert]}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def read(self) -> pb.AgentMessage:
        self._reads += 1
        if self._reads == 1:
            return pb.AgentMessage(hello=pb.Hello(facts=wire.facts_to_pb(gather_facts(()))))
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AssertionError(f"aborted {code}: {details}")

    def add_done_callback(self, callback: object) -> None:
        pass


class _Presence:
    """A Hello whose batch is still being stored when the agent goes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.storing = asyncio.Event()

    async def hello(self, node_id: str, facts: object) -> bool:
        self.calls.append("hello")
        self.storing.set()
        await asyncio.Event().wait()
        return True

    async def gone(self, node_id: str) -> None:
        self.calls.append("gone")


def _node() -> tuple[str, bytes]:
    ca = CertificateAuthority(create_ca("test CA"))
    node_id = new_node_id()
    _, csr = make_key_and_csr(node_id)
    return node_id, ca.sign_node_csr(csr, node_id).cert_pem


def _cut_off_during_hello(newer_stream: bool) -> list[str]:
    node_id, cert = _node()

    async def go() -> list[str]:
        hub, presence = Hub(), _Presence()
        service = AgentStreamService(hub, None, None, presence, 90.0,  # type: ignore[arg-type]
                                     StreamCapacity(10, 1024))
        call = asyncio.create_task(service.Connect(None, _Context(cert)))  # type: ignore[arg-type]
        storing = asyncio.create_task(presence.storing.wait())
        await asyncio.wait({storing, call}, return_when=asyncio.FIRST_COMPLETED)
        assert not call.done(), call  # the handler is waiting for its Hello to be stored
        if newer_stream:
            hub.attach(node_id)
        call.cancel()  # gRPC cancels the handler when the peer goes
        with contextlib.suppress(asyncio.CancelledError):  # the handler re-raises it, as it must
            await call
        storing.cancel()
        return presence.calls
    return asyncio.run(go())


def test_an_agent_gone_while_its_hello_is_stored_is_stored_gone() -> None:
    assert _cut_off_during_hello(newer_stream=False) == ["hello", "gone"]


def test_a_newer_stream_of_the_node_is_left_online() -> None:
    assert _cut_off_during_hello(newer_stream=True) == ["hello"]
