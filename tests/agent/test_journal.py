"""agent.journal and agent.recovery: what an agent holds of each command, read back by its next
life; a command it died under is reported interrupted after what it left running is killed."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import psutil
import pytest

from agent import journal_records
from agent.journal import Journal, ProcessRecord, StepStart
from agent.journal_file import COMPACT_MIN_BYTES, JournalFile
from agent.journal_records import read_journal
from agent.outbox import Outbox
from agent.recovery import kill_leftovers, recover
from agent.runner import Runner, RunnerOptions
from plugins.sdk.contract import OutputStreamKind, PluginSpec, RunContext, StepOutcome
from plugins.sdk.errors import ConfigError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import ScrubFilter
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Step
from plugins.sdk.wire.messages import Accepted, AgentMessage
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport, OutputChunk, Refusal, StepReport
from tests.agent.runner_harness import NODE, FakePlugin, OutcomePlugin, Recorder, command

CID = "cmd-1"


def journal(tmp_path: Path, owner: str = "", file: JournalFile | None = None) -> Journal[AgentMessage]:
    """An agent's journal; a new one on the same directory stands for the agent's next life."""
    return Journal(file or JournalFile(tmp_path / "journal"), owner, wire.agent_message_to_bytes,
                   wire.agent_message_from_bytes)


def step(index: int, detail: Detail = Detail.SUCCESS) -> StepReport:
    return StepReport(CID, index, f"s{index}", "shell", detail, 0, 10, 20, "")


def test_what_is_written_reads_back_in_order(tmp_path: Path) -> None:
    j = journal(tmp_path)
    chunk = OutputChunk(CID, "s0", OutputStreamKind.STDOUT, 0, b"hello\x00\xff")
    j.taken(CID, 1234)
    j.message(CID, Accepted(CID))
    j.step_started(CID, StepStart(0, "s0", "shell", 1300))
    j.process_started(CID, os.getpid())
    j.message(CID, chunk)
    j.message(CID, step(0))
    (entry,) = journal(tmp_path).read_all()
    assert (entry.command_id, entry.taken_at_ms, entry.damaged) == (CID, 1234, False)
    assert entry.messages == [Accepted(CID), chunk, step(0)]
    assert entry.steps == [StepStart(0, "s0", "shell", 1300)]
    assert [p.pid for p in entry.processes] == [os.getpid()]
    assert entry.processes[0].started == psutil.Process().create_time()


def test_a_step_name_with_a_nul_reads_back_whole(tmp_path: Path) -> None:
    """Found by tests/fuzz: the step record splits name and action at a NUL, which a step's name
    (any text in a document) may hold; an action that runs never does."""
    journal(tmp_path).step_started(CID, StepStart(0, "a\0b", "shell", 1))
    (entry,) = journal(tmp_path).read_all()
    assert entry.steps == [StepStart(0, "a\0b", "shell", 1)]


def test_a_forgotten_command_leaves_nothing(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.taken(CID, 1)
    j.forget(CID)
    j.forget(CID)  # twice is harmless
    assert journal(tmp_path).read_all() == [] and (tmp_path / "journal").stat().st_size == 0


def test_the_file_empties_when_nothing_is_held_and_keeps_what_still_is(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.taken(CID, 1)
    j.taken("cmd-2", 2)
    j.message("cmd-2", step(0))
    j.forget("cmd-2")
    assert (tmp_path / "journal").stat().st_size > 0  # cmd-1 is still held
    assert set(read_journal(tmp_path / "journal")) == {("", CID)}
    j.forget(CID)
    assert (tmp_path / "journal").stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal", "journal.lock"]


def test_forgotten_records_are_compacted_away_once_they_outweigh_what_is_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that runs for long keeps the file from emptying; what was forgotten meanwhile goes
    once it reaches what is held (and at least COMPACT_MIN_BYTES): the file stays about twice what
    is held, however much passes through it. A compaction copies what it knows is held without
    reading records again (a swarm's results wait up to a heartbeat for their acknowledgement, so
    its file is rarely empty: parsing it cost 0.15 s of each 10,000-node fan-out)."""
    j = journal(tmp_path)
    j.taken("long", 1)
    monkeypatch.setattr(journal_records, "_frames", None)  # opened already: never called again
    j.message("long", step(0))
    chunk = OutputChunk(CID, "s0", OutputStreamKind.STDOUT, 0, b"x" * 64 * 1024)
    biggest = 0
    for i in range(400):  # about 26 MB through the file
        cid = f"cmd-{i}"
        j.taken(cid, i)
        j.message(cid, chunk)
        j.forget(cid)
        biggest = max(biggest, (tmp_path / "journal").stat().st_size)
    assert biggest <= COMPACT_MIN_BYTES + 2 * 64 * 1024 + 1024
    monkeypatch.undo()
    (entry,) = journal(tmp_path).read_all()
    assert (entry.command_id, entry.taken_at_ms, entry.messages) == ("long", 1, [step(0)])


def test_a_command_forgotten_then_held_again_keeps_only_its_new_records_through_a_compaction(
        tmp_path: Path) -> None:
    """A command redelivered after its result was acknowledged is held again (its answer: "took
    this command before"). A compaction keeps only what was recorded after it was forgotten: the
    next life never replays messages the controller acknowledged."""
    j = journal(tmp_path)
    j.taken("long", 2)  # keeps the file from emptying
    j.taken(CID, 1)
    j.message(CID, step(0))
    j.forget(CID)
    j.message(CID, Accepted(CID))  # the redelivery's answer
    chunk = OutputChunk("cmd-x", "s0", OutputStreamKind.STDOUT, 0, b"x" * 64 * 1024)
    for i in range(2 * COMPACT_MIN_BYTES // len(chunk.data)):  # forgotten bytes enough for a compaction
        j.taken(f"other-{i}", i)
        j.message(f"other-{i}", chunk)
        j.forget(f"other-{i}")
    assert (tmp_path / "journal").stat().st_size < COMPACT_MIN_BYTES  # it was compacted
    entries = {e.command_id: e for e in journal(tmp_path).read_all()}
    assert entries.keys() == {CID, "long"}
    assert (entries[CID].taken_at_ms, entries[CID].messages) == (0, [Accepted(CID)])


def test_agents_sharing_a_file_each_read_back_their_own(tmp_path: Path) -> None:
    """A swarm's agents share one file, each under its own name (agent/swarm/main.py)."""
    shared = JournalFile(tmp_path / "journal")
    a, b = journal(tmp_path, "agent-000001", shared), journal(tmp_path, "agent-000002", shared)
    a.taken(CID, 1)
    b.taken(CID, 2)
    b.message(CID, step(0))
    a.forget(CID)
    shared.close()
    again = JournalFile(tmp_path / "journal")
    assert journal(tmp_path, "agent-000001", again).read_all() == []
    (entry,) = journal(tmp_path, "agent-000002", again).read_all()
    assert (entry.taken_at_ms, entry.messages) == (2, [step(0)])
    assert journal(tmp_path, "agent-000002", again).read_all() == []  # taken once


def test_a_rewrite_cut_short_by_a_kill_leaves_the_file_whole(tmp_path: Path) -> None:
    """A kill -9 while the file was being rewritten leaves ``journal.new`` beside the whole file."""
    j = journal(tmp_path)
    j.taken(CID, 1)
    j.message(CID, step(0))
    (tmp_path / "journal.new").write_bytes(b"half a rewrite")
    next_life = journal(tmp_path)
    (entry,) = next_life.read_all()
    assert (entry.taken_at_ms, entry.messages, entry.damaged) == (1, [step(0)], False)
    assert not (tmp_path / "journal.new").exists()
    next_life.forget(CID)  # acknowledged in the next life: nothing is left
    assert (tmp_path / "journal").stat().st_size == 0


@pytest.mark.parametrize("damage", ["cut", "flipped", "garbage"])
def test_reading_stops_at_a_damaged_record_and_keeps_what_came_before(tmp_path: Path, damage: str) -> None:
    j = journal(tmp_path)
    j.taken(CID, 1)
    j.message(CID, step(0))
    j.taken("cmd-2", 2)
    good = (tmp_path / "journal").stat().st_size
    j.message(CID, step(1))
    data = (tmp_path / "journal").read_bytes()
    if damage == "cut":
        data = data[:-3]
    elif damage == "flipped":
        data = data[:-1] + bytes([data[-1] ^ 0xFF])
    else:
        data = data[:good] + b"\xff" * 40
    (tmp_path / "journal").write_bytes(data)
    next_life = journal(tmp_path)
    first, second = next_life.read_all()
    assert first.damaged and first.messages == [step(0)]
    assert second.damaged and second.command_id == "cmd-2"  # whatever came after the damage is unknown
    # the file was rewritten without the damage: what the next life writes reads back
    next_life.message(CID, step(2))
    (tmp_path / "journal.bak").write_bytes((tmp_path / "journal").read_bytes())
    entries = {e.command_id: e for e in journal(tmp_path).read_all()}
    assert entries[CID].messages == [step(0), step(2)] and not entries[CID].damaged


def test_a_record_that_is_not_a_command_id_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        journal(tmp_path).taken("../escape", 1)


def test_an_unwritable_journal_is_told_once_and_the_agent_goes_on(tmp_path: Path, caplog) -> None:
    j = journal(tmp_path / "missing")  # its directory is gone: every append fails
    for i in range(3):
        j.message(CID, step(i))
    assert sum("not written" in r.message for r in caplog.records) == 1


def test_a_write_that_fails_part_way_leaves_no_torn_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk cuts a write short: the file is cut back to its last whole record, so what is
    written once there is room again reads back."""
    j = journal(tmp_path)
    j.taken(CID, 1)
    real_write = os.write

    def short(fd: int, data) -> int:
        if len(data) > 10:
            real_write(fd, bytes(data[:10]))
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "write", short)
    j.message(CID, step(0))
    monkeypatch.setattr(os, "write", real_write)
    j.message(CID, step(1))
    (entry,) = journal(tmp_path).read_all()
    assert (entry.taken_at_ms, entry.messages, entry.damaged) == (1, [step(1)], False)


def test_results_are_made_durable_a_batch_at_a_time(tmp_path: Path) -> None:
    synced: list[list[Path]] = []

    async def sync(paths) -> None:
        synced.append(list(paths))

    async def main() -> None:
        j: Journal[AgentMessage] = Journal(JournalFile(tmp_path / "journal", sync), "", wire.agent_message_to_bytes,
                                           wire.agent_message_from_bytes,
                                           lambda m: isinstance(m, (StepReport, InvocationReport)))
        j.message(CID, Accepted(CID))
        j.message(CID, step(0))
        j.message("cmd-2", StepReport("cmd-2", 0, "a", "shell", Detail.SUCCESS, 0, 1, 2))
        await j.synced()
    asyncio.run(main())
    assert synced == [[tmp_path / "journal"]]


def test_what_one_turn_records_is_written_in_one_write_before_what_it_queued_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On an event loop, the records of one turn (every command's, every owner's) go to the file in
    one write at the end of the turn: before a callback queued after them (the stream's send) runs;
    a process group's at once."""
    writes: list[int] = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(len(data)) or real_write(fd, data))
    seen: dict[str, object] = {}

    async def main() -> None:
        shared = JournalFile(tmp_path / "journal")
        j, other = journal(tmp_path, "a", shared), journal(tmp_path, "b", shared)
        j.taken(CID, 1)
        j.message(CID, Accepted(CID))
        j.step_started(CID, StepStart(0, "s0", "shell", 2))
        other.message("cmd-2", Accepted("cmd-2"))
        assert not (tmp_path / "journal").exists() or not (tmp_path / "journal").stat().st_size  # not yet
        asyncio.get_running_loop().call_soon(lambda: seen.update(at_send=read_journal(tmp_path / "journal")))
        await asyncio.sleep(0)
        j.process_started(CID, os.getpid())
        seen["after_process"] = len(writes)
    asyncio.run(main())
    held = seen["at_send"]
    assert [kind for kind, _ in held[("a", CID)].records] == [b"T", b"M", b"S"]  # type: ignore[index]
    assert [kind for kind, _ in held[("b", "cmd-2")].records] == [b"M"]  # type: ignore[index]
    assert seen["after_process"] == 2 and len(writes) == 2  # one for the turn, the process at once


# ---------------------------------------------------------------------- recovery


def test_a_command_with_its_result_is_only_replayed(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.taken(CID, 5)
    final = InvocationReport(CID, Detail.SUCCESS, 0, 5, 9, (step(0),))
    j.message(CID, final)
    rec = recover(journal(tmp_path).read_all()[0])
    assert rec.messages == (final,) and not rec.interrupted
    refused = Refusal("cmd-2", "bad_signature", "x")
    j.message("cmd-2", refused)
    entries = {e.command_id: e for e in journal(tmp_path).read_all()}
    assert recover(entries["cmd-2"]).messages == (refused,)


def _group(tmp_path: Path) -> subprocess.Popen:
    """A process group like a step's: a shell leading its own session, with a child of its own."""
    proc = subprocess.Popen(["sh", "-c", f"sleep 60 & echo $! > {tmp_path / 'child'}; wait"], start_new_session=True)
    deadline = time.monotonic() + 10
    while not (tmp_path / "child").exists() or not (tmp_path / "child").read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_an_interrupted_command_has_its_leftovers_killed_and_is_reported_failed(tmp_path: Path) -> None:
    proc = _group(tmp_path)
    child = int((tmp_path / "child").read_text())
    try:
        j = journal(tmp_path / "j")
        (tmp_path / "j").mkdir()
        j.taken(CID, 100)
        j.message(CID, step(0))
        j.step_started(CID, StepStart(1, "s1", "shell", 150))
        j.process_started(CID, proc.pid)
        rec = recover(journal(tmp_path / "j").read_all()[0], grace_seconds=2)
        proc.wait(timeout=5)
        assert _gone(child)
        assert rec.interrupted and rec.messages[0] == step(0)
        final = rec.messages[-1]
        assert isinstance(final, InvocationReport)
        assert (final.detail, final.exit_code, final.started_at_ms) == (Detail.FAILED, NO_EXIT_CODE, 100)
        assert [(s.step_index, s.detail) for s in final.steps] == [(0, Detail.SUCCESS), (1, Detail.FAILED)]
        assert "interrupted" in final.steps[1].error and "killed" in final.steps[1].error
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_group_whose_leader_is_gone_is_still_killed(tmp_path: Path) -> None:
    proc = _group(tmp_path)
    child = int((tmp_path / "child").read_text())
    record = ProcessRecord(proc.pid, psutil.Process(proc.pid).create_time(), psutil.boot_time())
    os.kill(proc.pid, signal.SIGKILL)  # the leader dies; its background child lives on in the group
    proc.wait()
    assert not _gone(child)
    assert kill_leftovers([record], grace_seconds=2) == 1
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(child)


def test_a_process_is_recorded_with_the_start_time_recovery_compares_whatever_its_name(tmp_path: Path) -> None:
    exe = tmp_path / "a) 1 2 (b"  # its name in /proc/PID/stat, in parentheses, looks like more fields
    exe.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(exe), "30"])
    try:
        j = journal(tmp_path)
        j.taken(CID, 1)
        j.process_started(CID, proc.pid)
        (entry,) = journal(tmp_path).read_all()
        (record,) = entry.processes
        assert record == ProcessRecord(proc.pid, psutil.Process(proc.pid).create_time(), psutil.boot_time())
    finally:
        proc.kill()
        proc.wait()
    j.process_started("cmd-2", proc.pid)  # gone: nothing recorded
    assert [e.command_id for e in journal(tmp_path).read_all()] == [CID]


@pytest.mark.parametrize("stale", ["start_time", "boot"])
def test_a_process_that_is_not_the_recorded_one_is_never_killed(tmp_path: Path, stale: str) -> None:
    proc = _group(tmp_path)
    try:
        started, boot = psutil.Process(proc.pid).create_time(), psutil.boot_time()
        record = ProcessRecord(proc.pid, started - 50 if stale == "start_time" else started,
                               boot - 3600 if stale == "boot" else boot)  # a pid reused since; another boot
        assert kill_leftovers([record], grace_seconds=0.2) == 0
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_second_agent_on_the_same_state_directory_does_not_start(tmp_path: Path) -> None:
    """Another process holding the journal (an agent already running on the state directory): this
    one refuses, naming that agent's pid, rather than rewrite the file under it and take its
    commands for a previous life's."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from agent.journal_file import JournalFile; "
         f"JournalFile(Path({str(tmp_path / 'journal')!r})).open(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"another agent \(pid {holder.pid}\) is running on .*locked"):
            JournalFile(tmp_path / "journal").open()
    finally:
        holder.kill()
        holder.wait()
    JournalFile(tmp_path / "journal").open()  # the lock went with the process


def test_a_step_is_on_record_before_its_plugin_runs(tmp_path: Path) -> None:
    """A kill -9 between a step's process starting and the end of the event loop's turn once left a
    process whose step the next life did not know of (make chaos, seed 588909 run 5: reported "did
    not run", while the script ran on, unsupervised). The runner waits for the step's record to be
    written before the plugin runs; what the plugin sees on disk already names its step."""
    seen: list[set[bytes]] = []

    class Peek(FakePlugin):
        spec: ClassVar[PluginSpec] = dataclasses.replace(OutcomePlugin.spec, name="peek")

        async def run(self, ctx: RunContext, inputs: object) -> StepOutcome:
            seen.append({kind for kind, _ in read_journal(tmp_path / "journal")[("", CID)].records})
            return StepOutcome(Detail.SUCCESS, 0)

    async def main() -> None:
        j = journal(tmp_path)
        j.taken(CID, 1)
        rec = Recorder()
        runner = Runner(PluginRegistry([Peek(rec)]), NODE, Platform.LINUX, tmp_path / "work", Outbox(), RunnerOptions(),
                        ScrubFilter(), j)
        await runner.run(command(CID, Step("look", "peek", {})), lambda: False)
    asyncio.run(main())
    assert seen == [{b"T", b"S"}]


def test_a_step_process_the_journal_does_not_name_is_found_by_its_environment_and_killed(tmp_path: Path) -> None:
    """The other side of that moment: the step is on record but its process is not (the kill came
    before the agent noted the pid). The next life finds the step's processes by the command and
    node ids every step process carries, and kills them; another node's are left alone."""
    def step_process(node: str) -> subprocess.Popen:
        env = {**os.environ, "OUTPOST_COMMAND_ID": CID, "OUTPOST_NODE_ID": node}
        return subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    ours, other = step_process("mi-ours"), step_process("mi-other")
    try:
        j = journal(tmp_path)
        j.taken(CID, 1)
        j.step_started(CID, StepStart(0, "s0", "shell", 2))  # and no process record
        (entry,) = journal(tmp_path).read_all()
        rec = recover(entry, "mi-ours", grace_seconds=2)
        ours.wait(timeout=5)
        assert other.poll() is None
        final = rec.messages[-1]
        assert isinstance(final, InvocationReport) and "interrupted" in final.error and "killed" in final.error
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()
