"""agent.runner: details, reports and output of a document run with small fake plugins.

Every assertion on reports reads them back from the outbox (what the controller would get),
parsed with plugins.sdk.wire. The step-by-step flow rules themselves are tabled in test_flow.py;
here they are checked end to end, through real reports.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.outbox import Outbox
from agent.runner import TRUNCATED_MARKER, NotRecorded, Runner, RunnerOptions, remove_workdir
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk import wire
from plugins.sdk.contract import API_VERSION, OutputStreamKind, PluginSpec, RunContext, StepOutcome
from plugins.sdk.document import Document, OnFailure, Precondition, Step
from plugins.sdk.envelope import Envelope, VerifiedCommand
from plugins.sdk.errors import PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.registry import PluginRegistry
from plugins.sdk.results import NO_EXIT_CODE, InvocationReport, OutputChunk, StepReport
from plugins.sdk.schema import param
from plugins.sdk.secrets import MASK
from plugins.sdk.status import Detail, Status

NODE = "node-7"
CID = "cmd-0001"
HELLO = pb.AgentMessage(hello=pb.Hello())
END = pb.AgentMessage(heartbeat=pb.Heartbeat(sent_at_ms=-1))
OUT, ERR = OutputStreamKind.STDOUT, OutputStreamKind.STDERR
NOT_RUN = "not run: an earlier step ended the document"
EXIT, SUCCESS_AND_EXIT, CONTINUE = OnFailure.EXIT, OnFailure.SUCCESS_AND_EXIT, OnFailure.CONTINUE


def _spec(name: str, inputs: type, platforms: frozenset[Platform] = frozenset({Platform.LINUX})) -> PluginSpec:
    return PluginSpec(name=name, version="1.0", api=API_VERSION, summary=name, inputs=inputs,
                      platforms=platforms, cancel_grace_seconds=0.5)


@dataclass(frozen=True)
class OutcomeInputs:
    detail: str = param("Detail to return.", default="Success", choices=tuple(d.value for d in Detail))
    exit_code: int = param("Exit code to return.", default=0)
    error: str = param("Error to return.", default="")


@dataclass(frozen=True)
class ExitInputs:
    code: int = param("The exit code of a pretend process.", default=0)


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
        return StepOutcome(Detail(inputs.detail), inputs.exit_code, inputs.error)


class ExitPlugin:
    """Says what a process exiting with ``code`` would (StepOutcome.from_exit_code, as the shell plugin)."""
    spec: ClassVar[PluginSpec] = _spec("exit", ExitInputs)

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: ExitInputs) -> StepOutcome:
        self.rec.saw(ctx)
        return StepOutcome.from_exit_code(inputs.code)


class NoFilesPlugin:
    """Declares that it needs no scratch directory."""
    spec: ClassVar[PluginSpec] = dataclasses.replace(_spec("no-files", OutcomeInputs), needs_workdir=False)

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: OutcomeInputs) -> StepOutcome:
        self.rec.contexts.append(ctx)
        self.rec.workdir_existed.append(Path(ctx.workdir).exists())
        return StepOutcome(Detail(inputs.detail), inputs.exit_code, inputs.error)


class WindowsOnlyPlugin:
    spec: ClassVar[PluginSpec] = _spec("windows-only", OutcomeInputs, frozenset({Platform.WINDOWS}))

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def run(self, ctx: RunContext, inputs: OutcomeInputs) -> StepOutcome:
        self.rec.saw(ctx)
        return StepOutcome(Detail(inputs.detail), inputs.exit_code, inputs.error)


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
        return StepOutcome(Detail.SUCCESS)


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
        return StepOutcome(Detail.SUCCESS)


@dataclass
class Harness:
    work_root: Path
    options: RunnerOptions = field(default_factory=RunnerOptions)
    platform: Platform = Platform.LINUX
    rec: Recorder = field(default_factory=Recorder)
    outbox: Outbox = field(default_factory=Outbox)

    def runner(self) -> Runner:
        registry = PluginRegistry([OutcomePlugin(self.rec), ExitPlugin(self.rec), CrashPlugin(self.rec),
                                   SleepPlugin(self.rec), WritePlugin(self.rec), WindowsOnlyPlugin(self.rec),
                                   NoFilesPlugin(self.rec)])
        return Runner(registry, NODE, self.platform, self.work_root, self.outbox, self.options)

    def run(self, *steps: Step, cid: str = CID, **doc: Any) -> InvocationReport:
        return asyncio.run(asyncio.wait_for(self.runner().run(command(cid, *steps, **doc), lambda: False), 10))

    def messages(self) -> list[Any]:
        """The outbox's replay, parsed: OutputChunk, StepReport and InvocationReport, in order."""
        return [_parse(m) for m in asyncio.run(_replay(self.outbox))]

    def reports(self) -> list[StepReport | InvocationReport]:
        """Every step's report as the controller learns it, then the invocation's: steps come as they
        finish, except the last one, which travels in the invocation's result only."""
        out: list[StepReport | InvocationReport] = []
        for m in self.messages():
            if isinstance(m, InvocationReport):
                sent = {r.step_index for r in out if isinstance(r, StepReport)}
                assert len(m.steps) - len(sent) <= 1, "only the last step travels in the result alone"
                out += [st for st in m.steps if st.step_index not in sent]
            if not isinstance(m, OutputChunk):
                out.append(m)
        return out

    def chunks(self) -> list[tuple[str, OutputStreamKind, int, bytes]]:
        return [(m.step_name, m.stream, m.seq, m.data) for m in self.messages() if isinstance(m, OutputChunk)]

    def joined(self) -> dict[tuple[str, OutputStreamKind], bytes]:
        out: dict[tuple[str, OutputStreamKind], bytes] = {}
        for step, stream, _, data in self.chunks():
            out[(step, stream)] = out.get((step, stream), b"") + data
        return out


def command(cid: str, *steps: Step, environment: dict[str, str] | None = None,
            secret_names: tuple[str, ...] = ()) -> VerifiedCommand:
    doc = Document(tuple(steps), environment=environment or {}, secret_names=secret_names)
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
    return Step(name, "outcome", {"detail": "Failed", "exit_code": code, "error": f"exited with code {code}"}, **kw)


def exits(name: str, code: int, **kw: Any) -> Step:
    return Step(name, "exit", {"code": code}, **kw)


def only_on(platform: str, name: str, **kw: Any) -> Step:
    return ok(name, precondition=Precondition("platformType", platform), **kw)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "work")


def summary(reports: list[StepReport | InvocationReport]) -> list[tuple[Any, ...]]:
    return [(r.step_index, r.step_name, r.detail, r.exit_code, r.error) if isinstance(r, StepReport)
            else ("invocation", r.detail, r.exit_code) for r in reports]


def not_run(index: int, name: str) -> tuple[Any, ...]:
    return (index, name, Detail.SKIPPED, NO_EXIT_CODE, NOT_RUN)


# ------------------------------------------------------------------------------- details and order

def test_a_successful_step(h: Harness) -> None:
    result = h.run(Step("only", "outcome", {"exit_code": 0}))
    reports = h.reports()
    assert summary(reports) == [(0, "only", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    step, inv = reports
    assert (step.command_id, step.action) == (CID, "outcome")
    assert step.started_at_ms <= step.ended_at_ms
    assert inv == result  # what was sent is what run() returned
    assert inv.steps == (step,)
    assert inv.command_id == CID and inv.started_at_ms <= step.started_at_ms <= inv.ended_at_ms
    assert inv.error == "" and inv.detail.status is Status.SUCCESS


def test_steps_run_and_report_in_document_order(h: Harness) -> None:
    h.run(ok("zeta"), ok("alpha"), ok("mid"))
    assert h.rec.steps == ["zeta", "alpha", "mid"]
    assert summary(h.reports()) == [(0, "zeta", Detail.SUCCESS, 0, ""), (1, "alpha", Detail.SUCCESS, 0, ""),
                                    (2, "mid", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert [c.step_index for c in h.rec.contexts] == [0, 1, 2]


def test_an_empty_document_runs_nothing_and_is_invalid_platform(h: Harness) -> None:
    # No step ran (the document parsers refuse an empty mainSteps; a hand-made envelope may not).
    result = h.run()
    assert [(r.detail, r.steps) for r in h.reports()] == [(Detail.INVALID_PLATFORM, ())]
    assert result.steps == () and result.detail is Detail.INVALID_PLATFORM
    assert h.rec.steps == []


def test_a_failed_step_with_on_failure_exit_stops_the_document(h: Harness) -> None:
    result = h.run(ok("first"), fail("second", 3, on_failure=EXIT), ok("third"))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 3, "exited with code 3"),
                                    not_run(2, "third"),
                                    ("invocation", Detail.FAILED, 3)]
    assert result.detail is Detail.FAILED and result.exit_code == 3
    assert result.steps == tuple(h.reports()[:-1])  # skipped steps are in the invocation's report too


@pytest.mark.parametrize("kw", [{}, {"on_failure": CONTINUE}], ids=["default", "explicit"])
def test_a_failed_step_continues_by_default_and_the_invocation_still_fails(h: Harness, kw: dict[str, Any]) -> None:
    assert Step("x", "outcome", {}).on_failure is CONTINUE  # SSM's default
    result = h.run(ok("first"), fail("second", 3, **kw), ok("third"))
    assert h.rec.steps == ["first", "second", "third"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 3, "exited with code 3"),
                                    (2, "third", Detail.SUCCESS, 0, ""),
                                    ("invocation", Detail.FAILED, 3)]
    assert result.detail.status is Status.FAILED


def test_success_and_exit_skips_the_rest_and_succeeds(h: Harness) -> None:
    result = h.run(ok("first"), fail("second", 3, on_failure=SUCCESS_AND_EXIT), ok("third"))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 3, "exited with code 3"),  # the step failed
                                    not_run(2, "third"),
                                    ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_success_and_exit_on_a_step_that_succeeds_goes_on(h: Harness) -> None:
    h.run(ok("first", on_failure=SUCCESS_AND_EXIT), ok("second"))
    assert h.rec.steps == ["first", "second"]


def test_on_success_exit_skips_the_rest_after_a_success(h: Harness) -> None:
    result = h.run(ok("first", on_success_exit=True), ok("second"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""), not_run(1, "second"),
                                    (2, "cleanup", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_on_success_exit_does_not_exit_after_a_failure(h: Harness) -> None:
    result = h.run(fail("first", 2, on_success_exit=True), ok("second"))
    assert h.rec.steps == ["first", "second"]
    assert (result.detail, result.exit_code) == (Detail.FAILED, 2)


def test_exit_code_168_succeeds_and_stops_but_the_finally_step_runs(h: Harness) -> None:
    result = h.run(exits("first", 168), ok("second"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports())[1:] == [not_run(1, "second"), (2, "cleanup", Detail.SUCCESS, 0, ""),
                                        ("invocation", Detail.SUCCESS, 0)]
    first = h.reports()[0]
    assert (first.step_name, first.detail, first.exit_code) == ("first", Detail.SUCCESS, 168)
    assert (result.detail, result.exit_code) == (Detail.SUCCESS, 0)


@pytest.mark.parametrize("kw", [{}, {"on_failure": CONTINUE}, {"ignore_errors": True}],
                         ids=["default", "continue", "ignore_errors"])
def test_exit_code_169_fails_and_stops_but_the_finally_step_runs(h: Harness, kw: dict[str, Any]) -> None:
    result = h.run(ok("first"), exits("second", 169, **kw), ok("third"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "second", "cleanup"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 169, "exited with code 169"),
                                    not_run(2, "third"),
                                    (3, "cleanup", Detail.SUCCESS, 0, ""),
                                    ("invocation", Detail.FAILED, 169)]
    assert (result.detail, result.exit_code) == (Detail.FAILED, 169)


def test_exit_code_169_is_failed_even_if_the_plugin_says_success(h: Harness) -> None:
    h.run(Step("odd", "outcome", {"detail": "Success", "exit_code": 169}), ok("never"))
    assert summary(h.reports()) == [(0, "odd", Detail.FAILED, 169, ""), not_run(1, "never"),
                                    ("invocation", Detail.FAILED, 169)]


def test_the_finally_step_runs_after_an_exit_on_failure(h: Harness) -> None:
    result = h.run(fail("first", 4, on_failure=EXIT), ok("second"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports()) == [(0, "first", Detail.FAILED, 4, "exited with code 4"), not_run(1, "second"),
                                    (2, "cleanup", Detail.SUCCESS, 0, ""), ("invocation", Detail.FAILED, 4)]
    assert result.exit_code == 4


def test_a_failing_finally_step_fails_the_invocation(h: Harness) -> None:
    result = h.run(ok("first"), fail("cleanup", 7, finally_step=True))
    assert (result.detail, result.exit_code) == (Detail.FAILED, 7)
    # after an earlier failure, the invocation keeps that failure's exit code
    result = h.run(fail("first", 4, on_failure=EXIT), fail("cleanup", 7, finally_step=True), cid="cmd-0002")
    assert (result.detail, result.exit_code) == (Detail.FAILED, 4)
    assert [r.detail for r in result.steps] == [Detail.FAILED, Detail.FAILED]


def test_ignore_errors_goes_on_after_a_failure(h: Harness) -> None:
    result = h.run(fail("first", 4, ignore_errors=True), Step("second", "outcome", {"exit_code": 0}))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Detail.FAILED, 4, "exited with code 4"),
                                    (1, "second", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_ignore_errors_goes_on_even_with_on_failure_exit(h: Harness) -> None:
    # a playbook task: on_failure EXIT, and ignore_errors keeps Ansible's meaning
    result = h.run(fail("first", 4, ignore_errors=True, on_failure=EXIT), ok("second"))
    assert h.rec.steps == ["first", "second"]
    assert (result.detail, result.exit_code) == (Detail.SUCCESS, 0)


def test_ignore_errors_on_another_step_does_not_cover_a_failure(h: Harness) -> None:
    h.run(ok("first", ignore_errors=True), fail("second", 1, on_failure=EXIT), ok("third", ignore_errors=True))
    assert h.rec.steps == ["first", "second"]
    assert h.reports()[-1].detail is Detail.FAILED


def test_a_crashing_plugin_fails_its_step_and_the_agent_survives(h: Harness) -> None:
    result = h.run(Step("boom", "crash", {}, on_failure=EXIT), ok("after"))
    assert h.rec.steps == ["boom"]
    (step, skipped, inv) = h.reports()
    assert (step.detail, step.exit_code) == (Detail.FAILED, NO_EXIT_CODE)
    assert "crashed" in step.error and "boom" in step.error and "RuntimeError" in step.error
    assert skipped.detail is Detail.SKIPPED
    assert (inv.detail, inv.exit_code) == (Detail.FAILED, NO_EXIT_CODE) and result == inv
    # the same runner goes on running commands
    h2 = h.runner()
    again = asyncio.run(h2.run(command("cmd-0002", ok("fine")), lambda: False))
    assert again.detail is Detail.SUCCESS


def test_a_crash_with_ignore_errors_goes_on(h: Harness) -> None:
    h.run(Step("boom", "crash", {}, ignore_errors=True, on_failure=EXIT), ok("after"))
    assert h.rec.steps == ["boom", "after"]
    assert [r.detail for r in h.reports()] == [Detail.FAILED, Detail.SUCCESS, Detail.SUCCESS]


def test_an_outpost_error_from_a_plugin_fails_its_step_with_its_message(h: Harness) -> None:
    h.run(Step("here", "crash", {"kind": "outpost"}))
    step = h.reports()[0]
    assert (step.detail, step.exit_code, step.error) == (Detail.FAILED, NO_EXIT_CODE, "not usable here")


def test_invalid_inputs_fail_the_step_with_the_input_error(h: Harness) -> None:
    h.run(ok("fine"), Step("bad", "outcome", {"exit_code": "three"}, on_failure=EXIT), ok("never"))
    assert h.rec.steps == ["fine"]  # the plugin never ran for the bad step
    assert summary(h.reports()) == [
        (0, "fine", Detail.SUCCESS, 0, ""),
        (1, "bad", Detail.FAILED, NO_EXIT_CODE, "mainSteps[1].inputs.exit_code: expected an integer, got a string"),
        not_run(2, "never"),
        ("invocation", Detail.FAILED, NO_EXIT_CODE)]


def test_an_unknown_parameter_fails_the_step(h: Harness) -> None:
    h.run(Step("bad", "outcome", {"exitcode": 1}))
    assert h.reports()[0].error == ("mainSteps[0].inputs.exitcode: unsupported parameter "
                                    "(supported: detail, error, exit_code)")


def test_an_unknown_action_fails_the_step(h: Harness) -> None:
    h.run(Step("what", "nope", {}))
    step = h.reports()[0]
    assert step.detail is Detail.FAILED and step.action == "nope"
    assert step.error == ("mainSteps[0].inputs: unknown action 'nope' "
                          "(known: crash, exit, no-files, outcome, sleep, windows-only, write)")
    assert h.reports()[-1].detail is Detail.FAILED  # failed, not skipped: the node lacks the action


def test_the_invocation_exit_code_is_the_failing_steps_or_zero(h: Harness) -> None:
    result = h.run(fail("a", 2, ignore_errors=True), fail("b", 5, ignore_errors=True))
    assert (result.detail, result.exit_code) == (Detail.SUCCESS, 0)
    result = h.run(fail("c", 2, ignore_errors=True), fail("d", 5, on_failure=EXIT), ok("e"))
    assert (result.detail, result.exit_code) == (Detail.FAILED, 5)
    result = h.run(fail("f", 5), fail("g", 6), ok("h"))  # the first failure's
    assert (result.detail, result.exit_code) == (Detail.FAILED, 5)


# ------------------------------------------------------------------------- preconditions, platforms

def test_a_false_precondition_skips_the_step(h: Harness) -> None:
    result = h.run(ok("first"), only_on("Windows", "windows"), only_on("MacOS", "mac"), ok("last"))
    assert h.rec.steps == ["first", "last"]
    assert summary(h.reports()) == [
        (0, "first", Detail.SUCCESS, 0, ""),
        (1, "windows", Detail.SKIPPED, NO_EXIT_CODE, "precondition StringEquals [platformType, Windows] is false here"),
        (2, "mac", Detail.SKIPPED, NO_EXIT_CODE, "precondition StringEquals [platformType, MacOS] is false here"),
        (3, "last", Detail.SUCCESS, 0, ""),
        ("invocation", Detail.SUCCESS, 0)]
    assert Detail.SKIPPED.status is Status.SUCCESS
    assert result.detail is Detail.SUCCESS


def test_a_true_precondition_runs_the_step_either_way_round(h: Harness) -> None:
    h.run(only_on("Linux", "a"), ok("b", precondition=Precondition("Linux", "platformType")))
    assert h.rec.steps == ["a", "b"]
    assert [r.detail for r in h.reports()] == [Detail.SUCCESS] * 3


def test_preconditions_follow_the_nodes_platform(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", platform=Platform.MACOS)
    h.run(only_on("Linux", "linux"), only_on("MacOS", "mac"))
    assert h.rec.steps == ["mac"]
    assert [r.detail for r in h.reports()] == [Detail.SKIPPED, Detail.SUCCESS, Detail.SUCCESS]


def test_when_every_step_is_skipped_the_invocation_is_invalid_platform(h: Harness) -> None:
    result = h.run(only_on("Windows", "a"), Step("b", "windows-only", {}), only_on("MacOS", "c"))
    assert h.rec.steps == []
    assert [(r.detail, r.exit_code) for r in result.steps] == [(Detail.SKIPPED, NO_EXIT_CODE)] * 3
    assert result.detail is Detail.INVALID_PLATFORM
    assert result.detail.status is Status.FAILED
    assert h.reports()[-1] == result


def test_an_action_not_supported_on_the_platform_is_skipped(h: Harness) -> None:
    # not even its inputs are checked: it does not apply here
    result = h.run(Step("win", "windows-only", {"bogus": 1}), ok("linux"))
    assert h.rec.steps == ["linux"]
    assert summary(h.reports()) == [(0, "win", Detail.SKIPPED, NO_EXIT_CODE, "windows-only does not run on Linux"),
                                    (1, "linux", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_an_action_runs_on_a_platform_it_supports(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", platform=Platform.WINDOWS)
    result = h.run(Step("win", "windows-only", {}), ok("linux"))
    assert h.rec.steps == ["win"]
    assert [r.detail for r in result.steps] == [Detail.SUCCESS, Detail.SKIPPED]
    assert result.steps[1].error == "outcome does not run on Windows"
    assert result.detail is Detail.SUCCESS


def test_a_skipped_step_after_an_exit_is_reported_not_run(h: Harness) -> None:
    h.run(fail("first", on_failure=EXIT), only_on("Windows", "windows"), only_on("Linux", "cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports())[1:] == [not_run(1, "windows"), (2, "cleanup", Detail.SUCCESS, 0, ""),
                                        ("invocation", Detail.FAILED, 3)]


# ------------------------------------------------------------------------------------ timeouts

def test_a_step_past_its_timeout_is_timed_out(h: Harness) -> None:
    # the step's own timeoutSeconds (1 s) wins over the plugin's timeout_seconds input (0.05 s)
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, timeout_seconds=1,
                        on_failure=EXIT), ok("never"))
    step, skipped, inv = h.reports()
    assert (step.detail, step.exit_code, step.error) == (Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE,
                                                        "step exceeded its timeout of 1 s")
    assert step.detail.status is Status.TIMED_OUT
    assert 900 <= step.ended_at_ms - step.started_at_ms < 5000
    assert summary([skipped]) == [not_run(1, "never")]
    assert (inv.detail, inv.exit_code) == (Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE) and result == inv
    assert h.rec.stopped_by_cancel  # the plugin was stopped, not left running
    assert h.rec.steps == ["slow"]


def test_a_timed_out_step_continues_by_default_and_the_invocation_is_timed_out(h: Harness) -> None:
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}), ok("next"))
    assert h.rec.steps == ["slow", "next"]
    assert [r.detail for r in result.steps] == [Detail.EXECUTION_TIMED_OUT, Detail.SUCCESS]
    assert (result.detail, result.exit_code) == (Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE)


def test_the_plugins_timeout_input_applies_when_the_step_has_none(h: Harness) -> None:
    h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}))
    step = h.reports()[0]
    assert (step.detail, step.error) == (Detail.EXECUTION_TIMED_OUT, "step exceeded its timeout of 0.05 s")


def test_the_default_timeout_applies_last(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(default_timeout_seconds=0.05))  # type: ignore[arg-type]
    h.run(Step("slow", "sleep", {"seconds": 30}, on_failure=EXIT), Step("never", "sleep", {"seconds": 0}))
    assert summary(h.reports()) == [
        (0, "slow", Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE, "step exceeded its timeout of 0.05 s"),
        not_run(1, "never"),
        ("invocation", Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE)]


def test_ignore_errors_does_not_ignore_a_timeout(h: Harness) -> None:
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, ignore_errors=True,
                        on_failure=EXIT), ok("never"))
    assert h.rec.steps == ["slow"]
    assert (result.detail, [r.detail for r in result.steps]) == (Detail.EXECUTION_TIMED_OUT,
                                                                 [Detail.EXECUTION_TIMED_OUT, Detail.SKIPPED])
    # with the default CONTINUE the next step runs, and the invocation is still timed out
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, ignore_errors=True),
                   ok("next"), cid="cmd-0002")
    assert (result.detail, [r.detail for r in result.steps]) == (Detail.EXECUTION_TIMED_OUT,
                                                                 [Detail.EXECUTION_TIMED_OUT, Detail.SUCCESS])


def test_a_step_within_its_timeout_succeeds(h: Harness) -> None:
    h.run(Step("quick", "sleep", {"seconds": 0.01}, timeout_seconds=5))
    assert [r.detail for r in h.reports()] == [Detail.SUCCESS, Detail.SUCCESS]


# -------------------------------------------------------------------------------- cancellation

def _cancel_midway(h: Harness, cancel_requested: bool, ignore_errors: bool = False,
                   after: tuple[Step, ...] = (ok("never"),)) -> tuple[Any, Path]:
    async def scenario() -> Any:
        h.rec.started = asyncio.Event()
        slow = Step("slow", "sleep", {"seconds": 30}, ignore_errors=ignore_errors)
        task = asyncio.create_task(h.runner().run(command(CID, ok("first"), slow, *after),
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
    assert summary(h.reports())[:-1] == [(0, "first", Detail.SUCCESS, 0, ""),
                                         (1, "slow", Detail.CANCELLED, NO_EXIT_CODE, "cancelled by the operator"),
                                         not_run(2, "never")]
    assert h.reports()[-1].detail is Detail.CANCELLED and result == h.reports()[-1]
    assert h.rec.steps == ["first", "slow"] and h.rec.stopped_by_cancel
    assert not workdir.exists()


def test_a_cancelled_invocation_has_no_exit_code(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True)
    assert summary(h.reports())[-1] == ("invocation", Detail.CANCELLED, NO_EXIT_CODE)
    assert result.exit_code == NO_EXIT_CODE


def test_a_cancel_does_not_run_the_finally_step(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True, after=(ok("never"), ok("cleanup", finally_step=True)))
    assert h.rec.steps == ["first", "slow"]
    assert summary(h.reports())[2:-1] == [not_run(2, "never"), not_run(3, "cleanup")]
    assert result.detail is Detail.CANCELLED


def test_ignore_errors_does_not_ignore_a_cancel(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True, ignore_errors=True)
    assert h.rec.steps == ["first", "slow"]
    assert result.detail is Detail.CANCELLED


def test_any_other_cancel_propagates_without_a_result(h: Harness) -> None:
    result, workdir = _cancel_midway(h, cancel_requested=False)
    assert result == "propagated"
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, "")]  # no result for the cut-off step
    assert h.rec.stopped_by_cancel
    assert not workdir.exists()


@pytest.mark.parametrize("detail", [Detail.CANCELLED, Detail.FAILED])
def test_report_not_started(h: Harness, detail: Detail) -> None:
    result = h.runner().report_not_started(command(CID, ok("a"), ok("b")), detail, "cancelled while queued")
    assert (result.command_id, result.detail, result.exit_code, result.steps, result.error) == (
        CID, detail, NO_EXIT_CODE, (), "cancelled while queued")
    assert 0 < result.started_at_ms == result.ended_at_ms
    assert h.reports() == [result]  # sent, and only that
    assert h.outbox.unacknowledged() == {CID}
    assert h.rec.steps == [] and not (h.work_root / CID).exists()


# -------------------------------------------------------------------------------------- output

def test_output_chunks_are_numbered_per_stream_from_zero(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["a", "b", "c"], "stderr": ["x", "y"]}),
          Step("two", "write", {"stdout": ["d"], "stderr": ["z"]}))
    assert h.chunks() == [("one", OUT, 0, b"a"), ("one", OUT, 1, b"b"), ("one", OUT, 2, b"c"),
                          ("one", ERR, 0, b"x"), ("one", ERR, 1, b"y"),
                          ("two", OUT, 0, b"d"), ("two", ERR, 0, b"z")]
    kinds = [type(m).__name__ for m in h.messages()]
    # each step's chunks come before its result, the invocation's result last, carrying the last step
    # (one message fewer per invocation: a fan-out's single-step documents send no step result at all)
    assert kinds == ["OutputChunk"] * 5 + ["StepReport"] + ["OutputChunk"] * 2 + ["InvocationReport"]
    assert [st.step_name for st in h.messages()[-1].steps] == ["one", "two"]
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
    assert [r.detail for r in h.reports()] == [Detail.SUCCESS] * 3  # truncation does not fail the step


def test_output_after_exactly_reaching_the_cap_is_marked_truncated(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=4))
    h.run(Step("one", "write", {"stdout": ["abcd", "efgh"]}))
    data = b"".join(d for _, _, _, d in h.chunks())
    assert data == b"abcd" + TRUNCATED_MARKER


def test_secret_values_are_scrubbed_from_output(h: Harness) -> None:
    env = {"TOKEN": "s3cr3t", "PASSWORD": "hunter2", "REGION": "eu-west-1"}
    h.run(Step("one", "write", {"stdout": ["token=s3cr3t;", "region=eu-west-1", "s3cr3ts3cr3t"],
                                "stderr": ["auth failed for hunter2\n"]}),
          Step("two", "write", {"stdout": ["again s3cr3t"]}),
          environment=env, secret_names=("TOKEN", "PASSWORD"))
    assert MASK == "********"
    assert h.joined() == {("one", OUT): b"token=********;region=eu-west-1****************",
                          ("one", ERR): b"auth failed for ********\n", ("two", OUT): b"again ********"}
    assert all([seq for (st, s, seq, _) in h.chunks() if (st, s) == key] == list(range(len(
        [1 for (st, s, _, _) in h.chunks() if (st, s) == key]))) for key in h.joined())
    # the plugins themselves get the real values in their environment
    assert {k: h.rec.contexts[0].environment[k] for k in env} == env


def test_a_secret_split_across_writes_is_masked_and_the_longest_secret_wins(h: Harness) -> None:
    env = {"A": "abc", "B": "abcdef"}
    h.run(Step("one", "write", {"stdout": ["key=ab", "cdef and ab", "c!", "x" * 100]}),
          environment=env, secret_names=("A", "B"))
    assert h.joined() == {("one", OUT): b"key=******** and ********!" + b"x" * 100}


def test_output_is_not_scrubbed_of_values_that_are_not_secret(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["region=eu-west-1"]}), environment={"REGION": "eu-west-1"})
    assert h.chunks() == [("one", OUT, 0, b"region=eu-west-1")]


def test_scrubbing_comes_before_the_output_cap(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=10))
    h.run(Step("one", "write", {"stdout": ["ab", "a-long-secret-value"]}),
          environment={"S": "a-long-secret-value"}, secret_names=("S",))
    assert b"".join(d for _, _, _, d in h.chunks()) == b"ab********"  # 10 bytes: exactly the cap fits


# ----------------------------------------------------------------------------- context and workdir

def test_the_run_context(h: Harness) -> None:
    h.run(ok("first"), ok("second"), environment={"APP_ENV": "prod"})
    ctx = h.rec.contexts[1]
    assert (ctx.command_id, ctx.node_id, ctx.step_name, ctx.step_index, ctx.check_mode) == (
        CID, NODE, "second", 1, False)
    assert ctx.cancel_grace_seconds == 0.5
    assert Path(ctx.workdir) == h.work_root / CID
    assert ctx.environment["OUTPOST_COMMAND_ID"] == CID
    assert ctx.environment["OUTPOST_NODE_ID"] == NODE
    assert ctx.environment["OUTPOST_STEP_NAME"] == "second"
    assert ctx.environment["APP_ENV"] == "prod"  # the document's environment
    assert ctx.environment.get("PATH") == os.environ.get("PATH")


def test_the_documents_environment_cannot_override_the_outpost_variables(h: Harness) -> None:
    h.run(ok("first"), environment={"OUTPOST_COMMAND_ID": "forged", "OUTPOST_STEP_NAME": "forged"})
    ctx = h.rec.contexts[0]
    assert (ctx.environment["OUTPOST_COMMAND_ID"], ctx.environment["OUTPOST_STEP_NAME"]) == (CID, "first")


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


def test_a_plugin_that_needs_no_workdir_gets_none_until_one_that_does_runs(h: Harness) -> None:
    h.run(Step("a", "no-files", {}), ok("b"), Step("c", "no-files", {}))
    assert h.rec.workdir_existed == [False, True, True]  # made (private) for "b", kept to the end
    assert not (h.work_root / CID).exists()
    h.run(Step("a", "no-files", {}), cid="cmd-2")
    assert h.rec.workdir_existed[-1] is False and not (h.work_root / "cmd-2").exists()


def test_two_commands_have_separate_workdirs_and_reports(h: Harness) -> None:
    async def both() -> tuple[InvocationReport, InvocationReport]:
        runner = h.runner()
        return await asyncio.gather(runner.run(command("cmd-a", ok("x")), lambda: False),
                                    runner.run(command("cmd-b", fail("y", 9)), lambda: False))

    a, b = asyncio.run(both())
    assert (a.command_id, a.detail, b.command_id, b.detail, b.exit_code) == (
        "cmd-a", Detail.SUCCESS, "cmd-b", Detail.FAILED, 9)
    assert sorted(Path(c.workdir).name for c in h.rec.contexts) == ["cmd-a", "cmd-b"]
    assert h.outbox.unacknowledged() == {"cmd-a", "cmd-b"}


@pytest.mark.parametrize("content", [None, [], ["a.tmp"], ["sub/b.tmp", "c.tmp"]])
def test_remove_workdir_removes_it_empty_or_not_and_minds_no_absent_one(tmp_path: Path,
                                                                        content: list[str] | None) -> None:
    workdir = tmp_path / "cmd-1"
    if content is not None:
        workdir.mkdir()
        for name in content:
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).write_text("x")
    remove_workdir(str(workdir))
    assert not workdir.exists() and tmp_path.exists()


# ------------------------------------------------------------------------------- the ledger's record


@pytest.mark.parametrize(("steps", "ran"), [((ok("first"), ok("second")), ["first", "second"]),
                                           ((only_on("Windows", "elsewhere"), ok("first")), ["first"])])
def test_the_first_step_starts_only_once_the_command_is_recorded(h: Harness, steps: tuple[Step, ...],
                                                                 ran: list[str]) -> None:
    async def scenario() -> tuple[list[str], InvocationReport]:
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(h.runner().run(command(CID, *steps), lambda: False, recorded))
        for _ in range(20):  # the first step is set up, then waits for the ledger
            await asyncio.sleep(0)
        before = list(h.rec.steps)
        recorded.set_result(True)
        return before, await asyncio.wait_for(task, 10)
    before, result = asyncio.run(scenario())
    assert before == [] and h.rec.steps == ran
    assert result.detail is Detail.SUCCESS


@pytest.mark.parametrize("steps", [(ok("first"),), (only_on("Windows", "elsewhere"),),
                                   (only_on("Windows", "w"), ok("x"))])
def test_a_command_the_ledger_did_not_record_runs_nothing_and_reports_nothing(h: Harness,
                                                                              steps: tuple[Step, ...]) -> None:
    async def scenario() -> None:
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        recorded.set_result(False)
        await h.runner().run(command(CID, *steps), lambda: False, recorded)
    with pytest.raises(NotRecorded, match=f"command {CID} is not in the ledger"):
        asyncio.run(scenario())
    assert h.rec.steps == []
    assert not [m for m in h.messages() if isinstance(m, InvocationReport)]  # the agent's refusal says it all
