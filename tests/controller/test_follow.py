"""controller/cli/follow.py: a follow goes on across breaks of its stream (says so once, resumes
with what its caller re-opens, gives up past --reconnect-timeout in one line), never retries a
stream that never connected or a refusal; and LinePrinter.rewind prints no line twice when a
re-opened watch replays the output from its start. The streams are stand-ins; the real ones run
in tests/e2e/test_follow_resume.py."""
from __future__ import annotations

import io
from collections.abc import Iterator

import grpc
import pytest
from rich.console import Console

from controller.cli.follow import BACKOFF_SECONDS, Reconnect, followed
from controller.cli.render import LinePrinter
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import OutpostError


class Broken(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        super().__init__()
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "Socket closed"


class Call:
    """A streaming call: ``items``, then ``end`` raised (None: it ends); ``connects``: whether the
    controller answered (its headers), as a real call tells."""

    def __init__(self, items: list[int], end: grpc.RpcError | None = None, connects: bool = True) -> None:
        self._items, self._end, self._connects = items, end, connects

    def initial_metadata(self) -> tuple:
        return ()

    def done(self) -> bool:
        return not self._connects

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def __iter__(self) -> Iterator[int]:
        yield from self._items
        if self._end is not None:
            raise self._end


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _how(clock: Clock, timeout: float = 300) -> Reconnect:
    return Reconnect("events", timeout, sleep=clock.sleep, clock=clock)


def test_a_broken_stream_is_said_once_reopened_and_followed_on(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    reopened = iter([Call([], Broken(), connects=False), Call([], Broken(), connects=False), Call([3, 4])])
    how = _how(clock)
    got: list[int] = []
    for item in followed(lambda: Call([1, 2], Broken()), lambda: next(reopened), lambda: got[-1:] == [4], how):
        got.append(item)
    assert got == [1, 2, 3, 4]
    err = capsys.readouterr().err
    assert err.count("events: the stream broke (the controller is unavailable: Socket closed)") == 1, err
    assert err.count("events: reconnected") == 1 and how.breaks == 1
    assert clock.slept == list(BACKOFF_SECONDS[:3])


def test_a_stream_that_ends_before_its_follow_is_done_is_a_break_too() -> None:
    clock = Clock()
    calls = iter([Call([2]), Call([3])])
    seen: list[int] = []
    for item in followed(lambda: Call([1]), lambda: next(calls), lambda: bool(seen) and seen[-1] == 3, _how(clock)):
        seen.append(item)
    assert seen == [1, 2, 3]


def test_past_the_reconnect_timeout_it_gives_up_in_one_line() -> None:
    clock = Clock()
    with pytest.raises(OutpostError) as caught:
        list(followed(lambda: Call([1], Broken()), lambda: Call([], Broken(), connects=False), lambda: False,
                      _how(clock, timeout=12)))
    message = str(caught.value)
    assert message.startswith("events: no controller for 12 s after the stream broke")
    assert message.endswith("gave up (--reconnect-timeout)") and "\n" not in message
    assert clock.now == pytest.approx(12) and max(clock.slept) <= BACKOFF_SECONDS[-1]


def test_a_stream_that_never_connected_or_a_refusal_is_not_retried() -> None:
    clock = Clock()
    with pytest.raises(Broken):  # a wrong address is said at once, by the caller
        list(followed(lambda: Call([], Broken(), connects=False), lambda: Call([9]), lambda: False, _how(clock)))
    denied = Broken(grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(Broken) as caught:
        list(followed(lambda: Call([1], denied), lambda: Call([9]), lambda: False, _how(clock)))
    assert caught.value is denied and clock.slept == []


def test_a_follow_that_has_what_it_waited_for_ends_quietly_on_a_break(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(followed(lambda: Call([1], Broken()), lambda: Call([9]), lambda: True, _how(Clock()))) == [1]
    assert capsys.readouterr().err == ""


def _chunk(data: bytes, stream: int = pb.OUTPUT_STREAM_STDOUT) -> pb.OutputChunk:
    return pb.OutputChunk(step_name="s", stream=stream, data=data)


def test_a_rewound_printer_prints_each_line_once() -> None:
    buf = io.StringIO()
    printer = LinePrinter(Console(file=buf, width=200, color_system=None))
    printer.feed("mi-1", _chunk(b"one\ntw"))
    printer.feed("mi-1", _chunk(b"oops\n", pb.OUTPUT_STREAM_STDERR))
    printer.rewind()  # the watch again: each output from its first byte, in other pieces
    printer.feed("mi-1", _chunk(b"one\ntwo\nthr"))
    printer.feed("mi-1", _chunk(b"oops\nmore\n", pb.OUTPUT_STREAM_STDERR))
    printer.feed("mi-1", _chunk(b"ee\n"))
    printer.flush()
    assert buf.getvalue().splitlines() == ["mi-1 | one", "mi-1 | oops", "mi-1 | two", "mi-1 | more", "mi-1 | three"]
