"""Agent stream admission (controller/fleet/capacity.py) and how the open-file limit is shared out
(controller/runtime/openfiles.py): streams beyond the room are refused at once with the limit
named, each counted, the operator warned at most once a window; a refused Connect is refused before
anything else is read."""
from __future__ import annotations

import asyncio
import logging
import resource
import subprocess
import sys
from functools import partial

import grpc
import pytest

from controller.cli import render
from controller.fleet.capacity import StreamCapacity
from controller.runtime import openfiles
from controller.server.agent_service import AgentStreamService
from outpost.v1 import outpost_pb2 as pb
from tests.controller.test_auth import Aborted, FakeContext


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


def test_streams_beyond_the_room_are_refused_and_counted() -> None:
    clock = Clock()
    cap = StreamCapacity(2, 200, clock)
    assert cap.admit() and cap.admit()
    assert not cap.state().refused and cap.state().full
    first = clock.now
    assert not cap.admit()
    clock.now += 5_000
    assert not cap.admit()
    state = cap.state()
    assert (state.open_streams, state.max_streams, state.open_file_limit) == (2, 2, 200)
    assert (state.refused, state.first_refused_at_ms, state.last_refused_at_ms) == (2, first, clock.now)
    cap.release()  # one ended: room for one more
    assert not cap.state().full
    assert cap.admit()
    assert not cap.admit()
    assert cap.state().refused == 3


def test_the_refusal_names_the_limit_and_what_to_raise() -> None:
    cap = StreamCapacity(0, 200)
    assert not cap.admit()
    text = cap.refusal()
    assert "\n" not in text
    assert "controller at capacity: 0 agent streams open" in text
    assert "limit of 200 open files" in text and "LimitNOFILE" in text


def test_refusals_are_warned_of_once_a_window(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="controller.fleet.capacity")
    clock = Clock()
    cap = StreamCapacity(1, 300, clock, warn_every_ms=60_000)
    cap.admit()
    for _ in range(50):
        assert not cap.admit()
        clock.now += 1_000  # 50 refusals over 50 s: one warning
    assert len(caplog.records) == 1
    clock.now += 10_000  # past the window: the next refusal warns again, with the count since
    assert not cap.admit()
    assert len(caplog.records) == 2
    assert "(50 refused since the last warning, 51 since " in caplog.records[1].getMessage()
    assert "open-file limit of 300" in caplog.records[1].getMessage()
    assert "LimitNOFILE" in caplog.records[1].getMessage()


def test_a_connect_beyond_the_room_is_refused_before_anything_is_read() -> None:
    cap = StreamCapacity(0, 200)
    service = AgentStreamService(None, None, None, None, 90.0, cap)  # type: ignore[arg-type]
    ctx = FakeContext(None)  # no certificate even: the refusal comes first
    with pytest.raises(Aborted):
        asyncio.run(service.Connect(None, ctx))  # type: ignore[arg-type]
    assert ctx.aborted == [(grpc.StatusCode.RESOURCE_EXHAUSTED, cap.refusal())]
    assert cap.state().refused == 1 and cap.state().open_streams == 0


def test_an_admitted_connect_counts_until_its_call_ends() -> None:
    cap = StreamCapacity(5, 200)
    service = AgentStreamService(None, None, None, None, 90.0, cap)  # type: ignore[arg-type]
    ended: list[object] = []

    class Call(FakeContext):
        def add_done_callback(self, callback: object) -> None:
            ended.append(callback)
    ctx = Call(None)  # admitted, then refused for want of a node certificate
    with pytest.raises(Aborted):
        asyncio.run(service.Connect(None, ctx))  # type: ignore[arg-type]
    assert ctx.aborted[0][0] is grpc.StatusCode.PERMISSION_DENIED
    assert cap.state().open_streams == 1  # until gRPC says the call ended
    for callback in ended:
        callback(ctx)  # type: ignore[operator]
    assert cap.state().open_streams == 0


def test_the_limit_is_shared_out_as_stated() -> None:
    got = openfiles.share_out(20_000, 30)
    kept = openfiles.DATABASE + openfiles.ENROLMENT + openfiles.SLACK
    assert got.connections == 20_000 - 30 - kept
    assert got.agent_streams == got.connections - openfiles.OPERATORS - 2_000
    assert got.summary() == (f"open-file limit 20000: room for about {got.agent_streams} agent streams "
                             "(raise LimitNOFILE to hold more)")
    assert openfiles.share_out(100, 30).agent_streams == 0  # too low for any: none, not a negative count


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    code = ("import resource; from controller.runtime.openfiles import raise_soft_limit; "
            "print(raise_soft_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=partial(resource.setrlimit, resource.RLIMIT_NOFILE, (64, hard))).stdout
    assert out.split() == [str(hard), str(hard)]
    assert openfiles.open_file_count() > 0


def test_node_list_says_how_full_the_controller_is() -> None:
    line = render.capacity_line
    assert line(pb.StreamCapacity()) == ""  # a controller that does not say
    assert line(pb.StreamCapacity(open_streams=3, max_streams=50, open_file_limit=230)) == \
        "agent streams: 3 of about 50 open (open-file limit 230)"
    full = pb.StreamCapacity(open_streams=50, max_streams=50, open_file_limit=230, refused=7,
                             first_refused_at_ms=1_800_000_000_000, last_refused_at_ms=1_800_000_060_000)
    assert line(full) == ("at capacity: 50 of 50 agent streams open, 7 refused since 2027-01-15T08:00:00Z (the last "
                          "at 2027-01-15T08:01:00Z); the controller's open-file limit is 230: raise LimitNOFILE to "
                          "hold more")
