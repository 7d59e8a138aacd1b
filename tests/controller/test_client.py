"""The operator client: its channel options are gRPC's own; RunCommand's answer begins with the command."""
from __future__ import annotations

from types import SimpleNamespace

import grpc.experimental
import pytest

from controller.cli.render import CommandRecorder
from controller.model import Targets
from controller.sdk.transport import SINGLE_THREADED_UNARY_STREAM, AdminClient, CommandSpec, command_end
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


# -- a command's end as RunCommand streamed it -------------------------------------------------------

def _inv(node: str, detail: int, *steps: str) -> pb.CommandEvent:
    inv = pb.Invocation(command_id="c1", node_id=node, detail=detail,
                        steps=[pb.StepView(result=pb.StepResult(command_id="c1", step_name=s)) for s in steps])
    return pb.CommandEvent(invocation=inv, node_id=node)


def _out(node: str, step: str, stream: int, seq: int, data: bytes) -> pb.CommandEvent:
    return pb.CommandEvent(output=pb.OutputChunk(command_id="c1", step_name=step, stream=stream, seq=seq, data=data),
                           node_id=node)


def _end(targets: int, complete: bool = True) -> pb.CommandEvent:
    return pb.CommandEvent(command=pb.CommandInfo(command_id="c1", target_count=targets,
                                                  detail=pb.STATUS_DETAIL_SUCCESS), complete=complete)


def _recorded(*events: pb.CommandEvent) -> CommandRecorder:
    rec = CommandRecorder()
    for e in events:
        rec.feed(e)
    return rec


OK, RUNNING = pb.STATUS_DETAIL_SUCCESS, pb.STATUS_DETAIL_IN_PROGRESS
OUT, ERR = pb.OUTPUT_STREAM_STDOUT, pb.OUTPUT_STREAM_STDERR


def test_a_complete_stream_gives_the_end_with_every_invocation_and_its_output_previews() -> None:
    rec = _recorded(_inv("mi-2", RUNNING), _out("mi-2", "s", OUT, 1, b"world\n"), _out("mi-2", "s", OUT, 0, b"hello "),
                    _out("mi-2", "s", OUT, 0, b"hello "),  # sent again after a reconnect: once
                    _out("mi-2", "s", ERR, 0, b"e" * 8_001), _inv("mi-1", OK, "s"), _inv("mi-2", OK, "s"))
    ended = rec.ended(_end(2))
    assert ended is not None and ended.command.command_id == "c1"
    assert [i.node_id for i in ended.invocations] == ["mi-1", "mi-2"]  # by node id, as GetCommand
    (first,), (second,) = ended.invocations[0].steps, ended.invocations[1].steps
    assert (first.stdout, first.stderr, first.stdout_truncated) == ("", "", False)
    assert (second.stdout, second.stdout_truncated) == ("hello world\n", False)
    assert (len(second.stderr), second.stderr_truncated) == (8_000, True)  # SSM's 8,000 characters


@pytest.mark.parametrize("events", [
    [_inv("mi-1", OK), _end(1, complete=False)],  # the watcher lost events
    [_inv("mi-1", OK), _end(2)],  # an invocation's end is missing
    [_inv("mi-1", RUNNING), _end(1)],  # or not an end
], ids=["lost", "missing", "not-ended"])
def test_an_incomplete_stream_gives_nothing_and_the_command_is_read_back(events: list[pb.CommandEvent]) -> None:
    assert _recorded(*events[:-1]).ended(events[-1]) is None
