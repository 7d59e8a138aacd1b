"""What a starting agent does with the commands its previous life held (agent/journal.py).

A command whose journal ends with its result (it finished, was refused, or the previous life
stopped it on SIGTERM and said so) is only replayed to the controller. A command with no result was
interrupted: the agent died under it (kill -9, a crash, the machine's power). Outpost runs each
command at most once per node, so it is never run again; instead what the previous life left
running of it is killed and the invocation is reported Failed, saying why. No step process goes on
unsupervised (docs/architecture.md, "When the agent dies").

A process group is killed only when it is certainly the one the journal recorded: recorded in this
boot of the machine, and its leader, if it still runs, started at the recorded moment (a pid the
system gave to another process since fails that). Linux never gives a new process a pid that is
still some group's id, so while the leader is gone but its group lives, the group is the recorded one.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

import psutil

from agent.journal import JournalEntry, ProcessRecord
from plugins.sdk.host.clock import now_ms
from plugins.sdk.status import Detail
from plugins.sdk.wire.messages import AgentMessage
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport, Refusal, StepReport

log = logging.getLogger(__name__)

KILL_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL for what a previous life left
_POLL_SECONDS = 0.05
_SAME_TIME = 0.01  # psutil's start times are rounded to clock ticks


@dataclass(frozen=True)
class Recovered:
    """A command of a previous life: the messages to replay, its result last."""
    command_id: str
    messages: tuple[AgentMessage, ...]
    interrupted: bool  # it had no result: its leftovers were killed and it is reported Failed


def ends(msg: AgentMessage) -> bool:
    """Whether a message is a command's last word (its result, or its refusal)."""
    return isinstance(msg, (InvocationReport, Refusal))


def _group_members(record: ProcessRecord) -> list[psutil.Process]:
    """The processes of the recorded group still running, or none when the group is not certainly
    the recorded one."""
    if abs(psutil.boot_time() - record.boot) > 1.0:
        return []  # another boot: whatever runs now is not it
    try:
        leader = psutil.Process(record.pid)
        if abs(leader.create_time() - record.started) > _SAME_TIME:
            return []  # the pid is another process's now, so the recorded group is gone
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return []
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == record.pid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def kill_leftovers(records: list[ProcessRecord], grace_seconds: float = KILL_GRACE_SECONDS) -> int:
    """SIGTERM then, after ``grace_seconds``, SIGKILL every recorded group still running; returns
    how many groups had processes left."""
    groups = [(r, members) for r in records if (members := _group_members(r))]
    for record, _ in groups:
        for sig in (signal.SIGTERM, signal.SIGCONT):  # a stopped process must run to act on SIGTERM
            try:
                os.killpg(record.pid, sig)
            except OSError:
                pass
    deadline = time.monotonic() + grace_seconds
    alive = [p for _, members in groups for p in members]
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return len(groups)


def unrecorded_groups(command_id: str, node_id: str) -> list[ProcessRecord]:
    """The process groups of a command's steps that its journal may not name: a kill -9 can come
    between a step's process starting and the agent noting it. Found by the environment every step
    process carries (``OUTPOST_COMMAND_ID`` and ``OUTPOST_NODE_ID``, agent/runner.py); never this
    process's own group."""
    own = os.getpgid(0)
    boot = psutil.boot_time()
    groups: dict[int, ProcessRecord] = {}
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get("OUTPOST_COMMAND_ID") != command_id or env.get("OUTPOST_NODE_ID") != node_id:
                continue
            pgid = os.getpgid(proc.pid)
        except (psutil.Error, OSError):
            continue
        if pgid == own or pgid in groups:
            continue
        try:
            started = psutil.Process(pgid).create_time()
        except psutil.Error:  # the leader is gone: its group is taken as it is (_group_members)
            started = 0.0
        groups[pgid] = ProcessRecord(pgid, started, boot)
    return list(groups.values())


def recover(entry: JournalEntry[AgentMessage], node_id: str = "", *,
            grace_seconds: float = KILL_GRACE_SECONDS) -> Recovered:
    """What to replay of one command; for an interrupted one, its leftovers are killed first and
    the result that says so is last (the caller journals it). ``node_id``: the agent's, to find a
    step's processes the journal does not name (a step started with no process recorded after it)."""
    messages = tuple(entry.messages)
    if messages and ends(messages[-1]):
        return Recovered(entry.command_id, messages, interrupted=False)
    records = list(entry.processes)
    if node_id and len(entry.processes) < len(entry.steps):
        recorded = {r.pid for r in records}
        records += [r for r in unrecorded_groups(entry.command_id, node_id) if r.pid not in recorded]
    killed = kill_leftovers(records, grace_seconds)
    at = now_ms()
    done = {m.step_index for m in messages if isinstance(m, StepReport)}
    steps = [m for m in messages if isinstance(m, StepReport)]
    cut = "; the processes it left were killed" if killed else ""
    for step in entry.steps:
        if step.index not in done:
            steps.append(StepReport(entry.command_id, step.index, step.name, step.action, Detail.FAILED,
                                    NO_EXIT_CODE, step.started_at_ms, at,
                                    f"interrupted: the agent stopped while this step ran{cut}"))
    if entry.steps or steps:
        reason = f"interrupted: the agent stopped while this command ran and does not run a command twice{cut}"
    else:
        reason = "interrupted: the agent stopped before this command's first step started; it did not run"
    if entry.damaged:
        reason += " (its journal was cut short)"
    log.warning("command %s was interrupted by the agent's stop; reporting it Failed (%d process group(s) "
                "killed)", entry.command_id, killed)
    result = InvocationReport(entry.command_id, Detail.FAILED, NO_EXIT_CODE, entry.taken_at_ms or at, at,
                              tuple(steps), reason)
    return Recovered(entry.command_id, (*messages, result), interrupted=True)
