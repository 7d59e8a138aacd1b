"""The operator client: its channel options are gRPC's own; RunCommand's answer begins with the command."""
from __future__ import annotations

from types import SimpleNamespace

import grpc.experimental
import pytest

from controller.cli.client import SINGLE_THREADED_UNARY_STREAM, AdminClient, CommandSpec, command_end
from controller.model import Targets
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import OutpostError


def test_streaming_answers_are_read_on_the_calling_thread() -> None:
    # spelled out in client.py so the CLI need not import grpc.experimental; a rename in gRPC would
    # silently turn the option off
    assert grpc.experimental.ChannelOptions.SingleThreadedUnaryStream == SINGLE_THREADED_UNARY_STREAM


class _Stream:
    """What the stub's RunCommand returns: an iterator of events that can be cancelled."""

    def __init__(self, events: list[pb.CommandEvent]) -> None:
        self._events = iter(events)
        self.cancelled = False

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> pb.CommandEvent:
        return next(self._events)

    def cancel(self) -> None:
        self.cancelled = True


def _client(stream: _Stream) -> AdminClient:
    client = AdminClient.__new__(AdminClient)  # no channel: the stub is all run_command uses
    client.stub = SimpleNamespace(RunCommand=lambda request: stream)  # type: ignore[assignment]
    return client


def test_run_command_returns_the_command_then_its_events() -> None:
    sent = pb.CommandEvent(command=pb.CommandInfo(command_id="c-1", status_detail="Pending"))
    rest = [pb.CommandEvent(invocation=pb.Invocation(command_id="c-1", node_id="mi-1"), node_id="mi-1"),
            pb.CommandEvent(command=pb.CommandInfo(command_id="c-1", status_detail="Success"))]
    command, events = _client(_Stream([sent, *rest])).run_command(CommandSpec(Targets()))
    assert command == sent.command and list(events) == rest


@pytest.mark.parametrize("events", [[], [pb.CommandEvent(invocation=pb.Invocation(command_id="c-1"))]])
def test_run_command_refuses_a_stream_that_does_not_begin_with_the_command(events: list[pb.CommandEvent]) -> None:
    stream = _Stream(events)
    with pytest.raises(OutpostError, match="did not begin with the command"):
        _client(stream).run_command(CommandSpec(Targets()))
    assert stream.cancelled


def test_command_end_is_the_terminal_command_event_or_none() -> None:
    running = pb.CommandEvent(command=pb.CommandInfo(command_id="c-1", detail=pb.STATUS_DETAIL_IN_PROGRESS))
    ended = pb.CommandEvent(command=pb.CommandInfo(command_id="c-1", detail=pb.STATUS_DETAIL_SUCCESS))
    line = pb.CommandEvent(invocation=pb.Invocation(command_id="c-1", detail=pb.STATUS_DETAIL_SUCCESS))
    after = iter([running, line, ended, running])
    assert command_end(after) == ended.command and list(after) == [running]  # read up to the end, no further
    assert command_end([running, line]) is None
