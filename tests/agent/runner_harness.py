"""The agent runner's test harness: small fake plugins, a Runner over them with a real outbox, and
helpers that read back what the controller would get (parsed with plugins.sdk.wire.convert). Used by
tests/agent/test_runner*.py; the ``h`` fixture is in tests/agent/conftest.py."""
from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agent.outbox import Outbox
from agent.runner import Runner, RunnerOptions
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.contract import API_VERSION, OutputStreamKind, PluginSpec, RunContext, StepOutcome
from plugins.sdk.errors import PluginError
from plugins.sdk.facts import Facts, Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.schema import param
from plugins.sdk.secrets import ScrubFilter
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Document, OnFailure, Precondition, Step
from plugins.sdk.wire.envelope import Envelope, VerifiedCommand
from plugins.sdk.wire.messages import Heartbeat, Hello
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport, OutputChunk, StepReport

NODE = "node-7"
CID = "cmd-0001"
HELLO = Hello(Facts("h", "Debian", "12", Platform.LINUX, "x86_64", (), "0.1.0"))
END = Heartbeat(sent_at_ms=-1)
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


class FakePlugin:
    """What every fake plugin here shares: the Recorder its runs are told to."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec


class OutcomePlugin(FakePlugin):
    spec: ClassVar[PluginSpec] = _spec("outcome", OutcomeInputs)

    async def run(self, ctx: RunContext, inputs: OutcomeInputs) -> StepOutcome:
        self.rec.saw(ctx)
        return StepOutcome(Detail(inputs.detail), inputs.exit_code, inputs.error)


class ExitPlugin(FakePlugin):
    """Says what a process exiting with ``code`` would (StepOutcome.from_exit_code, as the shell plugin)."""
    spec: ClassVar[PluginSpec] = _spec("exit", ExitInputs)

    async def run(self, ctx: RunContext, inputs: ExitInputs) -> StepOutcome:
        self.rec.saw(ctx)
        return StepOutcome.from_exit_code(inputs.code)


class NoFilesPlugin(FakePlugin):
    """Declares that it needs no scratch directory."""
    spec: ClassVar[PluginSpec] = dataclasses.replace(_spec("no-files", OutcomeInputs), needs_workdir=False)

    async def run(self, ctx: RunContext, inputs: OutcomeInputs) -> StepOutcome:
        self.rec.contexts.append(ctx)
        self.rec.workdir_existed.append(Path(ctx.workdir).exists())
        return StepOutcome(Detail(inputs.detail), inputs.exit_code, inputs.error)


class CheckablePlugin(OutcomePlugin):
    """Declares check mode (it records the context, which says whether the step is a check)."""
    spec: ClassVar[PluginSpec] = dataclasses.replace(_spec("checkable", OutcomeInputs), supports_check_mode=True)


class WindowsOnlyPlugin(OutcomePlugin):
    spec: ClassVar[PluginSpec] = _spec("windows-only", OutcomeInputs, frozenset({Platform.WINDOWS}))


class CrashPlugin(FakePlugin):
    spec: ClassVar[PluginSpec] = _spec("crash", CrashInputs)

    async def run(self, ctx: RunContext, inputs: CrashInputs) -> StepOutcome:
        self.rec.saw(ctx)
        if inputs.kind == "outpost":
            raise PluginError("not usable here")
        raise RuntimeError("boom")


class SleepPlugin(FakePlugin):
    spec: ClassVar[PluginSpec] = _spec("sleep", SleepInputs)

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


class LogPlugin(FakePlugin):
    """Logs its message through the step's logger, as a careless plugin might log a secret."""
    spec: ClassVar[PluginSpec] = _spec("log", WriteInputs)

    async def run(self, ctx: RunContext, inputs: WriteInputs) -> StepOutcome:
        self.rec.saw(ctx)
        for line in inputs.stdout:
            ctx.logger.warning("%s", line)
        return StepOutcome(Detail.SUCCESS)


class WritePlugin(FakePlugin):
    spec: ClassVar[PluginSpec] = _spec("write", WriteInputs)

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
    outbox: Outbox = field(default_factory=lambda: Outbox(encode=wire.agent_message_to_pb))  # as on the wire
    scrubber: ScrubFilter = field(default_factory=ScrubFilter)
    extra: tuple[type[FakePlugin], ...] = ()  # plugins beyond the usual ones

    def runner(self) -> Runner:
        registry = PluginRegistry([OutcomePlugin(self.rec), ExitPlugin(self.rec), CrashPlugin(self.rec),
                                   SleepPlugin(self.rec), WritePlugin(self.rec), WindowsOnlyPlugin(self.rec),
                                   NoFilesPlugin(self.rec), *(p(self.rec) for p in self.extra)])
        return Runner(registry, NODE, self.platform, self.work_root, self.outbox, self.options, self.scrubber)

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
    assert await anext(gen) == wire.agent_message_to_pb(HELLO)
    outbox.transient(END)
    got = []
    end = wire.agent_message_to_pb(END)
    while (msg := await asyncio.wait_for(anext(gen), 1)) != end:
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


def summary(reports: list[StepReport | InvocationReport]) -> list[tuple[Any, ...]]:
    return [(r.step_index, r.step_name, r.detail, r.exit_code, r.error) if isinstance(r, StepReport)
            else ("invocation", r.detail, r.exit_code) for r in reports]


def not_run(index: int, name: str) -> tuple[Any, ...]:
    return (index, name, Detail.SKIPPED, NO_EXIT_CODE, NOT_RUN)

