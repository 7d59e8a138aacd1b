"""agent.runner: statuses, reports and output of a document run with small fake plugins.

Every assertion on reports reads them back from the outbox (what the controller would get),
parsed with plugins.sdk.wire.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.outbox import Outbox
from agent.runner import TRUNCATED_MARKER, Runner, RunnerOptions
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk import wire
from plugins.sdk.contract import API_VERSION, OutputStreamKind, PluginSpec, RunContext, StepOutcome
from plugins.sdk.document import Document, Step
from plugins.sdk.envelope import Envelope, VerifiedCommand
from plugins.sdk.errors import PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.registry import PluginRegistry
from plugins.sdk.results import NO_EXIT_CODE, InvocationReport, OutputChunk, StepReport
from plugins.sdk.schema import param
from plugins.sdk.status import Status

NODE = "node-7"
CID = "cmd-0001"
HELLO = pb.AgentMessage(hello=pb.Hello())
END = pb.AgentMessage(heartbeat=pb.Heartbeat(sent_at_ms=-1))
OUT, ERR = OutputStreamKind.STDOUT, OutputStreamKind.STDERR


def _spec(name: str, inputs: type) -> PluginSpec:
    return PluginSpec(name=name, version="1.0", api=API_VERSION, summary=name, inputs=inputs,
                      platforms=frozenset({Platform.LINUX}), cancel_grace_seconds=0.5)


@dataclass(frozen=True)
class OutcomeInputs:
    status: str = param("Status to return.", default="Success", choices=tuple(s.value for s in Status))
    exit_code: int = param("Exit code to return.", default=0)
    error: str = param("Error to return.", default="")


@dataclass(frozen=True)
class CrashInputs:
    kind: str = param("What to raise.", default="runtime", choices=("runtime", "outpost"))


@dataclass(frozen=True)
class SleepInputs:
    seconds: float = param("How long to sleep.", default=30.0)
    timeout_seconds: float | None = param("The plugin's own timeout.", default=None)


@dataclass(frozen=True)
class WriteInputs:
    stdout: tuple[str, ...] = param("Chunks for stdout.", default=())
    stderr: tuple[str, ...] = param("Chunks for stderr.", default=())


@dataclass
class Recorder:
    """Shared by the fake plugins: the contexts they ran with, and what they saw in their workdir."""
    contexts: list[RunContext] = field(default_factory=list)
    workdir_existed: list[bool] = field(default_factory=list)
    started: asyncio.Event | None = None
    stopped_by_cancel: bool = False

    def saw(self, ctx: RunContext) -> None:
        self.contexts.append(ctx)
        self.workdir_existed.append(Path(ctx.workdir).is_dir())
        Path(ctx.workdir, f"{ctx.step_name}.tmp").write_text("left behind")

    @property
    def steps(self) -> list[str]:
        return [c.step_name for c in self.contexts]


class OutcomePlugin:
    spec: ClassVar[PluginSpec] = _spec("outcome", OutcomeInputs)

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: OutcomeInputs) -> StepOutcome:
        self.rec.saw(ctx)
        return StepOutcome(Status(inputs.status), inputs.exit_code, inputs.error)


class CrashPlugin:
    spec: ClassVar[PluginSpec] = _spec("crash", CrashInputs)

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: CrashInputs) -> StepOutcome:
        self.rec.saw(ctx)
        if inputs.kind == "outpost":
            raise PluginError("not usable here")
        raise RuntimeError("boom")


class SleepPlugin:
    spec: ClassVar[PluginSpec] = _spec("sleep", SleepInputs)

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: SleepInputs) -> StepOutcome:
        self.rec.saw(ctx)
        if self.rec.started is not None:
            self.rec.started.set()
        try:
            await asyncio.sleep(inputs.seconds)
        except asyncio.CancelledError:
            self.rec.stopped_by_cancel = True
            raise
        return StepOutcome(Status.SUCCESS)


class WritePlugin:
    spec: ClassVar[PluginSpec] = _spec("write", WriteInputs)

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: WriteInputs) -> StepOutcome:
        self.rec.saw(ctx)
        for chunk in inputs.stdout:
            await ctx.output.write(OUT, chunk.encode())
        for chunk in inputs.stderr:
            await ctx.output.write(ERR, chunk.encode())
        return StepOutcome(Status.SUCCESS)


@dataclass
class Harness:
    work_root: Path
    options: RunnerOptions = field(default_factory=RunnerOptions)
    rec: Recorder = field(default_factory=Recorder)
    outbox: Outbox = field(default_factory=Outbox)

    def runner(self) -> Runner:
        registry = PluginRegistry([OutcomePlugin(self.rec), CrashPlugin(self.rec), SleepPlugin(self.rec),
                                   WritePlugin(self.rec)])
        return Runner(registry, NODE, self.work_root, self.outbox, self.options)

    def run(self, *steps: Step, cid: str = CID) -> InvocationReport:
        return asyncio.run(asyncio.wait_for(self.runner().run(command(cid, *steps), lambda: False), 10))

    def messages(self) -> list[Any]:
        """The outbox's replay, parsed: OutputChunk, StepReport and InvocationReport, in order."""
        return [_parse(m) for m in asyncio.run(_replay(self.outbox))]

    def reports(self) -> list[StepReport | InvocationReport]:
        return [m for m in self.messages() if not isinstance(m, OutputChunk)]

    def chunks(self) -> list[tuple[str, OutputStreamKind, int, bytes]]:
        return [(m.step_name, m.stream, m.seq, m.data) for m in self.messages() if isinstance(m, OutputChunk)]


def command(cid: str, *steps: Step) -> VerifiedCommand:
    doc = Document(tuple(steps))
    return VerifiedCommand(Envelope(cid, NODE, doc.sha256(), 0, 2**62, "ed25519:test"), doc)


async def _replay(outbox: Outbox) -> list[pb.AgentMessage]:
    gen = outbox.stream(HELLO)
    assert await anext(gen) == HELLO
    outbox.transient(END)
    got = []
    while (msg := await asyncio.wait_for(anext(gen), 1)) != END:
        got.append(msg)
    await gen.aclose()
    return got


def _parse(msg: pb.AgentMessage) -> Any:
    kind = msg.WhichOneof("body")
    if kind == "output":
        return wire.chunk_from_pb(msg.output)
    if kind == "step_result":
        return wire.step_from_pb(msg.step_result)
    if kind == "invocation_result":
        return wire.invocation_from_pb(msg.invocation_result)
    raise AssertionError(f"unexpected message {kind}")


def ok(name: str, **kw: Any) -> Step:
    return Step(name, "outcome", {}, **kw)


def fail(name: str, code: int = 3, **kw: Any) -> Step:
    return Step(name, "outcome", {"status": "Failed", "exit_code": code, "error": f"exited with code {code}"}, **kw)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "work")


def summary(reports: list[StepReport | InvocationReport]) -> list[tuple[Any, ...]]:
    return [(r.step_index, r.step_name, r.status, r.exit_code, r.error) if isinstance(r, StepReport)
            else ("invocation", r.status, r.exit_code) for r in reports]


# ------------------------------------------------------------------------------- statuses and order

def test_a_successful_step(h: Harness) -> None:
    result = h.run(Step("only", "outcome", {"exit_code": 0}))
    reports = h.reports()
    assert summary(reports) == [(0, "only", Status.SUCCESS, 0, ""), ("invocation", Status.SUCCESS, 0)]
    step, inv = reports
    assert (step.command_id, step.action) == (CID, "outcome")
    assert step.started_at_ms <= step.ended_at_ms
    assert inv == result  # what was sent is what run() returned
    assert inv.steps == (step,)
    assert inv.command_id == CID and inv.started_at_ms <= step.started_at_ms <= inv.ended_at_ms


def test_steps_run_and_report_in_document_order(h: Harness) -> None:
    h.run(ok("zeta"), ok("alpha"), ok("mid"))
    assert h.rec.steps == ["zeta", "alpha", "mid"]
    assert summary(h.reports()) == [(0, "zeta", Status.SUCCESS, 0, ""), (1, "alpha", Status.SUCCESS, 0, ""),
                                    (2, "mid", Status.SUCCESS, 0, ""), ("invocation", Status.SUCCESS, 0)]
    assert [c.step_index for c in h.rec.contexts] == [0, 1, 2]


def test_an_empty_document_succeeds(h: Harness) -> None:
    result = h.run()
    assert summary(h.reports()) == [("invocation", Status.SUCCESS, 0)]
    assert result.steps == ()


def test_a_failed_step_stops_the_document(h: Harness) -> None:
    result = h.run(ok("first"), fail("second", 3), ok("third"))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Status.SUCCESS, 0, ""),
                                    (1, "second", Status.FAILED, 3, "exited with code 3"),
                                    ("invocation", Status.FAILED, 3)]
    assert result.status is Status.FAILED and result.exit_code == 3


def test_ignore_errors_goes_on_after_a_failure(h: Harness) -> None:
    result = h.run(fail("first", 4, ignore_errors=True), Step("second", "outcome", {"exit_code": 0}))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Status.FAILED, 4, "exited with code 4"),
                                    (1, "second", Status.SUCCESS, 0, ""), ("invocation", Status.SUCCESS, 0)]
    assert result.status is Status.SUCCESS


def test_ignore_errors_on_another_step_does_not_cover_a_failure(h: Harness) -> None:
    h.run(ok("first", ignore_errors=True), fail("second", 1), ok("third", ignore_errors=True))
    assert h.rec.steps == ["first", "second"]
    assert h.reports()[-1].status is Status.FAILED


def test_a_crashing_plugin_fails_its_step_and_the_agent_survives(h: Harness) -> None:
    result = h.run(Step("boom", "crash", {}), ok("after"))
    assert h.rec.steps == ["boom"]
    (step, inv) = h.reports()
    assert (step.status, step.exit_code) == (Status.FAILED, NO_EXIT_CODE)
    assert "crashed" in step.error and "boom" in step.error and "RuntimeError" in step.error
    assert (inv.status, inv.exit_code) == (Status.FAILED, NO_EXIT_CODE) and result == inv
    # the same runner goes on running commands
    h2 = h.runner()
    again = asyncio.run(h2.run(command("cmd-0002", ok("fine")), lambda: False))
    assert again.status is Status.SUCCESS


def test_a_crash_with_ignore_errors_goes_on(h: Harness) -> None:
    h.run(Step("boom", "crash", {}, ignore_errors=True), ok("after"))
    assert h.rec.steps == ["boom", "after"]
    assert [r.status for r in h.reports()] == [Status.FAILED, Status.SUCCESS, Status.SUCCESS]


def test_an_outpost_error_from_a_plugin_fails_its_step_with_its_message(h: Harness) -> None:
    h.run(Step("here", "crash", {"kind": "outpost"}))
    step = h.reports()[0]
    assert (step.status, step.exit_code, step.error) == (Status.FAILED, NO_EXIT_CODE, "not usable here")


def test_invalid_inputs_fail_the_step_with_the_input_error(h: Harness) -> None:
    h.run(ok("fine"), Step("bad", "outcome", {"exit_code": "3"}), ok("never"))
    assert h.rec.steps == ["fine"]  # the plugin never ran for the bad step
    assert summary(h.reports()) == [
        (0, "fine", Status.SUCCESS, 0, ""),
        (1, "bad", Status.FAILED, NO_EXIT_CODE, "mainSteps[1].inputs.exit_code: expected an integer, got a string"),
        ("invocation", Status.FAILED, NO_EXIT_CODE)]


def test_an_unknown_parameter_fails_the_step(h: Harness) -> None:
    h.run(Step("bad", "outcome", {"exitcode": 1}))
    assert h.reports()[0].error == ("mainSteps[0].inputs.exitcode: unsupported parameter "
                                    "(supported: error, exit_code, status)")


def test_an_unknown_action_fails_the_step(h: Harness) -> None:
    h.run(Step("what", "nope", {}))
    step = h.reports()[0]
    assert step.status is Status.FAILED and step.action == "nope"
    assert step.error == "mainSteps[0].inputs: unknown action 'nope' (known: crash, outcome, sleep, write)"


def test_the_invocation_exit_code_is_the_failing_steps_or_zero(h: Harness) -> None:
    result = h.run(fail("a", 2, ignore_errors=True), fail("b", 5, ignore_errors=True))
    assert (result.status, result.exit_code) == (Status.SUCCESS, 0)
    result = h.run(fail("c", 2, ignore_errors=True), fail("d", 5), ok("e"))
    assert (result.status, result.exit_code) == (Status.FAILED, 5)


# ------------------------------------------------------------------------------------ timeouts

def test_a_step_past_its_timeout_is_timed_out(h: Harness) -> None:
    # the step's own timeoutSeconds (1 s) wins over the plugin's timeout_seconds input (0.05 s)
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, timeout_seconds=1), ok("never"))
    step, inv = h.reports()
    assert (step.status, step.exit_code, step.error) == (Status.TIMED_OUT, NO_EXIT_CODE,
                                                        "step exceeded its timeout of 1 s")
    assert 900 <= step.ended_at_ms - step.started_at_ms < 5000
    assert (inv.status, inv.exit_code) == (Status.TIMED_OUT, NO_EXIT_CODE) and result == inv
    assert h.rec.stopped_by_cancel  # the plugin was stopped, not left running
    assert h.rec.steps == ["slow"]


def test_the_plugins_timeout_input_applies_when_the_step_has_none(h: Harness) -> None:
    h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}))
    step = h.reports()[0]
    assert (step.status, step.error) == (Status.TIMED_OUT, "step exceeded its timeout of 0.05 s")


def test_the_default_timeout_applies_last(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(default_timeout_seconds=0.05))  # type: ignore[arg-type]
    h.run(Step("slow", "sleep", {"seconds": 30}), Step("never", "sleep", {"seconds": 0}))
    assert summary(h.reports()) == [(0, "slow", Status.TIMED_OUT, NO_EXIT_CODE, "step exceeded its timeout of 0.05 s"),
                                    ("invocation", Status.TIMED_OUT, NO_EXIT_CODE)]


def test_ignore_errors_does_not_ignore_a_timeout(h: Harness) -> None:
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, ignore_errors=True), ok("never"))
    assert h.rec.steps == ["slow"]
    assert (result.status, [r.status for r in result.steps]) == (Status.TIMED_OUT, [Status.TIMED_OUT])


def test_a_step_within_its_timeout_succeeds(h: Harness) -> None:
    h.run(Step("quick", "sleep", {"seconds": 0.01}, timeout_seconds=5))
    assert [r.status for r in h.reports()] == [Status.SUCCESS, Status.SUCCESS]


# -------------------------------------------------------------------------------- cancellation

def _cancel_midway(h: Harness, cancel_requested: bool, ignore_errors: bool = False) -> tuple[Any, Path]:
    async def scenario() -> Any:
        h.rec.started = asyncio.Event()
        slow = Step("slow", "sleep", {"seconds": 30}, ignore_errors=ignore_errors)
        task = asyncio.create_task(h.runner().run(command(CID, ok("first"), slow, ok("never")),
                                                  lambda: cancel_requested))
        await asyncio.wait_for(h.rec.started.wait(), 5)
        assert (h.work_root / CID).is_dir()
        task.cancel()
        try:
            return await asyncio.wait_for(task, 5)
        except asyncio.CancelledError:
            return "propagated"

    return asyncio.run(scenario()), h.work_root / CID


def test_an_operator_cancel_ends_as_cancelled(h: Harness) -> None:
    result, workdir = _cancel_midway(h, cancel_requested=True)
    assert isinstance(result, InvocationReport)
    assert summary(h.reports()) == [(0, "first", Status.SUCCESS, 0, ""),
                                    (1, "slow", Status.CANCELLED, NO_EXIT_CODE, "cancelled by the operator"),
                                    ("invocation", Status.CANCELLED, NO_EXIT_CODE)]
    assert h.rec.steps == ["first", "slow"] and h.rec.stopped_by_cancel
    assert not workdir.exists()


def test_ignore_errors_does_not_ignore_a_cancel(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True, ignore_errors=True)
    assert h.rec.steps == ["first", "slow"]
    assert result.status is Status.CANCELLED


def test_any_other_cancel_propagates_without_a_result(h: Harness) -> None:
    result, workdir = _cancel_midway(h, cancel_requested=False)
    assert result == "propagated"
    assert summary(h.reports()) == [(0, "first", Status.SUCCESS, 0, "")]  # no result for the cut-off step
    assert h.rec.stopped_by_cancel
    assert not workdir.exists()


# -------------------------------------------------------------------------------------- output

def test_output_chunks_are_numbered_per_stream_from_zero(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["a", "b", "c"], "stderr": ["x", "y"]}),
          Step("two", "write", {"stdout": ["d"], "stderr": ["z"]}))
    assert h.chunks() == [("one", OUT, 0, b"a"), ("one", OUT, 1, b"b"), ("one", OUT, 2, b"c"),
                          ("one", ERR, 0, b"x"), ("one", ERR, 1, b"y"),
                          ("two", OUT, 0, b"d"), ("two", ERR, 0, b"z")]
    kinds = [type(m).__name__ for m in h.messages()]
    # each step's chunks come before its result, the invocation's result last
    assert kinds == ["OutputChunk"] * 5 + ["StepReport"] + ["OutputChunk"] * 2 + ["StepReport", "InvocationReport"]
    assert all(m.command_id == CID for m in h.messages())


def test_empty_writes_send_nothing_and_take_no_number(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["", "a", "", "b"]}))
    assert h.chunks() == [("one", OUT, 0, b"a"), ("one", OUT, 1, b"b")]


def test_output_over_the_cap_is_truncated_with_a_marker(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=10))
    h.run(Step("one", "write", {"stdout": ["12345678", "abcdef", "more", "and more"], "stderr": ["0123456789AB"]}),
          Step("two", "write", {"stdout": ["0123456789"]}))
    assert TRUNCATED_MARKER == b"\n--output truncated--\n"
    assert h.chunks() == [("one", OUT, 0, b"12345678"), ("one", OUT, 1, b"ab" + TRUNCATED_MARKER),
                          ("one", ERR, 0, b"0123456789" + TRUNCATED_MARKER),
                          ("two", OUT, 0, b"0123456789")]  # each step has its own cap; exactly the cap fits
    assert [r.status for r in h.reports()] == [Status.SUCCESS] * 3  # truncation does not fail the step


def test_output_after_exactly_reaching_the_cap_is_marked_truncated(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=4))
    h.run(Step("one", "write", {"stdout": ["abcd", "efgh"]}))
    data = b"".join(d for _, _, _, d in h.chunks())
    assert data == b"abcd" + TRUNCATED_MARKER


# ----------------------------------------------------------------------------- context and workdir

def test_the_run_context(h: Harness) -> None:
    h.run(ok("first"), ok("second"))
    ctx = h.rec.contexts[1]
    assert (ctx.command_id, ctx.node_id, ctx.step_name, ctx.step_index, ctx.check_mode) == (
        CID, NODE, "second", 1, False)
    assert ctx.cancel_grace_seconds == 0.5
    assert Path(ctx.workdir) == h.work_root / CID
    assert ctx.environment["OUTPOST_COMMAND_ID"] == CID
    assert ctx.environment["OUTPOST_NODE_ID"] == NODE
    assert ctx.environment["OUTPOST_STEP_NAME"] == "second"
    assert ctx.environment.get("PATH") == os.environ.get("PATH")


@pytest.mark.parametrize("steps", [
    (ok("a"), ok("b")),
    (fail("a"),),
    (Step("a", "crash", {}),),
    (Step("a", "sleep", {"seconds": 30, "timeout_seconds": 0.05}),),
], ids=["success", "failure", "crash", "timeout"])
def test_the_workdir_exists_during_the_run_and_is_removed_after(h: Harness, steps: tuple[Step, ...]) -> None:
    h.run(*steps)
    assert h.rec.workdir_existed and all(h.rec.workdir_existed)
    assert not (h.work_root / CID).exists()
    assert h.work_root.is_dir()  # only the command's own directory goes


def test_two_commands_have_separate_workdirs_and_reports(h: Harness) -> None:
    async def both() -> tuple[InvocationReport, InvocationReport]:
        runner = h.runner()
        return await asyncio.gather(runner.run(command("cmd-a", ok("x")), lambda: False),
                                    runner.run(command("cmd-b", fail("y", 9)), lambda: False))

    a, b = asyncio.run(both())
    assert (a.command_id, a.status, b.command_id, b.status, b.exit_code) == (
        "cmd-a", Status.SUCCESS, "cmd-b", Status.FAILED, 9)
    assert sorted(Path(c.workdir).name for c in h.rec.contexts) == ["cmd-a", "cmd-b"]
    assert h.outbox.unacknowledged() == {"cmd-a", "cmd-b"}
