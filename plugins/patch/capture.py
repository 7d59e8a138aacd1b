"""Run a package manager's command and keep what it prints (bounded), optionally echoing it to the
step's output as it arrives. ``run_process`` streams without keeping; the patch plugin must read
what ``dpkg-query`` or ``apt-cache`` answer.

Like ``run_process``: the child leads a session of its own (the agent is told of it through
``ctx.process_started``), reads nothing, and a cancel terminates its whole group, SIGTERM then
SIGKILL after ``ctx.cancel_grace_seconds``. When the child exits, what it left in the background
may hold the pipes: they are read for at most :data:`EXIT_DRAIN_SECONDS` more.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from plugins.sdk import OutputStreamKind, PluginError, RunContext

MAX_CAPTURE_BYTES = 32 * 1024 * 1024  # per stream: apt-cache policy of a few thousand packages is a few MB
EXIT_DRAIN_SECONDS = 2.0
_STREAMS = {1: OutputStreamKind.STDOUT, 2: OutputStreamKind.STDERR}


@dataclass(frozen=True)
class Captured:
    argv: tuple[str, ...]
    exit_code: int  # killed by signal N: 128+N, as a shell says
    stdout: str
    stderr: str
    truncated: bool = False

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr (else stdout), for an error message."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(text[-lines:])


class _Collect(asyncio.SubprocessProtocol):
    def __init__(self, limit: int, echo: asyncio.Queue[tuple[OutputStreamKind, bytes] | None] | None) -> None:
        loop = asyncio.get_running_loop()
        self.limit = limit
        self.echo = echo
        self.data = {fd: bytearray() for fd in _STREAMS}
        self.truncated = False
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed = {fd: loop.create_future() for fd in _STREAMS}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buf = self.data.get(fd)
        if buf is None:
            return
        room = self.limit - len(buf)
        if len(data) > room:
            self.truncated = True
            data = data[:max(room, 0)]
        buf += data
        if data and self.echo is not None:
            self.echo.put_nowait((_STREAMS[fd], data))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        fut = self.closed.get(fd)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


async def _pump(ctx: RunContext, queue: asyncio.Queue[tuple[OutputStreamKind, bytes] | None]) -> None:
    while (item := await queue.get()) is not None:
        await ctx.output.write(*item)


async def capture(ctx: RunContext, argv: Sequence[str], *, env: Mapping[str, str], echo: bool = False,
                  limit: int = MAX_CAPTURE_BYTES) -> Captured:
    """Run ``argv`` to its end; its exit status and output (each stream cut at ``limit`` bytes).
    Raises PluginError when it cannot start."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[OutputStreamKind, bytes] | None] | None = asyncio.Queue() if echo else None
    start = asyncio.ensure_future(loop.subprocess_exec(
        lambda: _Collect(limit, queue), *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=dict(env), start_new_session=True))
    try:
        transport, protocol = await asyncio.shield(start)
    except asyncio.CancelledError:  # the child may run already: it must not outlive the step
        await _despite_cancels(start)
        if not start.cancelled() and start.exception() is None:
            transport, protocol = start.result()
            ctx.process_started(transport.get_pid())
            await _terminate(ctx, transport.get_pid(), protocol.exited)
            transport.close()
        raise
    except FileNotFoundError:
        raise PluginError(f"executable {argv[0]!r} not found") from None
    except PermissionError:
        raise PluginError(f"executable {argv[0]!r} is not executable: permission denied") from None
    except OSError as exc:
        raise PluginError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    ctx.process_started(transport.get_pid())
    pump = asyncio.create_task(_pump(ctx, queue)) if queue is not None else None
    try:
        await protocol.exited
        await asyncio.wait(list(protocol.closed.values()), timeout=EXIT_DRAIN_SECONDS)
        if queue is not None and pump is not None:
            queue.put_nowait(None)
            await pump
    except BaseException:
        await _terminate(ctx, transport.get_pid(), protocol.exited)
        if pump is not None:
            pump.cancel()
        transport.close()
        raise
    code = transport.get_returncode()
    transport.close()
    assert code is not None
    return Captured(tuple(argv), 128 - code if code < 0 else code,
                    protocol.data[1].decode("utf-8", "replace"), protocol.data[2].decode("utf-8", "replace"),
                    protocol.truncated)


def _signal(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _despite_cancels(fut: asyncio.Future[object]) -> None:
    """Until ``fut`` is done, however often the awaiting task is cancelled meanwhile (it is bounded)."""
    while not fut.done():
        try:
            await asyncio.wait({fut})
        except asyncio.CancelledError:
            continue


async def _terminate(ctx: RunContext, pgid: int, exited: asyncio.Future[None]) -> None:
    """SIGTERM the group, SIGKILL it after the grace; runs to its end even when cancelled again."""
    async def stop() -> None:
        _signal(pgid, signal.SIGTERM)
        _signal(pgid, signal.SIGCONT)
        await asyncio.wait({exited}, timeout=ctx.cancel_grace_seconds)
        _signal(pgid, signal.SIGKILL)  # the rest of the group too, even when the leader obeyed
        await asyncio.wait({exited}, timeout=2.0)

    await _despite_cancels(asyncio.ensure_future(stop()))
