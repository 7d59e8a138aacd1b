"""End to end: the results a real agent keeps until they are acknowledged (agent/outbox.py).

The controller gathers its acks and sends many in one ResultAck (controller/fleet/sessions.py). A real
``outpost agent run`` on real mutual TLS to the stand-in controller: what one ack names is forgotten,
what it does not name is replayed on the agent's next stream.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.document import Document, Step
from tests.support.fake_controller import AgentProcess, FakeController


def test_one_ack_settles_several_results_and_the_rest_is_replayed(tmp_path: Path) -> None:
    ctl = FakeController().start()
    ctl.auto_result_ack = False
    agent: AgentProcess | None = None
    try:
        state = ctl.write_state(tmp_path / "state")
        agent = AgentProcess(state.path, tmp_path / "agent.log").start()
        ctl.give_up = lambda: None if agent.alive() else f"the agent exited:\n{agent.log()[-4000:]}"
        first = ctl.wait_session(0)
        cids = [str(uuid.uuid4()) for _ in range(3)]
        for cid in cids:
            ctl.send_command(ctl.sign(cid, Document((Step("quick", "shell", {"cmd": "true"}),), "quick")))
            ctl.wait_result(cid)
        ctl.send(pb.ControllerMessage(result_ack=pb.ResultAck(command_ids=cids[:2])), first)
        ctl.hang_up(first)  # after the ack, on the same stream
        ctl.wait_session(1)
        replayed = ctl.wait_message("invocation_result", cids[2], where=lambda r: r.session == 1)
        assert replayed.msg.invocation_result.detail == pb.STATUS_DETAIL_SUCCESS
        # the replay keeps the original order, so the acknowledged two would have come before it
        assert [r.command_id for r in ctl.received() if r.session == 1 and r.command_id] == [cids[2]]
    finally:
        if agent is not None:
            agent.stop()
        ctl.close()
