"""What an agent does with the commands it is sent: verify each one before anything runs, record
it in the ledger (fsynced) before its first step, run up to ``max_concurrent_documents`` at once
and queue the rest in order, cancel on the operator's word, and stop them all when the agent stops.

Everything it holds of a command is journaled (agent/journal.py) until the controller acknowledges
the result; ``recover`` takes up what a previous life of the agent held (agent/recovery.py). The
connection (agent/connection.py) hands it what arrives and streams its outbox.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import psutil
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.content import ContentFetcher
from agent.durable import SyncFiles
from agent.journal import Journal, JournalEntry, StepStart
from agent.journal_file import JournalFile
from agent.ledger import Ledger, LedgerWrite
from agent.outbox import CallLater, Outbox
from agent.reboot import (
    REBOOT,
    RESTART,
    RebootPolicy,
    RebootRecord,
    RebootRequested,
    Resume,
    agent_environment,
    default_reboot_command,
    resume_of,
    run_reboot_command,
)
from agent.recovery import ends, recover
from agent.runner import NotRecorded, Runner, RunnerOptions, StepJournal
from agent.state import StateDir
from plugins.sdk.contract import AgentInfo
from plugins.sdk.errors import VerificationError
from plugins.sdk.facts import Platform
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import ScrubFilter
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.batch import VerifiedRoots
from plugins.sdk.wire.envelope import SignedCommand, VerifiedCommand, claimed_command_id, verify_command
from plugins.sdk.wire.messages import Accepted, AgentMessage, CancelAck
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport, Refusal, StepReport

log = logging.getLogger(__name__)


def _settles(msg: AgentMessage) -> bool:
    """A step's or the command's result: its journal is made durable with the next batch."""
    return isinstance(msg, (StepReport, InvocationReport, Refusal))


@dataclass(frozen=True)
class CommandsSetup:
    """What ``Commands`` is built from (the agent's options and what a process's agents share)."""
    node_id: str
    signing_key: Ed25519PublicKey  # the pinned document-signing key
    platform: Platform
    max_concurrent_documents: int
    accept_delay_seconds: float
    ledger_write: LedgerWrite
    call_later: CallLater
    verified_roots: VerifiedRoots | None
    scrubber: ScrubFilter
    sync_files: SyncFiles  # how an agent's own journal file is made durable
    journal_file: JournalFile | None  # shared by a process's agents (a swarm's); None: DIR/journal of its own
    reboot: RebootPolicy | None = None  # None: the platform's reboot command (agent/reboot.py), SSM's bounds
    agent_info: AgentInfo | None = None  # what a step is told of its agent (agent self-update)


# How long a stopping agent lets the commands whose step process has exited already report that
# exit (an agent seconds behind sees a SIGTERM before the exit it has not yet read), before it stops
# what is left. Part of a stop's bound (docs/statuses.md, "When an agent goes").
EXITED_SETTLE_SECONDS = 2.0


class _Leaders:
    """The process group each command's step leads now (its leader's pid), noted on the way to the
    journal, so that a stopping agent can tell a step whose process has exited from one that runs."""

    def __init__(self, journal: StepJournal) -> None:
        self._journal = journal
        self._pids: dict[str, int] = {}

    def step_started(self, command_id: str, step: StepStart) -> None:
        self._pids.pop(command_id, None)
        self._journal.step_started(command_id, step)

    async def written(self) -> None:
        await self._journal.written()

    def process_started(self, command_id: str, pid: int) -> None:
        self._pids[command_id] = pid
        self._journal.process_started(command_id, pid)

    def forget(self, command_id: str) -> None:
        self._pids.pop(command_id, None)

    def exited(self, command_id: str) -> bool:
        """Whether the step's process has exited (reaped or a zombie not yet reaped); False when it
        runs, when there is none, or when its pid now names another process (then: not ours to wait)."""
        pid = self._pids.get(command_id)
        if pid is None:
            return False
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            return False


class Commands:
    def __init__(self, state: StateDir, registry: PluginRegistry, runner_options: RunnerOptions,
                 setup: CommandsSetup) -> None:
        state.create()
        self._setup = setup
        self.node_id = setup.node_id
        self._ledger = Ledger(state.ledger_path)
        # an agent alone has its journal file in its state directory; a swarm's agents share one, each
        # under its state directory's name
        self._own_file = setup.journal_file is None
        file, owner = ((JournalFile(state.journal_path, setup.sync_files), "") if setup.journal_file is None
                       else (setup.journal_file, state.path.name))
        self._journal_file = file
        self._journal: Journal[AgentMessage] = Journal(file, owner, wire.agent_message_to_bytes,
                                                       wire.agent_message_from_bytes, _settles)
        # encoded once, as the journal keeps it and the stream carries it (agent/connection.py)
        self.outbox: Outbox[AgentMessage, bytes] = Outbox(setup.call_later, wire.agent_message_to_bytes, self._journal)
        self._leaders = _Leaders(self._journal)
        self.content = ContentFetcher(self.outbox.transient)
        self._runner = Runner(registry, setup.node_id, setup.platform, state.work_dir, self.outbox,
                              runner_options, setup.scrubber, self._leaders, self.content, setup.agent_info)
        self.on_restart: Callable[[], None] = lambda: None  # stops this agent (its Agent sets it)
        self._after_connect: list[tuple[VerifiedCommand, SignedCommand, Resume]] = []
        self._recovered = False
        self._stopping = False
        self._reboot = setup.reboot or RebootPolicy(default_reboot_command(setup.platform))
        self._rebooting = False  # a step asked for a reboot and the reboot command started it
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_requested: set[str] = set()
        self._slots = asyncio.Semaphore(setup.max_concurrent_documents)
        self.commands_run = 0  # documents run to their end by this process (for status lines)

    def running(self) -> tuple[str, ...]:
        """The commands taken and not ended (running or queued for a slot), for heartbeats."""
        return tuple(sorted(self._tasks))

    async def recover(self) -> None:
        """Take up what a previous life of the agent held (agent/recovery.py): replayed on the first
        stream. Once, before the first stream."""
        if self._recovered:
            return
        self._recovered = True
        entries = await asyncio.to_thread(self._journal.read_all)
        for entry in entries:
            if entry.messages and ends(entry.messages[-1]):
                self.outbox.restore(entry.command_id, entry.messages)
                continue
            if entry.awaits_reboot and self._resume(entry):
                continue
            recovered = await asyncio.to_thread(recover, entry, self.node_id)  # kills leftovers: seconds, off the loop
            self._journal.message(entry.command_id, recovered.messages[-1])
            self.outbox.restore(entry.command_id, recovered.messages)
        if entries:
            log.info("%d command(s) of a previous life to report", len(entries))

    def _resume(self, entry: JournalEntry[AgentMessage]) -> bool:
        """Take up a command whose step asked for a reboot (agent/reboot.py): verified again, its
        messages back in the outbox, run on from that step. False when it cannot be: it is then
        reported as an interrupted command is, with the reason."""
        cid = entry.command_id
        try:
            record = RebootRecord.from_bytes(entry.reboot)
            age = now_ms() - record.at_ms
            if age > self._reboot.max_age_seconds * 1000:
                raise VerificationError("reboot_too_old", f"the reboot was asked for {age // 1000} s ago; "
                                        f"a command resumes within {self._reboot.max_age_seconds:g} s")
            vc = verify_command(record.signed, public_key=self._setup.signing_key, node_id=self.node_id,
                                now_ms=entry.taken_at_ms or record.at_ms)
        except (VerificationError, ValueError) as exc:
            log.warning("command %s asked for a reboot but is not resumed: %s", cid, exc)
            at = now_ms()
            self.outbox.restore(cid, (*entry.messages, InvocationReport(
                cid, Detail.FAILED, NO_EXIT_CODE, entry.taken_at_ms or at, at,
                tuple(m for m in entry.messages if isinstance(m, StepReport)),
                f"not resumed after the reboot its step asked for: {exc}")))
            return True
        self.outbox.restore(cid, entry.messages)
        resume = resume_of(record, entry.messages, entry.taken_at_ms)
        if record.kind == RESTART:  # an update's handover: this life proves itself by connecting first
            log.info("command %s resumes at step %d once this agent is connected", cid, record.step_index)
            self._after_connect.append((vc, record.signed, resume))
        else:
            log.info("command %s resumes after a reboot at step %d (reboot %d)", cid, record.step_index,
                     record.reboots)
            self._start_resumed(vc, record.signed, resume)
        return True

    def _start_resumed(self, vc: VerifiedCommand, signed: SignedCommand, resume: Resume) -> None:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        done.set_result(True)  # in the ledger since it was first taken
        self._tasks[vc.envelope.command_id] = asyncio.create_task(self._execute(vc, done, signed, resume))

    def connected(self) -> None:
        """The agent's stream is open: the commands an update's handover left resume now."""
        waiting, self._after_connect = self._after_connect, []
        for vc, signed, resume in waiting:
            log.info("command %s resumes at step %d", vc.envelope.command_id, resume.step_index)
            self._start_resumed(vc, signed, resume)

    async def _reboot_for(self, vc: VerifiedCommand, signed: SignedCommand, req: RebootRequested,
                          resume: Resume | None) -> None:
        """A step asked for a reboot: journal it durably, then run the reboot command. The command
        resumes in the agent's next life; if its state cannot be saved or the reboot command fails,
        the invocation ends Failed and nothing reboots."""
        cid = vc.envelope.command_id
        reboots = (resume.reboots if resume is not None else 0) + (req.kind == REBOOT)
        try:
            self._journal.reboot_requested(cid, RebootRecord(req.step_index, reboots, now_ms(), signed,
                                                             req.kind).to_bytes())
            await self._journal.synced()
        except OSError as exc:  # a full disk: no reboot without the state that resumes the command
            self._not_rebooted(cid, req, f"its state could not be saved ({exc.strerror or exc})")
            return
        self._rebooting = True
        if req.kind == RESTART:
            log.warning("command %s: step %r hands over to the agent's next start; stopping", cid, req.step_name)
            self.on_restart()
            return
        log.warning("command %s: step %r asked for a reboot (%d of at most %d); running %s", cid, req.step_name,
                    reboots, self._reboot.max_reboots, " ".join(self._reboot.command))
        problem = await run_reboot_command(self._reboot.command, agent_environment())
        if problem is not None:
            self._rebooting = False
            self._not_rebooted(cid, req, problem)
        # else the node goes down; the journal holds the command until the agent is back

    def _not_rebooted(self, cid: str, req: RebootRequested, problem: str) -> None:
        log.error("command %s: no reboot: %s", cid, problem)
        at = now_ms()
        step = replace(req.report, ended_at_ms=at, error=f"asked for a reboot, which did not happen: {problem}")
        self.outbox.about(cid, InvocationReport(cid, Detail.FAILED, req.report.exit_code, req.started_at_ms, at,
                                                (*req.earlier, step), step.error), final=True)

    async def synced(self) -> None:
        await self._journal.synced()

    def close(self) -> None:
        """The agent ends: its journal file is written and closed (a swarm's shared one is closed by
        the swarm)."""
        if self._own_file:
            self._journal_file.close()
        else:
            self._journal.flush()

    def use_signing_key(self, key: Ed25519PublicKey) -> None:
        """Verify the commands that come from now on with ``key`` (a rotation the agent pinned)."""
        self._setup = replace(self._setup, signing_key=key)

    def on_command(self, signed: SignedCommand) -> None:
        setup = self._setup
        if self._stopping or self._rebooting:
            # Stopping (a SIGTERM, or the reboot a step asked for), the stream still open while the agent
            # waits for its acks: a command taken now would only be stopped again. Not taken, not in the
            # ledger: the controller sends it to the agent's next life (an invocation not accepted is sent
            # again on its next Hello).
            log.info("stopping: command %s left for the agent's next start", claimed_command_id(signed.envelope))
            return
        try:
            vc = verify_command(signed, public_key=setup.signing_key, node_id=self.node_id, now_ms=now_ms(),
                                verified_roots=setup.verified_roots)
        except VerificationError as exc:
            self._refuse(Refusal(claimed_command_id(signed.envelope), exc.code, exc.detail), verified=False)
            return
        cid = vc.envelope.command_id
        if cid in self._tasks or (cid in self._ledger and self.outbox.holds(cid)):
            log.info("command %s redelivered while still known; not running it again", cid)
            return
        if cid in self._ledger:
            # Taken before, and its result acknowledged since (the controller has it, and keeps it) or lost
            # with the machine's crash along with the journal: never run twice, and say so as a result
            # (a redelivery of a command that ran is no refusal).
            log.warning("command %s was taken before by this node; not running it again", cid)
            at = now_ms()
            self.outbox.about(cid, InvocationReport(
                cid, Detail.FAILED, NO_EXIT_CODE, at, at, (),
                "this node took this command before and does not run a command twice; it holds no result "
                "of it any more (acknowledged already, or lost with a crash of the machine)"), final=True)
            return
        self._journal.taken(cid, now_ms())
        # in the ledger before it is accepted and before its first step starts: the record's task is
        # scheduled first, so the fsync is under way (on a thread) while the run is set up
        recorded = asyncio.ensure_future(self._record(cid))
        self._tasks[cid] = asyncio.create_task(self._execute(vc, recorded, signed))

    def _refuse(self, refusal: Refusal, *, verified: bool) -> None:
        """Report a refusal. One about an unverified envelope is filed under the id it claims only
        when that id means nothing here yet, so a forged id can never disturb a real command."""
        log.warning("refused command %s: %s: %s", refusal.command_id or "(unknown)", refusal.code, refusal.detail)
        cid = refusal.command_id
        known = cid in self._ledger or cid in self._tasks or self.outbox.holds(cid)
        if cid and (verified or not known):
            self.outbox.about(cid, refusal)
        else:
            self.outbox.transient(refusal)

    async def _record(self, cid: str) -> bool:
        """Record the command in the ledger (fsynced, off the event loop), then accept it; False when
        the ledger cannot take it: the command is refused."""
        try:
            await self._setup.ledger_write(self._ledger, cid)
        except OSError as exc:
            self._refuse(Refusal(cid, "ledger_unwritable", f"cannot record the command in the ledger: {exc}"),
                         verified=True)
            return False
        self.outbox.accept(cid, Accepted(cid), self._setup.accept_delay_seconds)
        return True

    async def _execute(self, vc: VerifiedCommand, recorded: asyncio.Future[bool], signed: SignedCommand,
                       resume: Resume | None = None) -> None:
        """Run a command once it has a slot; meanwhile ``recorded`` is written and the first step set
        up (the runner awaits ``recorded`` just before starting it)."""
        cid = vc.envelope.command_id
        try:
            try:
                await self._slots.acquire()  # FIFO: documents beyond the limit wait in order
            except asyncio.CancelledError:
                if cid not in self._cancel_requested:  # stopping
                    if recorded.done() and not recorded.cancelled() and recorded.result():
                        self._runner.report_not_started(vc, Detail.FAILED, "the agent was stopped before this "
                                                        "command started; it did not run and is not run again")
                    raise  # the finally below cancels a record under way (the next life reports it)
                if await asyncio.shield(recorded):
                    self._runner.report_not_started(vc, Detail.CANCELLED, "cancelled before it started")
                return
            try:
                await self._runner.run(vc, lambda: cid in self._cancel_requested, recorded, lambda: self._stopping,
                                       resume)
                self.commands_run += 1
            except NotRecorded:
                return  # refused by _record
            except RebootRequested as req:
                await self._reboot_for(vc, signed, req, resume)
            finally:
                self._slots.release()
        finally:
            if not recorded.done():  # stopping: the runner ended without waiting for it
                recorded.cancel()
            self._tasks.pop(cid, None)
            self._leaders.forget(cid)
            self._cancel_requested.discard(cid)

    def on_cancel(self, command_id: str) -> None:
        task = self._tasks.get(command_id)
        self.outbox.transient(CancelAck(command_id, running=task is not None))
        if task is not None and command_id not in self._cancel_requested:
            log.info("cancelling command %s", command_id)
            self._cancel_requested.add(command_id)
            task.cancel()

    async def stop(self) -> None:
        """Stop every command (each reports how it ended) and wait for them; take no new one. A
        command whose step process has exited already has a moment to report that exit; every
        other one is stopped at once, so that none goes on running (and ending, unseen) meanwhile
        (found by make chaos, seed 635151 run 3: scripts left running through another command's
        moment ended in it, and were then reported stopped)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        exited = [task for cid, task in self._tasks.items() if self._leaders.exited(cid)]
        for t in tasks:
            if t not in exited:
                t.cancel()
        if exited:
            await asyncio.wait(exited, timeout=EXITED_SETTLE_SECONDS)
        for t in exited:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ledger.close()
