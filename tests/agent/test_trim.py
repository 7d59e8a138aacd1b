"""agent.trim: an idle agent gives freed heap and clean library pages back, and loses nothing."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from agent import trim
from agent.cli import _parser
from agent.stop import Stop
from agent.trim import CleanMapping, TrimReport, clean_file_mappings, trim_when_idle

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/smaps")


def mapping(head: str, *, rss: int = 8, anonymous: int = 0, swap: int = 0, locked: int = 0) -> str:
    return (f"{head}\nSize:                 16 kB\nRss:                 {rss} kB\nPss:                  4 kB\n"
            f"Anonymous:           {anonymous} kB\nSwap:                {swap} kB\nLocked:              {locked} kB\n"
            "VmFlags: rd ex mr mw me\n")


SMAPS = "".join([
    mapping("7f0000000000-7f0000004000 r--p 00000000 fe:00 11   /usr/lib/libfoo.so", rss=12),
    mapping("7f0000004000-7f0000010000 r-xp 00004000 fe:00 11   /usr/lib/libfoo.so", rss=48),
    mapping("7f0000010000-7f0000012000 r--p 00010000 fe:00 11   /usr/lib/libfoo.so", anonymous=8),  # RELRO
    mapping("7f0000012000-7f0000013000 rw-p 00012000 fe:00 11   /usr/lib/libfoo.so"),  # writable data
    mapping("7f0000020000-7f0000021000 r--s 00000000 fe:00 12   /dev/shm/shared"),  # shared
    mapping("7f0000030000-7f0000031000 r-xp 00000000 fe:00 13   /usr/lib/old.so (deleted)"),
    mapping("7f0000040000-7f0000041000 r--p 00000000 fe:00 14   /usr/lib/swapped.so", swap=4),
    mapping("7f0000050000-7f0000051000 r-xp 00000000 fe:00 15   /usr/lib/locked.so", locked=4),
    mapping("7f0000060000-7f0000061000 r--p 00000000 00:00 0 "),  # anonymous
    mapping("55d000000000-55d000100000 rw-p 00000000 00:00 0                          [heap]"),
    mapping("7fff00000000-7fff00002000 r-xp 00000000 00:00 0                          [vdso]"),
    mapping("7f0000070000-7f0000071000 r--p 00000000 fe:00 16   /opt/with space/lib.so", rss=4),
])


def test_only_clean_private_read_only_file_mappings_are_eligible() -> None:
    assert clean_file_mappings(SMAPS) == [
        CleanMapping(0x7F0000000000, 0x7F0000004000, 12 * 1024, "/usr/lib/libfoo.so"),
        CleanMapping(0x7F0000004000, 0x7F0000010000, 48 * 1024, "/usr/lib/libfoo.so"),
        CleanMapping(0x7F0000070000, 0x7F0000071000, 4 * 1024, "/opt/with space/lib.so"),
    ]


@linux_only
def test_this_process_has_clean_mappings_and_none_is_writable_or_shared() -> None:
    found = clean_file_mappings(trim.SMAPS.read_text())
    assert found and all(m.path.startswith("/") and m.end > m.start for m in found)
    perms = {line.split()[0]: line.split()[1] for line in Path("/proc/self/maps").read_text().splitlines()}
    assert all(perms[f"{m.start:x}-{m.end:x}"][1] == "-" and perms[f"{m.start:x}-{m.end:x}"][3] == "p"
               for m in found if f"{m.start:x}-{m.end:x}" in perms)


def test_elsewhere_than_linux_each_step_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert trim.malloc_trim() is False
    assert trim.drop_clean_file_pages() == 0
    assert trim.trim_memory() == TrimReport(heap_trimmed=False, file_bytes_dropped=0)


def test_malloc_trim_answers_a_bool() -> None:
    assert isinstance(trim.malloc_trim(), bool)


@linux_only
def test_without_smaps_nothing_is_dropped(tmp_path: Path) -> None:
    assert trim.drop_clean_file_pages(tmp_path / "no-smaps") == 0


@linux_only
def test_a_trimmed_process_still_verifies_signatures_speaks_protobuf_and_grpc() -> None:
    """Dropped pages come back from the file on use: everything loaded before works after."""
    script = """
import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from agent.trim import trim_memory
from outpost.v1 import outpost_pb2 as pb
key = Ed25519PrivateKey.generate()
report = trim_memory()
assert report.file_bytes_dropped > 0, report
sig = key.sign(b"envelope")
key.public_key().verify(sig, b"envelope")
msg = pb.Envelope(command_id="c-1", node_id="mi-0")
assert pb.Envelope.FromString(msg.SerializeToString()).command_id == "c-1"
grpc.ssl_channel_credentials()
grpc.insecure_channel("127.0.0.1:9").close()
print("ok", trim_memory().file_bytes_dropped > 0)
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", "True"]


class ScriptedAgent:
    """Answers one (connected, commands_run) pair per poll, then stops the trimmer."""

    def __init__(self, polls: list[tuple[bool, int]], stop: Stop) -> None:
        self._polls = polls
        self._stop = stop
        self.poll = -1
        self._done = 0

    @property
    def connected(self) -> bool:
        self.poll += 1
        if self.poll >= len(self._polls):
            self._stop.set()
            return False
        connected, self._done = self._polls[self.poll]
        return connected

    @property
    def commands_run(self) -> int:
        return self._done


def trims_at(polls: list[tuple[bool, int]], fail: bool = False) -> list[int]:
    async def go() -> list[int]:
        stop = Stop()
        agent = ScriptedAgent(polls, stop)
        at: list[int] = []

        def fake_trim() -> TrimReport:
            at.append(agent.poll)
            if fail:
                raise OSError("no")
            return TrimReport(True, 1)

        await asyncio.wait_for(trim_when_idle(agent, stop, poll_seconds=0, trim=fake_trim), 5)
        return at

    return asyncio.run(go())


def test_trims_once_connected_and_quiet_then_after_each_batch_of_commands() -> None:
    polls = [(False, 0), (True, 0), (True, 0), (True, 0), (True, 0),  # connected: trim once at poll 2
             (True, 1), (True, 2), (True, 2), (True, 2),  # commands finished: trim when they stop (poll 7)
             (False, 2), (True, 2), (True, 2), (True, 2)]  # reconnected: trim again (poll 11)
    assert trims_at(polls) == [2, 7, 11]


def test_never_trims_while_disconnected() -> None:
    assert trims_at([(False, 0)] * 6) == []


def test_a_failing_trim_never_ends_the_trimmer() -> None:
    assert trims_at([(True, 0), (True, 0), (True, 0), (True, 1), (True, 1)], fail=True) == [1, 4]


def test_memory_trim_is_on_unless_turned_off() -> None:
    assert _parser().parse_args(["run", "--state-dir", "x"]).memory_trim is True
    assert _parser().parse_args(["run", "--state-dir", "x", "--no-memory-trim"]).memory_trim is False
