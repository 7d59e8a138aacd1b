"""agent.reboot with the runner and the journal: which exit codes ask for a reboot, where a resumed
command goes on, when it is not resumed, and the bound on reboots per document."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.journal import Journal, StepStart
from agent.journal_file import JournalFile
from agent.reboot import RESTART, RebootRecord, RebootRequested, Resume, asks_reboot, resume_of
from agent.runner import RunnerOptions
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.facts import Platform
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Step
from plugins.sdk.wire.envelope import SignedCommand
from plugins.sdk.wire.messages import AgentMessage
from plugins.sdk.wire.results import OutputChunk, StepReport
from tests.agent.runner_harness import CheckablePlugin, Harness, command, exits, ok


@pytest.mark.parametrize(("code", "platform", "asks"), [
    (194, Platform.LINUX, True), (194, Platform.MACOS, True), (3010, Platform.WINDOWS, True),
    (3010, Platform.LINUX, False), (194, Platform.WINDOWS, False), (0, Platform.LINUX, False),
    (168, Platform.LINUX, False)])
def test_which_exit_codes_ask_for_a_reboot(code: int, platform: Platform, asks: bool) -> None:
    assert asks_reboot(code, platform) is asks


def test_a_step_exiting_194_raises_with_the_reports_before_it(h: Harness) -> None:
    with pytest.raises(RebootRequested) as caught:
        h.run(ok("a"), exits("b", 194), ok("c"))
    req = caught.value
    assert (req.step_index, req.step_name, req.report.exit_code) == (1, "b", 194)
    assert [r.step_name for r in req.earlier] == ["a"]
    assert h.rec.steps == ["a", "b"], "nothing after the step that asked runs before the reboot"


def test_a_resumed_command_runs_the_step_again_then_the_rest(h: Harness) -> None:
    before = StepReport("cmd-0001", 0, "a", "exit", Detail.SUCCESS, 0, 1, 2)
    resume = Resume(1, 1, 5, (before,), {("b", OutputStreamKind.STDOUT): 3})
    result = asyncio.run(h.runner().run(command("cmd-0001", ok("a"), exits("b", 0), ok("c")), lambda: False,
                                        resume=resume))
    assert h.rec.steps == ["b", "c"], "the step before the reboot is not run again"
    assert (result.detail, result.started_at_ms) == (Detail.SUCCESS, 5)
    assert [s.step_name for s in result.steps] == ["a", "b", "c"] and result.steps[0] is before


def test_after_max_reboots_the_next_request_fails_the_step(tmp_path: Path) -> None:
    h = Harness(tmp_path, options=RunnerOptions(max_reboots=2))
    result = asyncio.run(h.runner().run(command("cmd-0001", exits("b", 194), ok("c")), lambda: False,
                                        resume=Resume(0, 2, 5)))
    assert (result.detail, result.exit_code) == (Detail.FAILED, 194)
    assert result.steps[0].error == "asked for a reboot after 2 reboots of this document; the limit is 2"


def test_a_check_mode_step_never_asks_for_a_reboot(h: Harness) -> None:
    h.extra = (CheckablePlugin,)
    result = h.run(Step("b", "checkable", {"detail": "Failed", "exit_code": 194}, check_mode=True))
    assert (result.detail, result.exit_code) == (Detail.FAILED, 194)


def _signed() -> SignedCommand:
    return SignedCommand(b"envelope", b"signature", b"document", b"proof")


def test_the_reboot_record_round_trips_and_garbage_is_refused() -> None:
    record = RebootRecord(3, 2, 1234, _signed())
    assert RebootRecord.from_bytes(record.to_bytes()) == record
    restart = RebootRecord(0, 1, 1, _signed(), RESTART)
    assert RebootRecord.from_bytes(restart.to_bytes()).kind == RESTART
    with pytest.raises(ValueError):
        RebootRecord.from_bytes(record.to_bytes()[:12] + b"\xff\xff\xff")


def test_resume_numbers_output_after_what_was_sent() -> None:
    record = RebootRecord(1, 1, 99, _signed())
    messages = [StepReport("c", 0, "a", "x", Detail.SUCCESS, 0, 1, 2),
                OutputChunk("c", "b", OutputStreamKind.STDOUT, 0, b"x"),
                OutputChunk("c", "b", OutputStreamKind.STDOUT, 1, b"y"),
                OutputChunk("c", "b", OutputStreamKind.STDERR, 0, b"z")]
    resume = resume_of(record, messages, 7)
    assert (resume.step_index, resume.reboots, resume.started_at_ms) == (1, 1, 7)
    assert resume.next_seq == {("b", OutputStreamKind.STDOUT): 2, ("b", OutputStreamKind.STDERR): 1}
    assert [r.step_name for r in resume.earlier] == ["a"]


def _journal(tmp_path: Path) -> Journal[AgentMessage]:
    return Journal(JournalFile(tmp_path / "journal"), "", wire.agent_message_to_bytes, wire.agent_message_from_bytes)


def test_the_journal_awaits_a_reboot_only_while_no_step_started_since(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.taken("cmd-1", 1)
    j.step_started("cmd-1", StepStart(0, "a", "shell", 2))
    j.reboot_requested("cmd-1", RebootRecord(0, 1, 3, _signed()).to_bytes())
    j.taken("cmd-2", 1)
    j.step_started("cmd-2", StepStart(0, "a", "shell", 2))
    j.reboot_requested("cmd-2", RebootRecord(0, 1, 3, _signed()).to_bytes())
    j.step_started("cmd-2", StepStart(0, "a", "shell", 4))  # resumed, then the agent died under it
    j.flush()
    entries = {e.command_id: e for e in _journal(tmp_path).read_all()}
    assert entries["cmd-1"].awaits_reboot and RebootRecord.from_bytes(entries["cmd-1"].reboot).at_ms == 3
    assert not entries["cmd-2"].awaits_reboot, "a step started after the reboot: interrupted, never run again"
