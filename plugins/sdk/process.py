"""Run a child process for a plugin: live output, a process group of its own, and a kill that
leaves nothing behind.

:func:`run_process` is what every process-starting plugin uses. The child leads a new session (so
a new process group); its stdout and stderr are streamed to the step's output sink in chunks as
they arrive. When the awaiting task is cancelled (the runner does that on timeout and on operator
cancel) the whole group gets SIGTERM, then SIGKILL after ``ctx.cancel_grace_seconds``, and the
CancelledError propagates; unless the child had already exited by itself when the cancel reached
it: then its exit status is returned, as for any exit.

When the child exits normally, processes it left in the background keep running (as with SSM);
their output is read for at most :data:`EXIT_DRAIN_SECONDS` after the exit, after which the pipes
are closed. Background processes should redirect their output.

:func:`run_query` runs a process the same way to read its answer (``systemctl is-active nginx``):
its stdout is captured, bounded, instead of streamed.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from plugins.sdk.contract import OutputStreamKind, RunContext
from plugins.sdk.errors import PluginError

CHUNK_SIZE = 64 * 1024
# How long output is still read after the child exits, while background processes hold the pipes.
EXIT_DRAIN_SECONDS = 2.0
# How long a cancelled step whose child had already exited by itself waits for the loop to read that
# exit (a loop seconds behind), before it ends as a cancel.
SETTLE_EXIT_SECONDS = 10.0
# How long to wait for the child to be reaped after SIGKILL (it cannot ignore it).
_REAP_SECONDS = 2.0
_POLL_SECONDS = 0.02
_POLL_MAX_SECONDS = 0.32
_STREAMS = ((1, OutputStreamKind.STDOUT), (2, OutputStreamKind.STDERR))


class _Protocol(asyncio.SubprocessProtocol):
    """Feeds the child's pipes into stream readers and reports the child's exit as soon as it
    happens (``Process.wait()`` also waits for the pipes to close, which a background process
    holding them can delay forever)."""

    def __init__(self) -> None:
        self.readers = {fd: asyncio.StreamReader(limit=CHUNK_SIZE) for fd, _ in _STREAMS}
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        for fd, reader in self.readers.items():
            pipe = transport.get_pipe_transport(fd)
            if pipe is not None:
                reader.set_transport(pipe)  # type: ignore[arg-type]  # pauses reading under backpressure

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        reader = self.readers.get(fd)
        if reader is not None:
            reader.feed_data(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        reader = self.readers.get(fd)
        if reader is None:
            return
        if exc is None:
            reader.feed_eof()
        else:
            reader.set_exception(exc)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def watch_children_by_pidfd() -> bool:
    """Have the running loop learn of its children's exits through pidfds (Linux 5.3+) instead of
    a thread per child. Python 3.11's default watcher starts a thread to block in waitpid for every
    child; 3.12 picks pidfds itself. Called once by an entry point, in the main thread, with its
    loop running (asyncio re-attaches the watcher to each new main-thread loop). Returns whether
    the pidfd watcher is in use."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # an older kernel, or a sandbox that forbids it: keep the default
        return False
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.get_event_loop_policy().set_child_watcher(watcher)
    return True


def exit_status(returncode: int) -> int:
    """A Popen return code as a shell reports it: killed by signal N is 128+N."""
    return 128 - returncode if returncode < 0 else returncode


async def run_process(ctx: RunContext, argv: Sequence[str], *, cwd: str | None,
                      env: Mapping[str, str]) -> int:
    """Run ``argv`` to completion, streaming its output to ``ctx.output``; return its exit status.

    Raises :class:`PluginError` when the process cannot start (missing executable, bad ``cwd``).
    On cancellation the process group is terminated (see the module docstring) before the
    CancelledError is re-raised.
    """
    if not argv:
        raise PluginError("no command to run")
    _check_cwd(cwd)
    loop = asyncio.get_running_loop()
    start = asyncio.ensure_future(loop.subprocess_exec(
        _Protocol, *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=cwd, env=dict(env), start_new_session=True))
    try:
        transport, protocol = await asyncio.shield(start)
    except asyncio.CancelledError:
        # Cancelled while the pipes were being connected: the child may already run, or (a loop
        # seconds behind, make chaos seed 638226 run 25) have run to its end meanwhile.
        await _despite_cancels(start)
        if start.cancelled() or start.exception() is not None:
            raise
        transport, protocol = start.result()
        assert isinstance(transport, asyncio.SubprocessTransport) and isinstance(protocol, _Protocol)
        ctx.process_started(transport.get_pid())
        if (code := await _after_cancel(ctx, transport, protocol, _start_pumps(ctx, protocol))) is None:
            raise
        return code
    except OSError as exc:
        raise _start_error(argv, cwd, exc) from exc

    assert isinstance(transport, asyncio.SubprocessTransport) and isinstance(protocol, _Protocol)
    ctx.process_started(transport.get_pid())  # it leads a session of its own: its pid is its group's id
    pumps = _start_pumps(ctx, protocol)
    try:
        await _until_exit(protocol.exited, pumps)
        await _drain(ctx, pumps)
    except asyncio.CancelledError:
        if (code := await _after_cancel(ctx, transport, protocol, pumps)) is None:
            raise
        return code
    except BaseException:
        await _cleanup(ctx, transport, protocol, pumps)
        raise
    return _reaped_status(transport)


MAX_QUERY_BYTES = 64 * 1024


class _Capture:
    """An output sink that keeps the first ``limit`` bytes of stdout and passes stderr on."""

    def __init__(self, sink: Any, limit: int) -> None:
        self.sink, self.limit, self.data = sink, limit, bytearray()

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        if stream is OutputStreamKind.STDOUT:
            self.data += data[:max(self.limit - len(self.data), 0)]
        else:
            await self.sink.write(stream, data)


async def run_query(ctx: RunContext, argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None,
                    limit: int = MAX_QUERY_BYTES) -> tuple[int, bytes]:
    """Run ``argv`` as :func:`run_process` does (its own process group, killed on cancel, the same
    errors), but capture its stdout instead of streaming it: return ``(exit status, stdout)``, stdout
    cut to its first ``limit`` bytes (the rest is read and dropped). Its stderr still streams to the
    step's output, where an operator reads why a query failed."""
    capture = _Capture(ctx.output, limit)
    code = await run_process(replace(ctx, output=capture), argv, cwd=cwd, env=env)
    return code, bytes(capture.data)


def _start_pumps(ctx: RunContext, protocol: _Protocol) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(_pump(ctx, protocol.readers[fd], kind)) for fd, kind in _STREAMS]


def _reaped_status(transport: asyncio.SubprocessTransport) -> int:
    returncode = transport.get_returncode()
    transport.close()
    assert returncode is not None
    return exit_status(returncode)


async def _after_cancel(ctx: RunContext, transport: asyncio.SubprocessTransport, protocol: _Protocol,
                        pumps: list[asyncio.Task[None]]) -> int | None:
    """A cancel reached the step: the child's exit status when it had ended by itself (an event
    loop seconds behind, a stopping swarm's, delivers the cancel after an exit it has not yet read:
    that exit is the step's outcome, as SSM reports a command that finished before its cancel; make
    chaos, seed 635589 run 23); otherwise its group is terminated and None returned."""
    if _exited_by_itself(transport.get_pid(), protocol.exited) and await _settle_exit(ctx, protocol, pumps):
        return _reaped_status(transport)
    await _cleanup(ctx, transport, protocol, pumps)
    return None


def _exited_by_itself(pid: int, exited: asyncio.Future[None]) -> bool:
    """Whether the child has exited, read or not yet read by the loop (``waitid`` with ``WNOWAIT``
    looks without reaping it: asyncio's watcher still does)."""
    if exited.done():
        return True
    if not hasattr(os, "waitid"):
        return False
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already: its exit is on its way to the loop
        return True
    except OSError:
        return False


async def _settle_exit(ctx: RunContext, protocol: _Protocol, pumps: list[asyncio.Task[None]]) -> bool:
    """Read the exit of a child that ended by itself, and its last output (bounded); whether that
    worked. A further cancel meanwhile gives up (the caller then terminates as for any cancel)."""
    async def read() -> bool:
        done, _ = await asyncio.wait({protocol.exited}, timeout=SETTLE_EXIT_SECONDS)
        if not done:
            return False
        await _drain(ctx, pumps)
        return True

    task = asyncio.ensure_future(read())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        return False
    except Exception:  # noqa: BLE001 - the output sink failed: ends as a cancel
        return False


def _check_cwd(cwd: str | None) -> None:
    if cwd is None:
        return
    if not os.path.exists(cwd):
        raise PluginError(f"working directory {cwd!r} does not exist")
    if not os.path.isdir(cwd):
        raise PluginError(f"working directory {cwd!r} is not a directory")


def _start_error(argv: Sequence[str], cwd: str | None, exc: OSError) -> PluginError:
    if cwd is not None and exc.filename == cwd:
        if isinstance(exc, FileNotFoundError):
            return PluginError(f"working directory {cwd!r} does not exist")
        return PluginError(f"cannot enter working directory {cwd!r}: {exc.strerror or exc}")
    if isinstance(exc, FileNotFoundError):
        return PluginError(f"executable {argv[0]!r} not found")
    if isinstance(exc, PermissionError):
        return PluginError(f"executable {argv[0]!r} is not executable: permission denied")
    return PluginError(f"cannot start {argv[0]!r}: {exc.strerror or exc}")


async def _pump(ctx: RunContext, reader: asyncio.StreamReader, kind: OutputStreamKind) -> None:
    while True:
        data = await reader.read(CHUNK_SIZE)
        if not data:
            return
        await ctx.output.write(kind, data)


async def _until_exit(exited: asyncio.Future[None], pumps: list[asyncio.Task[None]]) -> None:
    """Wait for the child to exit; a pump failure (the output sink raised) is raised at once."""
    pending: set[asyncio.Future[None]] = {exited, *pumps}
    while not exited.done():
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not exited:
                task.result()


async def _drain(ctx: RunContext, pumps: list[asyncio.Task[None]]) -> None:
    """Read what is left in the pipes, for a bounded time; raise a pump's failure."""
    done, pending = await asyncio.wait(pumps, timeout=EXIT_DRAIN_SECONDS)
    if pending:
        ctx.logger.warning("background processes still hold the step's output %.1fs after it exited; "
                           "their further output is not collected", EXIT_DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending)
    for task in done:
        task.result()


async def _cleanup(ctx: RunContext, transport: asyncio.SubprocessTransport, protocol: _Protocol,
                   pumps: list[asyncio.Task[None]]) -> None:
    """Terminate the group, stop reading, close the transport. SIGTERM goes out here, before the
    first await: a loop seconds behind (a stopping swarm's) must not let the step run on to its end
    while a task of its own waits for its turn. The rest runs to completion even when the awaiting
    task is cancelled again meanwhile; its own waits are bounded."""
    pgid = transport.get_pid()
    signalled = _terminate_now(ctx, pgid)
    task = asyncio.ensure_future(_finish_terminate(ctx, pgid, signalled, protocol.exited, pumps))
    await _despite_cancels(task)
    transport.close()
    if task.exception() is not None:
        ctx.logger.error("terminating process group %d failed: %s", pgid, task.exception())


async def _despite_cancels(fut: asyncio.Future[Any]) -> None:
    """Until ``fut`` is done, however often the awaiting task is cancelled meanwhile (what it waits
    for is bounded)."""
    while not fut.done():
        try:
            await asyncio.wait({fut})
        except asyncio.CancelledError:
            continue


def _terminate_now(ctx: RunContext, pgid: int) -> bool:
    """SIGTERM the group if a process of it still runs; whether it did."""
    if not _group_alive(pgid):
        return False
    ctx.logger.info("sending SIGTERM to process group %d", pgid)
    _signal_group(pgid, signal.SIGTERM)
    _signal_group(pgid, signal.SIGCONT)  # a stopped process must run to act on SIGTERM
    return True


async def _finish_terminate(ctx: RunContext, pgid: int, signalled: bool, exited: asyncio.Future[None],
                            pumps: list[asyncio.Task[None]]) -> None:
    if signalled and not await _group_gone(pgid, exited, ctx.cancel_grace_seconds):
        ctx.logger.warning("process group %d outlived its %.1fs grace; sending SIGKILL",
                           pgid, ctx.cancel_grace_seconds)
        _signal_group(pgid, signal.SIGKILL)
        # SIGKILL is delivered asynchronously: on a busy machine a member may still show as
        # running for a moment. The step ends only once its group is gone (bounded).
        if not await _group_gone(pgid, exited, _REAP_SECONDS):
            ctx.logger.error("process group %d still runs %.1fs after SIGKILL", pgid, _REAP_SECONDS)
    # The leader is gone from the group; wait for asyncio to reap it (bounded).
    await asyncio.wait({exited}, timeout=_REAP_SECONDS)
    # Stop reading: a process that escaped the group may still hold the pipes.
    for task in pumps:
        task.cancel()
    if pumps:
        await asyncio.wait(pumps, timeout=_REAP_SECONDS)


async def _group_gone(pgid: int, exited: asyncio.Future[None], seconds: float) -> bool:
    """Whether group ``pgid`` has no running process left within ``seconds``. The leader's exit is
    awaited as the event it is; only then is the rest of the group polled, less and less often: each
    poll without the leader reads every process on the machine, and a swarm stopping hundreds of
    steps at once spent seconds of its event loop in such polls, every 20 ms per step while it had
    not yet reaped the leaders (make chaos, seed 638226 run 25)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(seconds, 0.0)
    await asyncio.wait({exited}, timeout=max(seconds, 0.0))
    poll = _POLL_SECONDS
    while _group_alive(pgid):
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(poll, left))
        poll = min(2 * poll, _POLL_MAX_SECONDS)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs. Zombies do not count: where init does not
    reap orphans (some containers), they would keep the group "alive" forever.

    The leader running answers at once; only without it are all processes read (every /proc/N/stat):
    a swarm stopping 200 steps at once spent seconds of its event loop in those reads before the
    first SIGTERM went out, and the steps ran on to their end meanwhile (make chaos, seed 635589
    run 23)."""
    if _running(pgid):
        return True
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs (macOS): the signal test is all there is
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie (one read of /proc/PID/stat; False where
    there is no procfs)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(b")") + 2:].split()
    return bool(fields) and fields[0] not in (b"Z", b"X")

