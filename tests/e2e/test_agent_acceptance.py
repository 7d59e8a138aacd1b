"""End to end: when a real agent says it accepted a command (agent/outbox.py).

A real ``outpost agent run`` on real mutual TLS to the stand-in controller. A command that is still
running a quarter of a second after it was recorded is accepted before anything else is said about
it; one that ends sooner is reported by its result alone, which carries its start.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.document import Document, Step
from tests.support.fake_controller import AgentProcess, FakeController


@pytest.fixture(params=["0.25"])
def pair(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[FakeController, Path]]:
    ctl = FakeController().start()
    agent: AgentProcess | None = None
    try:
        state = ctl.write_state(tmp_path / "state")
        agent = AgentProcess(state.path, tmp_path / "agent.log",
                             extra_args=["--accept-delay-seconds", request.param]).start()
        ctl.give_up = lambda: None if agent.alive() else f"the agent exited:\n{agent.log()[-4000:]}"
        ctl.wait_session(0)
        yield ctl, state.path
    finally:
        if agent is not None:
            agent.stop()
        ctl.close()


def _about(ctl: FakeController, cid: str) -> list[str]:
    return [r.kind for r in ctl.received(cid) if r.kind not in ("heartbeat", "hello")]


def test_a_running_command_is_accepted_before_its_output_and_result(pair: tuple[FakeController, Path]) -> None:
    ctl, state = pair
    cid = str(uuid.uuid4())
    doc = Document((Step("slow", "shell", {"cmd": "sleep 1; echo done"}),), "slow")
    ctl.send_command(ctl.sign(cid, doc))
    ack = ctl.wait_ack(cid)
    assert ack.accepted
    assert ctl.received(cid, "invocation_result") == []  # accepted while it still runs
    result = ctl.wait_result(cid)
    assert result.detail == pb.STATUS_DETAIL_SUCCESS
    kinds = _about(ctl, cid)
    assert kinds[0] == "ack" and kinds[-1] == "invocation_result" and kinds.count("ack") == 1, kinds
    assert cid in (state / "ledger").read_text()


@pytest.mark.parametrize("pair", ["5"], indirect=True)  # `true` ends well within it, even on a busy machine
def test_a_quick_command_is_reported_by_its_result_alone(pair: tuple[FakeController, Path]) -> None:
    ctl, state = pair
    cid = str(uuid.uuid4())
    ctl.send_command(ctl.sign(cid, Document((Step("quick", "shell", {"cmd": "true"}),), "quick")))
    result = ctl.wait_result(cid)
    assert result.detail == pb.STATUS_DETAIL_SUCCESS and result.started_at_ms > 0
    assert _about(ctl, cid) == ["invocation_result"]
    assert cid in (state / "ledger").read_text()  # recorded before it ran, as always
