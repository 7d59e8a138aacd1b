"""controller.dispatch.dispatcher, alone (tests/controller/dispatch_rig.py): rate control as SSM does it,
offline nodes, cancels, delivery deadlines by the clock, a restart's resume, and what the feed says."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from controller.dispatch.active import ActiveCommand
from controller.events.bus import EventKind, StatusEvent
from controller.store import Store
from plugins.sdk.status import Detail
from plugins.sdk.wire.results import InvocationReport
from tests.controller.dispatch_rig import FakeClock, Rig, received
from tests.support.keys import fixed_sealer

T = TypeVar("T")
N1, N2, N3, N4 = "mi-00000000000000001", "mi-00000000000000002", "mi-00000000000000003", "mi-00000000000000004"


@pytest.fixture
def rig(tmp_path: Path):
    r = Rig.open(tmp_path)
    r.add_nodes(N1, N2, N3, N4)
    try:
        yield r
    finally:
        r.close()


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())


def test_a_send_dispatches_up_to_max_concurrency_and_holds_offline_nodes(rig: Rig) -> None:
    sessions = rig.connect(N1, N2, N3)  # N4 has no stream

    async def go() -> str:
        return (await rig.send([N1, N2, N3, N4], concurrency="3")).command_id
    cid = run(go)
    assert rig.invocations(cid) == {N1: Detail.IN_PROGRESS, N2: Detail.IN_PROGRESS, N3: Detail.IN_PROGRESS,
                                    N4: Detail.PENDING}
    assert [received(sessions[n]) for n in (N1, N2, N3)] == [["command"]] * 3
    active = rig.dispatcher.active.get(cid)
    assert isinstance(active, ActiveCommand) and active.run.in_flight == {N1, N2, N3}
    assert rig.command(cid).detail is Detail.IN_PROGRESS


def test_a_finished_invocation_frees_its_slot_for_the_next(rig: Rig) -> None:
    sessions = rig.connect(N1, N2)

    async def go() -> str:
        cid = (await rig.send([N1, N2], concurrency="1")).command_id
        assert rig.invocations(cid) == {N1: Detail.IN_PROGRESS, N2: Detail.PENDING}
        await rig.report(cid, N1, Detail.SUCCESS)
        assert rig.invocations(cid) == {N1: Detail.SUCCESS, N2: Detail.IN_PROGRESS}
        await rig.report(cid, N2, Detail.SUCCESS)
        return cid
    cid = run(go)
    assert received(sessions[N1]) == ["command"] and received(sessions[N2]) == ["command"]
    cmd = rig.command(cid)
    assert (cmd.detail, cmd.completed_count, cmd.error_count) == (Detail.SUCCESS, 2, 0)
    assert rig.dispatcher.active.get(cid) is None and rig.dispatcher.active.ended(cid) is Detail.SUCCESS


def test_passing_max_errors_terminates_what_never_started(rig: Rig) -> None:
    rig.connect(N1, N2, N3)

    async def go() -> str:
        cid = (await rig.send([N1, N2, N3], concurrency="1", errors="0")).command_id
        await rig.report(cid, N1, Detail.FAILED, exit_code=3)
        return cid
    cid = run(go)
    assert rig.invocations(cid) == {N1: Detail.FAILED, N2: Detail.TERMINATED, N3: Detail.TERMINATED}
    cmd = rig.command(cid)
    assert (cmd.detail, cmd.error_count, cmd.completed_count) == (Detail.FAILED, 1, 3)


def test_a_cancel_ends_the_never_sent_at_once_and_tells_the_agents_of_the_others(rig: Rig) -> None:
    sessions = rig.connect(N1, N2)

    async def go() -> str:
        cid = (await rig.send([N1, N2], concurrency="1")).command_id
        await rig.dispatcher.cancel(cid)
        assert rig.invocations(cid) == {N1: Detail.CANCELLING, N2: Detail.CANCELLED}
        assert rig.command(cid).detail is Detail.CANCELLING
        await rig.report(cid, N1, Detail.CANCELLED)
        return cid
    cid = run(go)
    assert received(sessions[N1]) == ["command", "cancel"]  # the result's ack waits for a heartbeat
    sessions[N1].flush_acks()
    assert received(sessions[N1]) == ["result_ack"]
    assert received(sessions[N2]) == []
    assert rig.command(cid).detail is Detail.CANCELLED and rig.dispatcher.active.get(cid) is None


def test_the_cancel_goes_after_the_command_on_the_stream(rig: Rig) -> None:
    sessions = rig.connect(N1)

    async def go() -> None:
        cid = (await rig.send([N1])).command_id
        await rig.dispatcher.cancel(cid)
    run(go)
    sessions[N1].flush_acks()
    assert received(sessions[N1]) == ["command", "cancel"]


def test_an_offline_node_gets_its_command_when_it_connects(rig: Rig) -> None:
    async def go() -> tuple[str, list[str]]:
        cid = (await rig.send([N1, N2])).command_id  # both offline: Delayed
        assert rig.invocations(cid) == {N1: Detail.DELAYED, N2: Detail.DELAYED}
        session = rig.hub.attach(N1)
        await rig.dispatcher.on_hello(N1)
        return cid, received(session)
    cid, got = run(go)
    assert got == ["command"]
    assert rig.invocations(cid) == {N1: Detail.IN_PROGRESS, N2: Detail.DELAYED}


def test_a_node_that_connects_after_the_deadline_gets_nothing_and_times_out(rig: Rig) -> None:
    async def go() -> tuple[str, list[str]]:
        cid = (await rig.send([N1, N2], timeout_seconds=60)).command_id
        rig.clock.advance(59)
        assert await rig.dispatcher.deadlines.expire_undelivered() == 0
        rig.clock.advance(2)
        session = rig.hub.attach(N1)
        await rig.dispatcher.on_hello(N1)  # past the deadline: nothing is sent
        assert await rig.dispatcher.deadlines.expire_undelivered() == 2
        return cid, received(session)
    cid, got = run(go)
    assert got == []
    assert rig.invocations(cid) == {N1: Detail.DELIVERY_TIMED_OUT, N2: Detail.DELIVERY_TIMED_OUT}
    cmd = rig.command(cid)
    assert cmd.detail.terminal and cmd.delivery_timed_out_count == 2
    assert rig.dispatcher.active.get(cid) is None


def test_a_slot_freed_after_the_deadline_sends_nothing_and_the_batch_settles_on(rig: Rig) -> None:
    """Found by `make chaos` (seed 3, run 1): a result that freed a concurrency slot after its command's
    delivery deadline made the dispatcher sign the next envelope already expired; the signer refused
    (InputError), and the whole batch's settling stopped there, so another command whose result was
    in the same batch never dispatched its next invocation."""
    sessions = rig.connect(N1, N2, N3, N4)

    async def go() -> tuple[str, str]:
        late = (await rig.send([N1, N2], concurrency="1", timeout_seconds=60)).command_id
        other = (await rig.send([N3, N4], concurrency="1", timeout_seconds=600)).command_id
        for n in (N1, N3):
            assert received(sessions[n]) == ["command"]
        rig.clock.advance(61)  # past the first command's delivery deadline, not the second's
        at = rig.clock()
        for cid, node in ((late, N1), (other, N3)):  # one batch: queued before the writer runs
            await rig.reports.on_result(node, InvocationReport(cid, Detail.SUCCESS, 0, at, at, ()))
        await rig.reports.flushed()
        return late, other
    late, other = run(go)
    assert received(sessions[N2]) == []  # its envelope would have been expired on arrival
    assert received(sessions[N4]) == ["command"]  # the other command goes on
    assert rig.invocations(other) == {N3: Detail.SUCCESS, N4: Detail.IN_PROGRESS}
    assert run(rig.dispatcher.deadlines.expire_undelivered) == 1
    assert rig.invocations(late) == {N1: Detail.SUCCESS, N2: Detail.DELIVERY_TIMED_OUT}
    assert rig.command(late).detail.terminal


def test_a_restarted_dispatcher_resumes_its_active_commands(tmp_path: Path) -> None:
    first = Rig.open(tmp_path)
    first.add_nodes(N1, N2)
    first.connect(N1, N2)

    async def before() -> str:
        return (await first.send([N1, N2], concurrency="1")).command_id
    cid = run(before)
    first.close()  # the controller stops; the store stays
    assert first.invocations(cid) == {N1: Detail.IN_PROGRESS, N2: Detail.PENDING}

    second = Rig.open(tmp_path, store=Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer()),
                      clock=FakeClock(first.clock.now_ms))
    try:
        sessions = second.connect(N1, N2)

        async def after() -> int:
            resumed = await second.dispatcher.resume()
            await second.report(cid, N1, Detail.SUCCESS)  # the agent's result, replayed on its new stream
            await second.report(cid, N2, Detail.SUCCESS)
            return resumed
        assert run(after) == 1
        assert received(sessions[N2]) == ["command"]
        assert second.command(cid).detail is Detail.SUCCESS
    finally:
        second.close()


def test_the_feed_tells_each_change_once_and_the_command_s_end_last(rig: Rig) -> None:
    rig.connect(N1, N2)

    async def go() -> list[tuple[str, str, str]]:
        q = rig.events.subscribe_fleet()
        cid = (await rig.send([N1, N2])).command_id
        await rig.report(cid, N1, Detail.SUCCESS)
        await rig.report(cid, N1, Detail.SUCCESS)  # replayed: stored once, told once
        await rig.report(cid, N2, Detail.FAILED, exit_code=1)
        out = []
        while not q.empty():
            e = q.get_nowait()
            out.append((e.kind.value, e.node_id, e.detail.value))
        return out
    events = run(go)
    assert events == [("command", "", "Pending"), ("invocation", N1, "InProgress"), ("invocation", N2, "InProgress"),
                      ("command", "", "InProgress"), ("invocation", N1, "Success"), ("invocation", N2, "Failed"),
                      ("command", "", "Failed")]


def test_an_agent_that_went_and_stays_away_ends_agent_lost_by_its_deadline(rig: Rig) -> None:
    """Accepted, then the agent goes: the invocation ends AgentLost once the node has been away the
    grace and the document's execution time (its one step: the 3,600 s default) plus the grace has
    passed since it was accepted; not before. A node that is back is never given up."""
    rig.connect(N1, N2)

    async def go() -> str:
        cid = (await rig.send([N1, N2])).command_id
        await rig.reports.on_accepted(N1, cid)
        await rig.reports.on_accepted(N2, cid)
        await rig.reports.flushed()
        rig.hub.detach(rig.hub.get(N1))
        rig.hub.detach(rig.hub.get(N2))
        rig.hub.attach(N2)  # N2 came back (its stream is new)
        deadlines = rig.dispatcher.deadlines
        rig.clock.advance(3600 + 119)
        assert await deadlines.expire_lost() == 0
        rig.clock.advance(2)
        assert await deadlines.expire_lost() == 1
        return cid
    cid = run(go)
    assert rig.invocations(cid) == {N1: Detail.AGENT_LOST, N2: Detail.IN_PROGRESS}
    assert rig.command(cid).error_count == 1


def test_a_cancel_ends_an_away_agents_invocation_at_once_and_owes_it_the_cancel(rig: Rig) -> None:
    sessions = rig.connect(N1, N2)

    async def go() -> str:
        cid = (await rig.send([N1, N2])).command_id
        rig.hub.detach(sessions[N2])  # cut off, maybe still running it
        await rig.dispatcher.cancel(cid)
        return cid
    cid = run(go)
    assert rig.invocations(cid) == {N1: Detail.CANCELLING, N2: Detail.CANCELLED}
    assert rig.store.owed_cancels() == [(cid, N2)]
    back = rig.hub.attach(N2)
    run(lambda: rig.dispatcher.on_hello(N2))
    assert received(back) == ["cancel"]


def test_a_restarted_dispatcher_tells_the_fleet_only_what_the_stored_events_had_not(tmp_path: Path) -> None:
    """What was told before the restart (in the store's events) is not told again; a change stored
    but not told (the process died between the two writes) is told at the resume."""
    first = Rig.open(tmp_path)
    first.add_nodes(N1, N2)
    first.connect(N1, N2)
    told: list[StatusEvent] = []
    first.events.add_sink(told.append)

    async def before() -> str:
        return (await first.send([N1, N2], concurrency="1")).command_id
    cid = run(before)
    first.close()
    assert [(e.kind, e.command_id, e.node_id, e.detail) for e in told] == [
        (EventKind.COMMAND, cid, "", Detail.PENDING), (EventKind.INVOCATION, cid, N1, Detail.IN_PROGRESS),
        (EventKind.COMMAND, cid, "", Detail.IN_PROGRESS)]
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    store.record_events([e for e in told if e.kind is EventKind.COMMAND])  # N1's InProgress was lost

    second = Rig.open(tmp_path, store=store, clock=FakeClock(first.clock.now_ms))
    try:
        second.connect(N1, N2)

        async def after() -> list[tuple[EventKind, str, Detail | None]]:
            q = second.events.subscribe_fleet()
            await second.dispatcher.resume()
            return [(e.kind, e.node_id, e.detail) for e in (q.get_nowait() for _ in range(q.qsize())) if e]
        assert run(after) == [(EventKind.INVOCATION, N1, Detail.IN_PROGRESS)]
    finally:
        second.close()


def test_a_restarted_dispatcher_tells_the_end_of_a_command_that_ended_untold(tmp_path: Path) -> None:
    """A command that ended just before the controller died, its end stored but not yet in the
    journal's events (it stores in batches): the restart tells its end once; a command whose end
    was told is not told again."""
    first = Rig.open(tmp_path)
    first.add_nodes(N1, N2)
    first.connect(N1, N2)
    told: list[StatusEvent] = []
    first.events.add_sink(told.append)

    async def before() -> tuple[str, str]:
        done = (await first.send([N1])).command_id
        await first.report(done, N1, Detail.SUCCESS)
        lost = (await first.send([N2])).command_id
        await first.report(lost, N2, Detail.FAILED, exit_code=3)
        return done, lost
    done, lost = run(before)
    first.close()
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    # every event of `done` was stored; of `lost`, only those before its invocation ended
    store.record_events([e for e in told if e.command_id == done or e.detail in (Detail.PENDING, Detail.IN_PROGRESS)])

    second = Rig.open(tmp_path, store=store, clock=FakeClock(first.clock.now_ms))
    try:
        async def after() -> list[tuple[EventKind, str, str, Detail | None]]:
            q = second.events.subscribe_fleet()
            await second.dispatcher.resume()
            return [(e.kind, e.command_id, e.node_id, e.detail) for e in (q.get_nowait() for _ in range(q.qsize()))
                    if e]
        assert run(after) == [(EventKind.INVOCATION, lost, N2, Detail.FAILED),
                              (EventKind.COMMAND, lost, "", Detail.FAILED)]
    finally:
        second.close()
