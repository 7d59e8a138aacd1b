"""controller.dispatch.delivery: a fan-out's envelopes, signed and queued a chunk at a time, reach every
connected node once, bound to that node; a cancel can wait for them to be queued."""
from __future__ import annotations

import asyncio
import time
import uuid

from controller.dispatch.delivery import Delivery
from controller.fleet.sessions import AgentSession, Hub
from controller.model import CommandRecord, Targets
from controller.trust.signing import DocumentSigner
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Document, Step
from plugins.sdk.wire.envelope import signing_key, verify_command
from plugins.sdk.wire.identity import new_node_id

DOC = Document((Step("s", "shell", {"cmd": "true"}),), "t").canonical_bytes()


def _command(nodes: list[str]) -> CommandRecord:
    now = int(time.time() * 1000)
    return CommandRecord(str(uuid.uuid4()), "t", b"", Targets(node_ids=tuple(nodes)), "", "op", now, now + 60_000)


def _drain(session: AgentSession) -> list:
    out = []
    while not session.outbound.empty():
        msg = session.outbound.get_nowait()
        out.append(None if msg is None else wire.controller_message_to_pb(msg))  # as the stream carries it
    return out


def test_every_connected_node_gets_its_own_signed_envelope_once() -> None:
    signer = DocumentSigner.generate()
    key = signing_key(signer.public_key_raw())
    hub = Hub()
    nodes = [new_node_id() for _ in range(50)]
    online = nodes[::2]  # the others have no stream: they get nothing (they wait for their Hello)
    sessions = {n: hub.attach(n) for n in online}
    cmd = _command(nodes)

    async def go() -> None:
        await Delivery(signer, hub, chunk=4).send(cmd, DOC, nodes)  # 7 chunks, the loop let go between them
    asyncio.run(go())
    now = int(time.time() * 1000)
    for node_id, session in sessions.items():
        msgs = _drain(session)
        assert len(msgs) == 1 and msgs[0].WhichOneof("body") == "command"
        vc = verify_command(wire.command_from_pb(msgs[0].command), public_key=key, node_id=node_id, now_ms=now)
        assert vc.envelope.command_id == cmd.command_id and vc.document.canonical_bytes() == DOC


def test_a_delivery_to_no_node_signs_and_sends_nothing() -> None:
    """Every target offline when a command is sent: their envelopes go when they connect."""
    hub = Hub()
    session = hub.attach(new_node_id())

    async def go() -> None:
        await Delivery(DocumentSigner.generate(), hub).send(_command([]), DOC, [])
    asyncio.run(go())
    assert _drain(session) == []


def test_until_sent_waits_for_a_delivery_under_way() -> None:
    signer = DocumentSigner.generate()
    hub = Hub()
    nodes = [new_node_id() for _ in range(40)]
    sessions = [hub.attach(n) for n in nodes]
    cmd = _command(nodes)
    delivery = Delivery(signer, hub, chunk=4)

    async def go() -> None:
        sending = asyncio.create_task(delivery.send(cmd, DOC, nodes))
        await asyncio.sleep(0)  # under way: the first chunk is queued, the rest not yet
        assert not all(s.outbound.qsize() for s in sessions)
        await delivery.until_sent(cmd.command_id)
        assert all(s.outbound.qsize() == 1 for s in sessions)  # a Cancel queued now follows each Command
        await sending
        await delivery.until_sent(cmd.command_id)  # nothing under way: returns at once
    asyncio.run(go())
