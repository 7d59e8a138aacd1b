"""controller.fleet.sessions: a session's result acks are gathered and sent together."""
from __future__ import annotations

import asyncio

from controller.fleet.sessions import AgentSession, Hub
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire import convert as wire


def _sent(session: AgentSession) -> list[pb.ControllerMessage | None]:
    out = []
    while not session.outbound.empty():
        msg = session.outbound.get_nowait()
        out.append(None if msg is None else wire.controller_message_to_pb(msg))  # as the stream carries it
    return out


def _acked(msgs: list[pb.ControllerMessage | None]) -> list[list[str]]:
    return [list(m.result_ack.command_ids) for m in msgs if m is not None]


def test_acks_wait_for_the_flush_and_go_in_one_message_in_order() -> None:
    async def go() -> None:
        s = AgentSession("n1", ack_batch=10)
        for cid in ("c1", "c2", "c3"):
            s.acknowledge(cid)
        assert _sent(s) == []
        s.flush_acks()
        assert _acked(_sent(s)) == [["c1", "c2", "c3"]]
        s.flush_acks()  # nothing gathered: nothing sent
        assert _sent(s) == []
    asyncio.run(go())


def test_a_full_batch_goes_at_once() -> None:
    async def go() -> None:
        s = AgentSession("n1", ack_batch=3)
        for i in range(7):
            s.acknowledge(f"c{i}")
        assert _acked(_sent(s)) == [["c0", "c1", "c2"], ["c3", "c4", "c5"]]
        s.flush_acks()
        assert _acked(_sent(s)) == [["c6"]]
    asyncio.run(go())


def test_a_closed_session_sends_no_acks() -> None:
    async def go() -> None:
        hub = Hub()
        old = hub.attach("n1")
        old.acknowledge("c1")
        new = hub.attach("n1")  # the agent reconnected: the old stream is closed
        old.flush_acks()
        assert _sent(old) == [None]
        assert hub.get("n1") is new and _sent(new) == []
    asyncio.run(go())
