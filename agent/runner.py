"""Runs one verified command document, step after step, and reports as it goes.

The runner alone maps what happens to statuses: a plugin's outcome, a deadline (TimedOut), an
operator's cancel (Cancelled), an input error or a crash (Failed). Plugins never see statuses
they did not produce, and a crashing plugin never takes the agent down.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from agent.flow import Flow
from agent.journal import StepStart
from agent.outbox import Outbox
from agent.reboot import MAX_REBOOTS, REBOOT, RESTART, RebootRequested, Resume, asks_reboot
from plugins.sdk.contract import AgentInfo, ContentSource, OutputStreamKind, RunContext, StepOutcome
from plugins.sdk.errors import OutpostError
from plugins.sdk.facts import Platform
from plugins.sdk.host.capabilities import lacking_message, missing
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.logs import BoundLogger
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import MASK, ScrubFilter, maskable
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import DEFAULT_EXECUTION_TIMEOUT_SECONDS, Step
from plugins.sdk.wire.envelope import VerifiedCommand
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport, OutputChunk, StepReport

TRUNCATED_MARKER = b"\n--output truncated--\n"


def remove_workdir(path: str) -> None:
    """Remove a command's work directory: one rmdir when the steps left it empty (most do), the
    whole tree otherwise; absent when no step that needed it ran."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError:  # not empty
        shutil.rmtree(path, ignore_errors=True)


class NotRecorded(OutpostError):
    """The command could not be recorded in the ledger, so none of its steps may start (the agent
    refuses it: agent/connection.py)."""


async def _until_recorded(recorded: Awaitable[bool], command_id: str) -> None:
    """Wait for the command's ledger record (shielded: a cancel of the waiter leaves the record to
    finish); NotRecorded when the ledger could not take it."""
    if not await asyncio.shield(recorded):
        raise NotRecorded(f"command {command_id} is not in the ledger")


class StepJournal(Protocol):
    """Where the runner notes each step and process group it starts (agent/journal.py), so that a
    later life of the agent knows what this one left if it dies."""

    def step_started(self, command_id: str, step: StepStart) -> None: ...

    async def written(self) -> None: ...

    def process_started(self, command_id: str, pid: int) -> None: ...


class _NoJournal:
    def step_started(self, command_id: str, step: StepStart) -> None:
        pass

    async def written(self) -> None:
        pass

    def process_started(self, command_id: str, pid: int) -> None:
        pass


STOPPED = "the agent was stopped while this ran; its processes were stopped and it is not run again"


def _replayed(flow: Flow, step: Step, report: StepReport) -> StepReport:
    """A step's report from before a reboot, told to the flow as if it had just ended."""
    if report.detail is Detail.SKIPPED:
        flow.skipped_step(step)
    else:
        flow.record(step, report.detail, report.exit_code)
    return report


def _in_ledger(recorded: Awaitable[bool] | None) -> bool:
    """Whether the command is in the ledger (None: it was when its first step started)."""
    if recorded is None:
        return True
    return isinstance(recorded, asyncio.Future) and recorded.done() and not recorded.cancelled() \
        and recorded.exception() is None and bool(recorded.result())


@dataclass(frozen=True)
class RunnerOptions:
    default_timeout_seconds: int = DEFAULT_EXECUTION_TIMEOUT_SECONDS
    output_cap_bytes: int = 16 * 1024 * 1024  # per step and stream, then truncated with a marker
    max_reboots: int = MAX_REBOOTS  # reboots a document may ask for (exit 194 / 3010); then its step fails


class StepOutputSink:
    """The OutputSink of one step: numbers chunks per stream, caps them, hands them to the outbox."""

    def __init__(self, outbox: Outbox, command_id: str, step_name: str, cap_bytes: int,
                 secrets: tuple[str, ...] = (), first_seq: Mapping[tuple[str, OutputStreamKind], int] = {}) -> None:
        """``first_seq``: the next chunk number of each (step, stream) that wrote before a reboot (a
        resumed step goes on numbering where it was, so no chunk of the run before is overwritten)."""
        self._outbox = outbox
        # longest first, so a secret that contains another is masked whole
        self._secrets = tuple(sorted({s.encode() for s in maskable(secrets)}, key=len, reverse=True)) if secrets else ()
        self._holdback = len(self._secrets[0]) - 1 if self._secrets else 0
        self._pending = {OutputStreamKind.STDOUT: b"", OutputStreamKind.STDERR: b""}
        self._command_id = command_id
        self._step_name = step_name
        self._cap = cap_bytes
        self._seq = {kind: first_seq.get((step_name, kind), 0) for kind in OutputStreamKind}
        self._bytes = {OutputStreamKind.STDOUT: 0, OutputStreamKind.STDERR: 0}
        self._truncated: set[OutputStreamKind] = set()

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        """Secret parameter values never leave the node: they are masked here, also when one is split
        across two writes (the last bytes wait for the next write, or for ``flush``)."""
        if not self._secrets:
            self._emit(stream, data)
            return
        buf = self._scrub(self._pending[stream] + data)
        cut = max(0, len(buf) - self._holdback)
        self._pending[stream] = buf[cut:]
        self._emit(stream, buf[:cut])

    async def flush(self) -> None:
        for stream, rest in self._pending.items():
            self._pending[stream] = b""
            self._emit(stream, self._scrub(rest))

    def _scrub(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, MASK.encode())
        return data

    def scrub_text(self, text: str) -> str:
        return self._scrub(text.encode()).decode(errors="replace")

    def _emit(self, stream: OutputStreamKind, data: bytes) -> None:
        used = self._bytes[stream]
        if not data or stream in self._truncated:
            return
        if used + len(data) > self._cap:
            data = data[: self._cap - used] + TRUNCATED_MARKER  # the marker once, then nothing more
            self._truncated.add(stream)
        self._bytes[stream] = min(self._cap, used + len(data))
        chunk = OutputChunk(self._command_id, self._step_name, stream, self._seq[stream], data)
        self._seq[stream] += 1
        self._outbox.about(self._command_id, chunk)


class Runner:
    def __init__(self, registry: PluginRegistry, node_id: str, platform: Platform, work_root: Path, outbox: Outbox,
                 options: RunnerOptions, scrubber: ScrubFilter | None = None,
                 journal: StepJournal | None = None, content: ContentSource | None = None,
                 agent: AgentInfo | None = None) -> None:
        """``scrubber``: the process's log scrubber (plugins/sdk/host/logs.py), which holds a command's
        secret values while it runs, so no log line (the plugins' own included) shows one.
        ``journal``: where the steps and process groups started are noted."""
        self._scrubber = scrubber or ScrubFilter()
        self._journal: StepJournal = journal or _NoJournal()
        self._registry = registry
        self._node_id = node_id
        self._platform = platform
        self._work_root = str(work_root)  # str: joined for every command, a Path only when made
        self._log = logging.getLogger(__name__)
        self._outbox = outbox
        self._options = options
        self._environ = dict(os.environ)  # the agent's own environment, the base of every step's
        self._content = content  # what steps fetch from the controller with (agent/content.py)
        self._agent = agent

    async def run(self, vc: VerifiedCommand, cancel_requested: Callable[[], bool],
                  recorded: Awaitable[bool] | None = None,
                  stopping: Callable[[], bool] = lambda: False, resume: Resume | None = None) -> InvocationReport:
        """Run the document's steps as agent/flow.py rules; report each step and the invocation.
        Cancellation by the operator (``cancel_requested()`` true when the task is cancelled) ends as
        Cancelled; any other cancellation (the agent stopping) reports the invocation Failed (STOPPED)
        once the step's processes are gone, and propagates.
        ``recorded``: whether the command is in the ledger, awaited once the first step to run is set
        up and before it starts (the ledger's fsync and the set-up overlap); False raises NotRecorded.
        ``stopping()``: the agent is stopping; no further step starts (it ends as a stop does).
        ``resume``: the command goes on after a reboot from the step that asked for it (agent/reboot.py);
        a step that asks for one raises RebootRequested (reports and journal hold what came before)."""
        cid = vc.envelope.command_id
        log = BoundLogger(self._log, {"command": cid, "node": self._node_id})
        workdir = os.path.join(self._work_root, cid)  # made by the first step whose plugin needs it
        needs_workdir = any(self._registry.has_action(step.action)
                            and self._registry.action_spec(step.action).needs_workdir for step in vc.document.steps)
        started = now_ms() if resume is None else resume.started_at_ms
        flow = Flow()
        reports: list[StepReport] = []
        before = {r.step_index: r for r in resume.earlier} if resume is not None else {}
        secrets = vc.document.secret_values()
        self._scrubber.hold(secrets)
        running: StepStart | None = None
        try:
            lacking = missing(vc.document, self._platform, self._registry.action_names(),
                              self._registry.platforms_of)
            if lacking:  # refused whole, nothing run: the node lacks a plugin a step needs (docs/statuses.md)
                if recorded is not None:
                    await _until_recorded(recorded, cid)
                result = InvocationReport(cid, Detail.UNDELIVERABLE, NO_EXIT_CODE, started, now_ms(), (),
                                          lacking_message(lacking, self._registry.actions()))
                self._outbox.about(cid, result, final=True)
                log.warning("not run: %s", result.error)
                return result
            for index, step in enumerate(vc.document.steps):
                if resume is not None and index < resume.step_index:  # as reported before the reboot
                    reports.append(_replayed(flow, step, before.get(index) or self._skipped(
                        cid, index, step, "not run (no report of it survived the reboot)")))
                    continue
                if not flow.should_run(step):
                    report = self._skipped(cid, index, step, "not run: an earlier step ended the document")
                elif (reason := self._inapplicable(step) or self._uncheckable(step)) is not None:
                    flow.skipped_step(step)
                    report = self._skipped(cid, index, step, reason)
                elif cancel_requested() and not flow.cancelled:
                    # the operator's cancel reached a step that had ended by itself (its outcome kept,
                    # plugins/sdk/process.py): no further step starts (a finally step still does)
                    at = now_ms()
                    report = StepReport(cid, index, step.name, step.action, Detail.CANCELLED, NO_EXIT_CODE, at, at,
                                        "cancelled by the operator")
                    flow.record(step, report.detail, report.exit_code)
                else:
                    if stopping():  # a step that ended let this one come: the agent is stopping all the same
                        raise asyncio.CancelledError
                    running = StepStart(index, step.name, step.action, now_ms())
                    report, restart = await self._run_step(vc, index, workdir, log.bind(step=step.name),
                                                           cancel_requested, recorded, secrets,
                                                           resume.next_seq if resume is not None else {})
                    running = recorded = None
                    if restart:  # the plugin arranged the agent's restart: run again in its next life
                        raise RebootRequested(report, tuple(reports), started, RESTART)
                    if not step.check_mode and asks_reboot(report.exit_code, self._platform):
                        reboots = resume.reboots if resume is not None else 0
                        if reboots < self._options.max_reboots:
                            raise RebootRequested(report, tuple(reports), started, REBOOT)
                        report = replace(report, error=f"asked for a reboot after {reboots} reboots of this "
                                                       f"document; the limit is {self._options.max_reboots}")
                    detail = flow.record(step, report.detail, report.exit_code)
                    if detail is not report.detail:
                        report = replace(report, detail=detail)
                reports.append(report)
                if index < len(vc.document.steps) - 1:  # the last one travels in the invocation's result
                    self._outbox.about(cid, report)
            if recorded is not None:  # no step ran: the result still waits for the record
                await _until_recorded(recorded, cid)
            result = InvocationReport(cid, flow.detail, flow.exit_code, started, now_ms(), tuple(reports))
            self._outbox.about(cid, result, final=True)
            log.info("finished: %s (exit code %d)", flow.detail.value, flow.exit_code)
        except asyncio.CancelledError:
            if _in_ledger(recorded):  # say how it ended before this task goes (an operator's cancel ended
                self._stopped(cid, started, reports, running)  # in _run_step; this is the agent stopping)
                log.warning("stopped with the agent")
            raise
        finally:
            try:
                if needs_workdir:  # after the result is on its way, and never on the event loop
                    await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, remove_workdir, workdir))
            finally:
                self._scrubber.release(secrets)
        return result

    def _stopped(self, cid: str, started: int, reports: list[StepReport], running: StepStart | None) -> None:
        at = now_ms()
        steps = list(reports)
        if running is not None:
            steps.append(StepReport(cid, running.index, running.name, running.action, Detail.FAILED, NO_EXIT_CODE,
                                    running.started_at_ms, at, STOPPED))
        self._outbox.about(cid, InvocationReport(cid, Detail.FAILED, NO_EXIT_CODE, started, at, tuple(steps),
                                                 STOPPED), final=True)

    def report_not_started(self, vc: VerifiedCommand, detail: Detail, reason: str) -> InvocationReport:
        """Settle an invocation that never ran a step (cancelled while queued)."""
        at = now_ms()
        result = InvocationReport(vc.envelope.command_id, detail, NO_EXIT_CODE, at, at, (), reason)
        self._outbox.about(vc.envelope.command_id, result, final=True)
        return result

    def _inapplicable(self, step: Step) -> str | None:
        """Why a step does not apply to this node (SSM 2.2 skips it), or None."""
        cond = step.precondition
        if cond is not None:
            if not cond.holds(self._platform):
                return f"precondition {cond.operator} [{cond.left}, {cond.right}] is false here"
            return None
        if self._registry.has_action(step.action):
            spec = self._registry.action_spec(step.action)
            if self._platform not in spec.platforms:
                return f"{step.action} does not run on {self._platform.value}"
        return None

    def _uncheckable(self, step: Step) -> str | None:
        """Why a check-mode step is not run here: its plugin cannot say what it would change."""
        if step.check_mode and not self._registry.checkable(step.action):
            return f"{step.action} cannot run in check mode; not run"
        return None

    def _skipped(self, cid: str, index: int, step: Step, reason: str) -> StepReport:
        at = now_ms()
        return StepReport(cid, index, step.name, step.action, Detail.SKIPPED, NO_EXIT_CODE, at, at, reason)

    async def _run_step(self, vc: VerifiedCommand, index: int, workdir: str, log: BoundLogger,
                        cancel_requested: Callable[[], bool], recorded: Awaitable[bool] | None,
                        secrets: tuple[str, ...], first_seq: Mapping[tuple[str, OutputStreamKind], int]
                        ) -> tuple[StepReport, bool]:
        """The step's report, and whether its plugin asked for the agent's restart."""
        cid = vc.envelope.command_id
        step = vc.document.steps[index]
        started = now_ms()
        timeout: float | None = None
        sink = StepOutputSink(self._outbox, cid, step.name, self._options.output_cap_bytes, secrets, first_seq)
        said = False  # the outcome is the plugin's own (what it says of changes counts only then)
        try:
            bound_step = self._registry.bind(step.action, step.inputs, f"mainSteps[{index}].inputs")
            timeout = (step.timeout_seconds or getattr(bound_step.inputs, "timeout_seconds", None)
                       or self._options.default_timeout_seconds)
            if bound_step.plugin.spec.needs_workdir:
                os.makedirs(workdir, mode=0o700, exist_ok=True)
            env = dict(self._environ)
            env.update(vc.document.environment)
            env.update(OUTPOST_COMMAND_ID=cid, OUTPOST_NODE_ID=self._node_id, OUTPOST_STEP_NAME=step.name)
            ctx = RunContext(command_id=cid, node_id=self._node_id, step_name=step.name, step_index=index,
                             check_mode=step.check_mode, workdir=workdir, output=sink, logger=log,
                             cancel_grace_seconds=bound_step.plugin.spec.cancel_grace_seconds, environment=env,
                             process_started=partial(self._journal.process_started, cid),
                             content=self._content, agent=self._agent)
            if recorded is not None:
                await _until_recorded(recorded, cid)
            self._journal.step_started(cid, StepStart(index, step.name, step.action, started))
            # on record before any process of it exists: a kill -9 between the two would otherwise leave a
            # process whose step a later life does not know of (found by make chaos, seed 588909 run 5)
            await self._journal.written()
            log.info("running %s (timeout %ss)", step.action, timeout)
            async with asyncio.timeout(timeout):  # no task of its own, unlike wait_for (3.11)
                outcome = await bound_step.plugin.run(ctx, bound_step.inputs)
            said = True
        except NotRecorded:
            raise
        except TimeoutError:
            outcome = StepOutcome(Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE, f"step exceeded its timeout of {timeout} s")
        except asyncio.CancelledError:
            if not cancel_requested():
                raise
            outcome = StepOutcome(Detail.CANCELLED, NO_EXIT_CODE, "cancelled by the operator")
        except OutpostError as exc:
            outcome = StepOutcome(Detail.FAILED, NO_EXIT_CODE, str(exc))
        except Exception as exc:  # a crashing plugin fails its step, never the agent
            error = sink.scrub_text(f"plugin {step.action} crashed: {exc!r}")
            log.error("%s", error)  # no traceback: it could hold a secret value
            outcome = StepOutcome(Detail.FAILED, NO_EXIT_CODE, error)
        finally:
            await sink.flush()
        # a success is told by the invocation's "finished" line; anything else here, with its step
        log.log(logging.DEBUG if outcome.detail is Detail.SUCCESS else logging.INFO, "step %s: %s", step.name,
                outcome.detail.value)
        compliance = outcome.compliance.to_json() if said and outcome.compliance is not None else b""
        return StepReport(cid, index, step.name, step.action, outcome.detail, outcome.exit_code,
                          started, now_ms(), sink.scrub_text(outcome.error), changed=said and outcome.changed,
                          compliance=compliance), said and outcome.restart_agent and not step.check_mode
