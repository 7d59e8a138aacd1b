"""Reboot and resume, as SSM's agent does: a step that exits 194 (3010 on Windows) asks for the node
to reboot, and when the agent is back that same step runs again, then the document goes on.

One mechanism with the agent's interrupted-command handling (agent/recovery.py): the journal.
Before the reboot command runs, the command's journal gets a reboot record (``R``: the step that
asked, how many reboots the document has asked for, when, and the signed command as it arrived)
and is made durable. A later life of the agent that finds a command whose journal ends with such a
record, with no step started since, resumes it from that step; the signed command is verified
again first (nothing runs unsigned), at the time it was taken (its validity window was checked
then). Any other command without a result was interrupted and is reported Failed, as before: a
step runs again only because it asked to.

Bounds: at most ``max_reboots`` reboots per document (the next request fails its step), and a
reboot record older than ``max_age_seconds`` (48 h, SSM's) is not resumed: the invocation ends
Failed saying so.
"""
from __future__ import annotations

import asyncio
import logging
import os
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.errors import OutpostError
from plugins.sdk.facts import Platform
from plugins.sdk.status import EXIT_REBOOT, EXIT_REBOOT_WINDOWS
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.envelope import SignedCommand
from plugins.sdk.wire.results import OutputChunk, StepReport

log = logging.getLogger(__name__)

# the step's index, reboots asked so far (this one included), when (ms), what for (REBOOT or RESTART)
_REBOOT = struct.Struct(">IIqB")
REBOOT = 0  # the node reboots (exit 194 / 3010): resumed as soon as the agent is back
RESTART = 1  # only the agent restarts, by a plugin's updater: resumed once the new agent is connected
MAX_REBOOTS = 10
MAX_AGE_SECONDS = 48 * 3600
REBOOT_COMMAND_SECONDS = 60.0  # how long the reboot command may take to start the reboot


def default_reboot_command(platform: Platform) -> tuple[str, ...]:
    """A reboot a minute from now, so the agent's reports and journal go out first."""
    if platform is Platform.WINDOWS:
        return ("shutdown", "/r", "/t", "60", "/c", "Outpost: a command step asked for a reboot")
    return ("shutdown", "-r", "+1", "Outpost: a command step asked for a reboot")


def asks_reboot(exit_code: int, platform: Platform) -> bool:
    """Whether a step's exit code asks for a reboot on this platform (SSM: 194; 3010 on Windows)."""
    return exit_code == (EXIT_REBOOT_WINDOWS if platform is Platform.WINDOWS else EXIT_REBOOT)


@dataclass(frozen=True)
class RebootPolicy:
    command: tuple[str, ...]  # run once the reboot record is durable; it must reboot the node
    max_reboots: int = MAX_REBOOTS
    max_age_seconds: float = MAX_AGE_SECONDS


@dataclass(frozen=True)
class RebootRecord:
    step_index: int
    reboots: int  # how many reboots this document has asked for, this one included
    at_ms: int
    signed: SignedCommand
    kind: int = REBOOT

    def to_bytes(self) -> bytes:
        return _REBOOT.pack(self.step_index, self.reboots, self.at_ms, self.kind) + wire.command_to_bytes(self.signed)

    @classmethod
    def from_bytes(cls, payload: bytes) -> RebootRecord:
        try:
            index, reboots, at, kind = _REBOOT.unpack_from(payload)
        except struct.error as exc:
            raise ValueError(f"a reboot record cut short: {exc}") from None
        if kind not in (REBOOT, RESTART):
            raise ValueError(f"a reboot record of unknown kind {kind}")
        return cls(index, reboots, at, wire.command_from_bytes(payload[_REBOOT.size:]), kind)


class RebootRequested(OutpostError):
    """Raised out of the runner: a step asked for a reboot. ``earlier``: the reports of the steps
    before it, as sent."""

    def __init__(self, report: StepReport, earlier: tuple[StepReport, ...], started_at_ms: int,
                 kind: int = REBOOT) -> None:
        super().__init__(f"step {report.step_name!r} asked for a reboot")
        self.kind = kind
        self.report = report  # the step's own report (exit 194 or 3010), kept should the reboot not happen
        self.step_index = report.step_index
        self.step_name = report.step_name
        self.earlier = earlier
        self.started_at_ms = started_at_ms


@dataclass(frozen=True)
class Resume:
    """Where a resumed command goes on: the step that asked for the reboot runs again, after the
    steps before it as they were reported."""
    step_index: int
    reboots: int
    started_at_ms: int
    earlier: tuple[StepReport, ...] = ()
    # the next output chunk number of each (step, stream) that wrote before the reboot
    next_seq: Mapping[tuple[str, OutputStreamKind], int] = field(default_factory=dict)


def resume_of(record: RebootRecord, messages: Sequence[object], taken_at_ms: int) -> Resume:
    """The Resume a reboot record and the command's journaled messages make."""
    earlier = tuple(m for m in messages if isinstance(m, StepReport) and m.step_index < record.step_index)
    seqs: dict[tuple[str, OutputStreamKind], int] = {}
    for m in messages:
        if isinstance(m, OutputChunk):
            key = (m.step_name, m.stream)
            seqs[key] = max(seqs.get(key, 0), m.seq + 1)
    return Resume(record.step_index, record.reboots, taken_at_ms or record.at_ms, earlier, seqs)


async def run_reboot_command(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """Run the reboot command in a session of its own (the reboot must not die with the agent);
    None when it started the reboot (exited 0), else why not."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.PIPE, start_new_session=True, env=dict(env))
    except OSError as exc:
        return f"the reboot command {argv[0]!r} could not start: {exc.strerror or exc}"
    try:
        _, err = await asyncio.wait_for(proc.communicate(), REBOOT_COMMAND_SECONDS)
    except TimeoutError:
        return f"the reboot command {argv[0]!r} did not finish within {REBOOT_COMMAND_SECONDS:g} s"
    if proc.returncode != 0:
        said = err.decode(errors="replace").strip().splitlines()
        return f"the reboot command {argv[0]!r} exited {proc.returncode}" + (f": {said[-1][:200]}" if said else "")
    return None


def agent_environment() -> dict[str, str]:
    """The reboot command's environment: the agent's, with its pid (a stand-in for a reboot in the
    tests restarts the agent with it)."""
    return {**os.environ, "OUTPOST_AGENT_PID": str(os.getpid()), "OUTPOST_PYTHON": sys.executable}
