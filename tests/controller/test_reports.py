"""controller.dispatch.reports, alone: what agents report is stored, acknowledged, and handed on as
``Settlement``s (here to a recorder, not the dispatcher); a batch's forecast counters are taken."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.dispatch.active import ActiveCommand, ActiveCommands, Settlement
from controller.dispatch.ratecontrol import CommandRun
from controller.dispatch.reports import Reports
from controller.model import CommandRecord, InvocationRecord, Targets
from controller.store import StoreError
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.status import Detail
from plugins.sdk.wire.messages import CancelAck
from plugins.sdk.wire.results import InvocationReport, OutputChunk, Refusal, StepReport
from tests.controller.dispatch_rig import DOC, START_MS, Rig, received

N1, N2 = "mi-00000000000000001", "mi-00000000000000002"


@dataclass
class Recorder:
    settled: list[Settlement] = field(default_factory=list)

    async def __call__(self, s: Settlement) -> None:
        self.settled.append(s)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig.open(tmp_path)
    r.add_nodes(N1, N2)
    try:
        yield r
    finally:
        r.close()


def _stored(rig: Rig, command_id: str, nodes: tuple[str, ...], detail: Detail = Detail.IN_PROGRESS) -> CommandRecord:
    """A command as the dispatcher stores it, its invocations sent (InProgress)."""
    cmd = CommandRecord(command_id, "t", hashlib.sha256(DOC).digest(), Targets(node_ids=nodes), "", "alice",
                        START_MS, START_MS + 600_000, target_count=len(nodes), detail=detail)
    rig.store.create_command(cmd, DOC, [InvocationRecord(command_id, n, detail) for n in nodes])
    return cmd


def _reports(rig: Rig, active: ActiveCommands | None = None) -> tuple[Reports, Recorder]:
    rec = Recorder()
    return Reports(rig.db, rig.hub, rig.events, active or ActiveCommands(), rec, clock=rig.clock), rec


def test_a_batch_of_results_is_one_settlement_per_command_and_each_is_acknowledged(rig: Rig) -> None:
    _stored(rig, "c1", (N1, N2))
    _stored(rig, "c2", (N1,))
    sessions = rig.connect(N1, N2)
    reports, rec = _reports(rig)

    async def go() -> None:
        for cid, node, detail in (("c1", N1, Detail.SUCCESS), ("c1", N2, Detail.FAILED), ("c2", N1, Detail.SUCCESS)):
            await reports.on_result(node, InvocationReport(cid, detail, 0 if detail is Detail.SUCCESS else 1,
                                                           START_MS, START_MS + 5, ()))
        await reports.flushed()
    asyncio.run(go())
    assert rec.settled == [Settlement("c1", ((N1, Detail.SUCCESS), (N2, Detail.FAILED))),
                           Settlement("c2", ((N1, Detail.SUCCESS),))]
    assert rig.invocations("c1") == {N1: Detail.SUCCESS, N2: Detail.FAILED}
    for s in sessions.values():
        s.flush_acks()
    assert received(sessions[N1]) == ["result_ack"] and received(sessions[N2]) == ["result_ack"]


def test_reports_that_cannot_be_stored_end_their_agents_streams_so_they_are_sent_again(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by `make chaos` (seed 563683, run 6: the controller's disk full for 4 s): a batch whose
    storing failed was dropped, unacknowledged; its agents resend only on a new stream, and an agent
    whose stream stayed up never had one, so its invocations stayed InProgress for good (the agent
    connected: no AgentLost; accepted: no DeliveryTimedOut)."""
    _stored(rig, "c1", (N1, N2))
    sessions = rig.connect(N1, N2)
    reports, rec = _reports(rig)
    real = rig.store.accept_many

    def disk_full(*args: object) -> None:
        raise StoreError("database error: (sqlite3.OperationalError) database or disk is full")
    monkeypatch.setattr(rig.store, "accept_many", disk_full)

    async def report(node: str) -> None:
        await reports.on_result(node, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS + 5, ()))
        await reports.flushed()
    asyncio.run(report(N1))
    assert rig.invocations("c1") == {N1: Detail.IN_PROGRESS, N2: Detail.IN_PROGRESS}
    assert received(sessions[N1]) == ["closed"]  # the agent comes back and sends its result again
    assert received(sessions[N2]) == [] and not sessions[N2].closed  # nothing of its was lost
    monkeypatch.setattr(rig.store, "accept_many", real)  # the disk was freed
    rig.hub.detach(sessions[N1])
    again = rig.hub.attach(N1)
    asyncio.run(report(N1))  # what the agent replays on its next stream
    assert rig.invocations("c1") == {N1: Detail.SUCCESS, N2: Detail.IN_PROGRESS}
    again.flush_acks()
    assert received(again) == ["result_ack"] and rec.settled == [Settlement("c1", ((N1, Detail.SUCCESS),))]


def test_an_acceptance_settles_as_a_change_without_a_detail(rig: Rig) -> None:
    _stored(rig, "c1", (N1,))
    reports, rec = _reports(rig)
    rig.clock.advance(3)

    async def go() -> None:
        await reports.on_accepted(N1, "c1")
        await reports.flushed()
    asyncio.run(go())
    assert rec.settled == [Settlement("c1", changed=((N1, None),))]
    assert rig.invocation("c1", N1).started_at_ms == rig.clock()


def test_a_refusal_fails_only_an_invocation_not_yet_accepted(rig: Rig) -> None:
    _stored(rig, "c1", (N1, N2))
    reports, rec = _reports(rig)

    async def go() -> None:
        await reports.on_accepted(N2, "c1")
        await reports.flushed()
        await reports.on_refused(N1, Refusal("c1", "bad_signature", "the signature does not verify"))
        await reports.on_refused(N2, Refusal("c1", "replayed", "already run"))  # it had accepted: kept
    asyncio.run(go())
    assert rec.settled[1:] == [Settlement("c1", ((N1, Detail.FAILED),))]
    failed = rig.invocation("c1", N1)
    assert failed.detail is Detail.FAILED
    assert failed.steps[0].report.error == "refused by the agent: bad_signature: the signature does not verify"
    assert rig.invocation("c1", N2).detail is Detail.IN_PROGRESS


def test_a_report_on_an_unknown_command_settles_nothing_and_is_still_acknowledged(rig: Rig) -> None:
    sessions = rig.connect(N1)
    reports, rec = _reports(rig)

    async def go() -> None:
        await reports.on_result(N1, InvocationReport("nosuch", Detail.SUCCESS, 0, START_MS, START_MS, ()))
        await reports.on_output(N1, OutputChunk("nosuch", "s", OutputStreamKind.STDOUT, 0, b"x"))
        await reports.flushed()
    asyncio.run(go())
    assert rec.settled == []
    sessions[N1].flush_acks()
    assert received(sessions[N1]) == ["result_ack"]  # the agent may forget it


def test_steps_and_output_are_stored_before_the_result(rig: Rig) -> None:
    _stored(rig, "c1", (N1,))
    reports, _ = _reports(rig)
    step = StepReport("c1", 0, "s", "shell", Detail.SUCCESS, 0, START_MS, START_MS + 1)

    async def go() -> None:
        await reports.on_output(N1, OutputChunk("c1", "s", OutputStreamKind.STDOUT, 0, b"hello\n"))
        await reports.on_step(N1, step)
        await reports.on_result(N1, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS + 1, (step,)))
        await reports.flushed()
    asyncio.run(go())
    inv = rig.invocation("c1", N1)
    assert inv.detail is Detail.SUCCESS and [s.report.step_name for s in inv.steps] == ["s"]
    assert [(o.step_name, o.stdout) for o in rig.store.get_output("c1", N1)] == [("s", b"hello\n")]


def test_a_forecast_that_holds_stores_the_counters_with_the_results(rig: Rig) -> None:
    cmd = _stored(rig, "c1", (N1, N2))
    run = CommandRun("c1", 2, 0)
    for n in (N1, N2):
        run.in_flight.add(n)
        run.track(n, Detail.IN_PROGRESS)
    active = ActiveCommands()
    active.start(ActiveCommand(run, cmd, DOC))
    reports, rec = _reports(rig, active)

    async def go() -> None:
        await reports.on_result(N1, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS, ()))
        await reports.flushed()
    asyncio.run(go())
    counted = active.get("c1")
    assert counted is not None and counted.record.completed_count == 1  # forecast, taken
    assert rig.command("c1").completed_count == 1  # stored in the results' own transaction
    assert set(counted.fresh) == {N1}  # announced without being read back
    assert rec.settled == [Settlement("c1", ((N1, Detail.SUCCESS),))]


@pytest.mark.parametrize(("running", "after"), [(False, Detail.CANCELLED), (True, Detail.CANCELLING)])
def test_a_cancel_the_agent_found_nothing_to_stop_ends_cancelled(rig: Rig, running: bool, after: Detail) -> None:
    """A Cancelling invocation whose agent answers it has nothing running (it never got the command,
    or lost it) has no result to wait for: Cancelled, once what the agent said before is stored. One
    the agent is stopping waits for the agent's result."""
    _stored(rig, "c1", (N1, N2), Detail.CANCELLING)
    rig.store.owe_cancels("c1", [N1], START_MS)
    rec = Recorder()
    reports = Reports(rig.db, rig.hub, rig.events, ActiveCommands(), rec, clock=rig.clock,
                      cancel_answered=rig.dispatcher.deadlines.answered)

    async def main() -> None:
        await rig.dispatcher.deadlines.load()
        await reports.on_cancel_ack(N1, CancelAck("c1", running=running))
    asyncio.run(main())
    assert rig.invocations("c1") == {N1: after, N2: Detail.CANCELLING}
    assert rec.settled == ([Settlement("c1", ((N1, Detail.CANCELLED),))] if not running else [])
    assert rig.store.owed_cancels() == []  # answered: the cancel owed to it is paid


def test_a_report_after_agent_lost_still_stores_what_really_happened(rig: Rig) -> None:
    _stored(rig, "c1", (N1,))
    rig.store.accept_many([("c1", N1, START_MS)])
    assert rig.store.lose_invocations("c1", [N1], START_MS - 1, START_MS + 5) == []  # accepted later than that
    assert rig.store.lose_invocations("c1", [N1], START_MS, START_MS + 5) == [N1]
    reports, rec = _reports(rig)

    async def main() -> None:
        await reports.on_result(N1, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS + 9, ()))
        await reports.flushed()
    asyncio.run(main())
    assert rig.invocations("c1") == {N1: Detail.SUCCESS}
