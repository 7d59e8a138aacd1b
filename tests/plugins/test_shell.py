"""The shell plugin and plugins.sdk.process, with real subprocesses."""
from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from plugins.sdk import process as process_mod
from plugins.sdk.contract import OutputStreamKind, RunContext, StepOutcome
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import ENTRY_POINT_GROUP, PluginRegistry
from plugins.sdk.status import Detail
from plugins.shell.plugin import ShellInputs, ShellPlugin, build_argv

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "shell_cases.json").read_text())


@dataclass
class RecordingSink:
    """An OutputSink that records every chunk with the time it arrived."""
    events: list[tuple[OutputStreamKind, bytes, float]] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    fail_with: Exception | None = None

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        self.events.append((stream, data, time.monotonic()))
        self.first.set()
        if self.fail_with is not None:
            raise self.fail_with

    def text(self, stream: OutputStreamKind) -> str:
        return b"".join(d for s, d, _ in self.events if s is stream).decode()


def make_ctx(sink: RecordingSink, workdir: Path, *, grace: float = 1.5,
             extra_env: dict[str, str] | None = None) -> RunContext:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(extra_env or {})}
    return RunContext(command_id="cmd-1", node_id="node-1", step_name="step", step_index=0,
                      check_mode=False, workdir=str(workdir), output=sink,
                      logger=logging.LoggerAdapter(logging.getLogger("test"), {}),
                      cancel_grace_seconds=grace, environment=env)


def registry() -> PluginRegistry:
    return PluginRegistry([ShellPlugin()])


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def group_alive(pgid: int) -> bool:
    """A non-zombie process with process group ``pgid`` exists."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return False


def wait_group_gone(pgid: int, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ---- data-driven cases: plugin inputs in, argv and output out ------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any], tmp_path: Path) -> None:
    bound = registry().bind(case["action"], case["inputs"], "case")
    assert isinstance(bound.inputs, ShellInputs)
    assert list(build_argv(bound.inputs)) == case["argv"]

    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path, extra_env={"BASE_ONLY": "base", "OVERRIDDEN": "base",
                                              "EXPECTED_WORKDIR": str(tmp_path)})
    outcome: StepOutcome = run(lambda: bound.plugin.run(ctx, bound.inputs))
    assert sink.text(OutputStreamKind.STDOUT) == case["stdout"]
    assert sink.text(OutputStreamKind.STDERR) == case["stderr"]
    assert outcome.exit_code == case["exit_code"]
    assert outcome.detail is Detail(case["detail"])


def test_alias_conversion() -> None:
    bound = registry().bind("aws:runShellScript",
                            {"runCommand": ["a", "b"], "workingDirectory": "/srv", "timeoutSeconds": 30}, "s")
    assert bound.inputs == ShellInputs(cmd="a\nb", chdir="/srv", timeout_seconds=30)
    assert bound.plugin.spec.name == "shell"


def test_process_environment_overlays_inputs(tmp_path: Path) -> None:
    inputs = registry().bind("shell", {"cmd": "true", "env": {"A": "task", "C": "3"}}, "s").inputs
    ctx = replace(make_ctx(RecordingSink(), tmp_path), environment={"A": "base", "B": "base"})
    assert ctx.process_environment(inputs.env) == {"A": "task", "B": "base", "C": "3"}


def test_spec_and_entry_point() -> None:
    spec = ShellPlugin.spec
    assert (spec.name, spec.version, spec.api) == ("shell", "1.0.0", 1)
    assert spec.platforms == frozenset({Platform.LINUX, Platform.MACOS})
    assert [a.name for a in spec.aliases] == ["aws:runShellScript"]
    assert 0 < spec.cancel_grace_seconds <= 2.0
    (ep,) = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name="shell")
    assert ep.load() is ShellPlugin
    assert registry().actions() == ("aws:runShellScript", "shell")


# ---- invalid inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "raw", "where", "message"), [
    ("aws:runShellScript", {"runCommand": {"a": "b"}}, "case.runCommand", "expected a list"),
    ("aws:runShellScript", {"runCommand": ["ok", 3]}, "case.runCommand[1]", "expected a string"),
    ("aws:runShellScript", {}, "case.runCommand", "missing required parameter"),
    ("aws:runShellScript", {"runCommand": "x", "bogus": 1}, "case.bogus", "unsupported parameter"),
    ("aws:runShellScript", {"runCommand": "x", "timeoutSeconds": 0}, "case.timeoutSeconds", "at least 1"),
    ("aws:runShellScript", {"runCommand": "x", "timeoutSeconds": 172801}, "case.timeoutSeconds",
     "at most 172800"),
    ("aws:runShellScript", "echo hi", "case", "expected a mapping"),
    ("shell", {"cmd": "x", "unknown": True}, "case.unknown", "unsupported parameter"),
    ("shell", {"cmd": ["x"]}, "case.cmd", "expected a string"),
    ("shell", {"cmd": "x", "env": ["A=1"]}, "case.env", "expected a mapping"),
    ("shell", {"cmd": "x", "timeout_seconds": 0}, "case.timeout_seconds", "at least 1"),
    ("shell", {"cmd": "x", "timeout_seconds": 99999999999999999999}, "case.timeout_seconds", "at most 2592000"),
    ("shell", {"cmd": "x", "timeout_seconds": "99999999999999999999"}, "case.timeout_seconds", "at most 2592000"),
    ("shell", {"cmd": "echo a\x00b"}, "case.cmd", "contains a NUL character"),
    ("aws:runShellScript", {"runCommand": ["echo a\x00b"]}, "case.runCommand[0]", "contains a NUL character"),
    ("shell", {}, "case.cmd", "missing required parameter"),
])
def test_invalid_inputs(action: str, raw: Any, where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        registry().bind(action, raw, "case")
    assert info.value.where == where
    assert message in info.value.message


# ---- process behaviour -----------------------------------------------------------------------------

def shell_inputs(cmd: str, **kw: Any) -> ShellInputs:
    return registry().bind("shell", {"cmd": cmd, **kw}, "s").inputs


def test_output_streams_while_the_process_runs(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)

    async def scenario() -> tuple[bool, StepOutcome, float]:
        task = asyncio.create_task(ShellPlugin().run(ctx, shell_inputs("echo first; sleep 2; echo second")))
        await asyncio.wait_for(sink.first.wait(), timeout=1.5)
        still_running = not task.done()
        outcome = await task
        return still_running, outcome, time.monotonic()

    still_running, outcome, ended = run(scenario)
    assert still_running
    assert sink.events[0][1] == b"first\n"
    assert ended - sink.events[0][2] > 1.5
    assert sink.text(OutputStreamKind.STDOUT) == "first\nsecond\n"
    assert outcome.detail is Detail.SUCCESS


def test_large_output_arrives_in_bounded_chunks(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    outcome = run(lambda: ShellPlugin().run(ctx, shell_inputs("head -c 1000000 /dev/zero")))
    assert outcome.exit_code == 0
    sizes = [len(d) for _, d, _ in sink.events]
    assert sum(sizes) == 1_000_000
    assert max(sizes) <= process_mod.CHUNK_SIZE


async def cancel_after_start(ctx: RunContext, sink: RecordingSink, inputs: ShellInputs,
                             cancels: int = 1) -> tuple[int, float]:
    """Start the step, wait for it to print its pid (the group id), cancel; return (pgid, seconds
    the cancellation took)."""
    task = asyncio.create_task(ShellPlugin().run(ctx, inputs))
    await asyncio.wait_for(sink.first.wait(), timeout=5)
    pgid = int(sink.text(OutputStreamKind.STDOUT).split()[0])
    assert os.getpgid(pgid) == pgid  # the step leads its own process group
    assert pgid != os.getpgrp()
    start = time.monotonic()
    for _ in range(cancels):
        task.cancel()
        await asyncio.sleep(0.05)
    with pytest.raises(asyncio.CancelledError):
        await task
    return pgid, time.monotonic() - start


@pytest.mark.parametrize("cmd", [
    "echo $$; sleep 60",
    "echo $$; sleep 60 & sleep 60",
    "echo $$; (sleep 60; echo never) & sleep 60 & wait",
])
def test_cancel_kills_the_whole_group(cmd: str, tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path, grace=1.5)
    pgid, took = run(lambda: cancel_after_start(ctx, sink, shell_inputs(cmd)))
    assert took < 2.0
    assert not group_alive(pgid)  # unreaped zombies aside (this container's init does not reap)


def test_cancel_escalates_to_sigkill_after_the_grace(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path, grace=0.5)
    # SIG_IGN for TERM is inherited by the children too.
    inputs = shell_inputs("trap '' TERM; echo $$; sleep 60 & sleep 60")
    pgid, took = run(lambda: cancel_after_start(ctx, sink, inputs))
    assert 0.45 <= took < 1.5
    assert not group_alive(pgid)


def test_repeated_cancel_still_cleans_up(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path, grace=0.5)
    pgid, took = run(lambda: cancel_after_start(
        ctx, sink, shell_inputs("trap '' TERM; echo $$; sleep 60"), cancels=3))
    assert took < 1.5
    assert not group_alive(pgid)


def kill_escaped(sink: RecordingSink) -> int:
    """Kill the process whose pid the script printed as its last stdout line."""
    pid = int(sink.text(OutputStreamKind.STDOUT).split()[-1])
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return pid


def test_cancel_does_not_hang_on_an_escaped_process_holding_the_pipes(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path, grace=0.5)

    async def scenario() -> tuple[int, float]:
        task = asyncio.create_task(ShellPlugin().run(
            ctx, shell_inputs("echo $$; setsid sleep 30 & echo $!; sleep 60")))
        deadline = time.monotonic() + 5
        while len(sink.text(OutputStreamKind.STDOUT).split()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return int(sink.text(OutputStreamKind.STDOUT).split()[0]), time.monotonic() - start

    try:
        pgid, took = run(scenario)
    finally:
        kill_escaped(sink)
    assert took < 2.0
    assert not group_alive(pgid)


def test_normal_exit_does_not_wait_forever_for_background_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process_mod, "EXIT_DRAIN_SECONDS", 0.3)
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    start = time.monotonic()
    try:
        outcome = run(lambda: ShellPlugin().run(ctx, shell_inputs("sleep 30 & echo $!")))
    finally:
        kill_escaped(sink)
    assert time.monotonic() - start < 2.0
    assert outcome.exit_code == 0


def test_background_output_before_the_drain_ends_is_kept(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    outcome = run(lambda: ShellPlugin().run(ctx, shell_inputs("(sleep 0.3; echo late) & echo early")))
    assert outcome.exit_code == 0
    assert sink.text(OutputStreamKind.STDOUT) == "early\nlate\n"


def test_failing_sink_kills_the_process_and_raises(tmp_path: Path) -> None:
    sink = RecordingSink(fail_with=OSError("sink is full"))
    ctx = make_ctx(sink, tmp_path, grace=0.5)
    start = time.monotonic()
    with pytest.raises(OSError, match="sink is full"):
        run(lambda: ShellPlugin().run(ctx, shell_inputs("echo $$; sleep 60")))
    assert time.monotonic() - start < 2.0
    assert not group_alive(int(sink.text(OutputStreamKind.STDOUT).split()[0]))


@pytest.mark.parametrize(("cmd", "code"), [("kill -KILL $$", 128 + 9), ("kill -INT $$", 128 + 2),
                                           ("exit 255", 255)])
def test_exit_by_signal_maps_to_128_plus_n(cmd: str, code: int, tmp_path: Path) -> None:
    outcome = run(lambda: ShellPlugin().run(make_ctx(RecordingSink(), tmp_path), shell_inputs(cmd)))
    assert outcome.exit_code == code
    assert outcome.detail is Detail.FAILED
    assert outcome.error == f"exited with code {code}"


def test_bad_chdir_raises_plugin_error(tmp_path: Path) -> None:
    ctx = make_ctx(RecordingSink(), tmp_path)
    with pytest.raises(PluginError, match="working directory '/nope/missing' does not exist"):
        run(lambda: ShellPlugin().run(ctx, shell_inputs("true", chdir="/nope/missing")))
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(PluginError, match="is not a directory"):
        run(lambda: ShellPlugin().run(ctx, shell_inputs("true", chdir=str(a_file))))


def test_missing_step_workdir_raises_plugin_error(tmp_path: Path) -> None:
    ctx = make_ctx(RecordingSink(), tmp_path / "gone")
    with pytest.raises(PluginError, match="does not exist"):
        run(lambda: ShellPlugin().run(ctx, shell_inputs("true")))


def test_missing_executable_raises_plugin_error(tmp_path: Path) -> None:
    ctx = make_ctx(RecordingSink(), tmp_path)
    with pytest.raises(PluginError, match="executable '/nope/sh' not found"):
        run(lambda: ShellPlugin().run(ctx, shell_inputs("true", executable="/nope/sh")))
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PluginError, match="permission denied"):
        run(lambda: ShellPlugin().run(ctx, shell_inputs("true", executable=str(script))))


def test_run_process_rejects_empty_argv(tmp_path: Path) -> None:
    ctx = make_ctx(RecordingSink(), tmp_path)
    with pytest.raises(PluginError):
        run(lambda: process_mod.run_process(ctx, [], cwd=None, env={}))


def test_with_the_pidfd_watcher_a_child_is_reaped_without_a_waitpid_thread(tmp_path: Path) -> None:
    """Python 3.11's default watcher blocks a thread in waitpid for every child ("asyncio-waitpid-N");
    the pidfd watcher (3.12's default) learns of the exit on the loop itself."""
    import sys
    import threading

    async def go() -> tuple[bool, int, list[str]]:
        installed = process_mod.watch_children_by_pidfd()
        sink = RecordingSink()
        task = asyncio.create_task(process_mod.run_process(
            make_ctx(sink, tmp_path), ["/bin/sh", "-c", "sleep 0.3; echo done; exit 3"], cwd=None, env={}))
        await asyncio.sleep(0.15)
        names = [t.name for t in threading.enumerate()]
        return installed, await task, names

    try:
        installed, code, names = run(go)
    finally:
        asyncio.get_event_loop_policy().set_child_watcher(None)  # the next test's loop gets the default
    assert installed is (sys.version_info < (3, 12))
    assert code == 3
    assert not [n for n in names if n.startswith("asyncio-waitpid")]


def test_a_cancel_that_finds_the_step_ended_by_itself_returns_its_exit(tmp_path: Path) -> None:
    """Found by make chaos (seed 635589 run 23): a loop seconds behind delivers a stop's cancel after
    the step's exit it has not yet read; the step ended by itself, and its exit is its outcome."""
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    marker = tmp_path / "ended"

    async def go() -> StepOutcome:
        task = asyncio.create_task(ShellPlugin().run(ctx, shell_inputs(f"echo $$; sleep 0.3; touch {marker}; exit 3")))
        await asyncio.wait_for(sink.first.wait(), timeout=5)
        time.sleep(1.0)  # the loop stands still while the step ends: its exit is not read yet
        assert marker.exists()
        task.cancel()
        return await task

    outcome = run(go)
    assert outcome.exit_code == 3 and outcome.detail is Detail.FAILED


def test_a_cancel_of_a_step_still_running_after_a_stall_still_stops_it(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    marker = tmp_path / "ended"

    async def go() -> None:
        task = asyncio.create_task(ShellPlugin().run(ctx, shell_inputs(f"echo $$; sleep 5; touch {marker}")))
        await asyncio.wait_for(sink.first.wait(), timeout=5)
        time.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go)
    time.sleep(0.2)
    assert not marker.exists()


def test_a_cancel_signals_the_step_before_the_loop_goes_on(tmp_path: Path) -> None:
    """Found by make chaos (seed 638226 run 25): a stopping swarm's loop, busy for seconds, let
    cancelled steps run on to their end before their SIGTERM went out from a task of its own."""
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    marker = tmp_path / "ended"

    async def go() -> None:
        task = asyncio.create_task(ShellPlugin().run(ctx, shell_inputs(f"echo $$; sleep 0.5; touch {marker}")))
        await asyncio.wait_for(sink.first.wait(), timeout=5)
        task.cancel()
        asyncio.get_running_loop().call_soon(time.sleep, 1.0)  # the loop stands still right after the cancel
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go)
    assert not marker.exists()


def test_a_cancel_while_the_pipes_connect_returns_the_exit_of_a_step_that_ended(tmp_path: Path) -> None:
    """Found by make chaos (seed 638226 run 25): a stop's cancel reached a step whose child was
    started but whose pipes were not yet connected; on a loop behind, the child ran to its end."""
    sink = RecordingSink()
    ctx = make_ctx(sink, tmp_path)
    marker = tmp_path / "ended"

    async def go() -> StepOutcome:
        task = asyncio.create_task(ShellPlugin().run(ctx, shell_inputs(f"echo out; touch {marker}; exit 4")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the child is started; its pipes are being connected
        task.cancel()
        time.sleep(1.0)  # the loop stands still while the step ends
        assert marker.exists()
        return await task

    outcome = run(go)
    assert outcome.exit_code == 4 and outcome.detail is Detail.FAILED
    assert sink.text(OutputStreamKind.STDOUT) == "out\n"
