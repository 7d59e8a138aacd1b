"""End to end: `command output --full` reads output of any stored size (the agent keeps up to 16 MB a
step and stream, four times what one gRPC message may carry) as a stream of pieces, byte for byte,
with the CLI's memory bounded by a piece, not by the output; settled (compacted) or still running
(chunks). A step, node or command that does not exist is a one-line error naming it and what there
is. Control characters reach a terminal escaped, and a file as they were printed.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import AgentSpec, create_document, send, shell_document, show, start_fleet, wait_terminal
from tests.support.peak import Measured, run_measured

CAP = 16 * 1024 * 1024  # agent/runner.py RunnerOptions.output_cap_bytes
MARKER = b"\n--output truncated--\n"  # what the agent appends when it cuts a stream there
MB = 1024 * 1024


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("output-stream"))
    c.init()
    try:
        start_fleet(c, [AgentSpec("big", "Environment=dev")])
        yield c
    finally:
        c.close()


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest, fleet: Cluster) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(fleet.logs())


@dataclass(frozen=True)
class BigRun:
    command_id: str
    node_id: str
    noise: bytes  # what step `noise` printed: 17,000,000 random bytes
    text: bytes   # what step `text` printed: base64 lines, some 17.6 MB


@pytest.fixture(scope="module")
def big(fleet: Cluster, tmp_path_factory: pytest.TempPathFactory) -> BigRun:
    """A settled command whose two steps each printed more than the agent keeps."""
    d = tmp_path_factory.mktemp("printed")
    create_document(fleet, d, "Big-Output", shell_document(
        f"noise: head -c 17000000 /dev/urandom | tee {d}/noise; echo warn >&2",
        f"text: head -c 13000000 /dev/urandom | base64 | tee {d}/text; echo done >&2"))
    cid = send(fleet, "--document", "Big-Output", "--targets", "Key=tag:Environment,Values=dev")
    shown = wait_terminal(fleet, cid, timeout=180)
    assert shown["status_detail"] == "Success", shown
    return BigRun(cid, fleet.node_ids["big"], (d / "noise").read_bytes(), (d / "text").read_bytes())


def _kept(printed: bytes) -> bytes:
    assert len(printed) > CAP
    return printed[:CAP] + MARKER


def _same(got: bytes, want: bytes) -> bool:
    return hashlib.sha256(got).digest() == hashlib.sha256(want).digest()


def _output(fleet: Cluster, tmp_path: Path, *args: str) -> Measured:
    return run_measured(fleet, ["command", "output", *args], tmp_path)


def test_full_output_of_16_mb_steps_comes_byte_for_byte_in_bounded_memory(fleet: Cluster, big: BigRun,
                                                                          tmp_path: Path) -> None:
    full = _output(fleet, tmp_path, big.command_id, "--node", big.node_id, "--full")
    assert full.returncode == 0, full.stderr
    want = b"--- noise stdout ---\n" + _kept(big.noise) + b"--- text stdout ---\n" + _kept(big.text)
    assert len(full.stdout) == len(want) and _same(full.stdout, want)
    assert full.stderr == b"--- noise stderr ---\nwarn\n--- text stderr ---\ndone\n"
    # the same CLI reading a step's 32 KB of views is the baseline: 32 MB of output cost less than a stream
    views = _output(fleet, tmp_path, big.command_id, "--node", big.node_id, "--step", "noise")
    assert views.returncode == 0, views.stderr
    grown = full.peak_rss_bytes - views.peak_rss_bytes
    assert grown < CAP, f"the CLI grew {grown / MB:.1f} MB reading {len(want) / MB:.0f} MB (views: " \
                        f"{views.peak_rss_bytes / MB:.0f} MB)"


def test_full_json_of_one_16_mb_step(fleet: Cluster, big: BigRun, tmp_path: Path) -> None:
    measured = _output(fleet, tmp_path, big.command_id, "--node", big.node_id, "--step", "text", "--full",
                       "--output", "json")
    assert measured.returncode == 0, measured.stderr
    (row,) = json.loads(measured.stdout)
    assert row == {"step": "text", "stdout": _kept(big.text).decode(), "stderr": "done\n",
                   "stdout_truncated": True, "stderr_truncated": False}
    views = _output(fleet, tmp_path, big.command_id, "--node", big.node_id, "--step", "text", "--output", "json")
    grown = measured.peak_rss_bytes - views.peak_rss_bytes
    assert grown < CAP, f"the CLI grew {grown / MB:.1f} MB writing {len(measured.stdout) / MB:.0f} MB of JSON"


def test_full_output_of_a_running_step_is_what_is_stored_so_far(fleet: Cluster, tmp_path: Path) -> None:
    printed = tmp_path / "printed"
    cid = send(fleet, "--document", "Outpost-RunShellScript", "--targets", "Key=tag:Environment,Values=dev",
               "--parameters", f"commands=head -c 17000000 /dev/urandom | tee {printed}; sleep 120")
    node = fleet.node_ids["big"]
    try:
        read: list[Measured] = []

        def stored_whole() -> bool:  # the agent sends the marker when it cuts the stream, then the step sleeps
            if not printed.exists() or printed.stat().st_size < 17_000_000:
                return False
            read.append(_output(fleet, tmp_path, cid, "--node", node, "--full"))
            return read[-1].stdout.endswith(MARKER)
        wait_for(stored_whole, 120, "the running step's 16 MB to be stored", interval=1)
        full = read[-1]
        assert full.returncode == 0, full.stderr
        assert _same(full.stdout, b"--- runShellScript stdout ---\n" + _kept(printed.read_bytes()))
        (inv,) = show(fleet, cid)["invocations"]
        assert inv["status"] == "InProgress", inv  # read from its chunks: nothing compacted yet
        views = _output(fleet, tmp_path, cid, "--node", node)
        assert full.peak_rss_bytes - views.peak_rss_bytes < CAP
    finally:
        fleet.outpost("command", "cancel", cid, check=False)


@pytest.mark.parametrize("full", [False, True], ids=["views", "full"])
def test_what_does_not_exist_is_named_with_what_does(fleet: Cluster, big: BigRun, full: bool) -> None:
    extra = ("--full",) if full else ()
    cases = {
        ("--node", big.node_id, "--step", "nosuch"): ["'nosuch'", big.command_id, "its steps are noise, text"],
        ("--node", "mi-nosuch"): ["'mi-nosuch'", big.command_id, f"its nodes are {big.node_id}"],
    }
    for args, needles in cases.items():
        proc = fleet.outpost("command", "output", big.command_id, *args, *extra, check=False)
        assert proc.returncode == 1 and proc.stdout == "", (args, proc)
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        for needle in needles:
            assert needle in proc.stderr, (needle, proc.stderr)
    proc = fleet.outpost("command", "output", "no-such-command", "--node", big.node_id, *extra, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "error: command 'no-such-command' does not exist\n")


# OSC (retitle), CSI (clear the screen), CR, a C1 CSI (U+009B), a byte that is not UTF-8, tab, é
ESCAPES = r"printf 'a\033]0;pwned\007b\033[2Jc\rd\302\233e\377f\tg\n\303\251\n' | tee /dev/stderr"


def _read_all(fd: int, into: bytearray) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            return
        if not data:
            return
        into += data


def test_control_characters_reach_a_terminal_escaped_and_a_file_as_printed(fleet: Cluster, tmp_path: Path) -> None:
    cid = send(fleet, "--document", "Outpost-RunShellScript", "--targets", "Key=tag:Environment,Values=dev",
               "--parameters", f"commands={ESCAPES}")
    assert wait_terminal(fleet, cid)["status_detail"] == "Success"
    node = fleet.node_ids["big"]
    printed = b"a\x1b]0;pwned\x07b\x1b[2Jc\rd\xc2\x9be\xfff\tg\n\xc3\xa9\n"
    for args in ((), ("--full",)):
        to_file = _output(fleet, tmp_path, cid, "--node", node, *args)
        stored = printed if args else printed.decode(errors="replace").encode()  # views are text
        assert to_file.stdout == b"--- runShellScript stdout ---\n" + stored, args
        assert to_file.stderr == b"--- runShellScript stderr ---\n" + stored, args
        main, other = os.openpty()
        seen = bytearray()
        reader = threading.Thread(target=_read_all, args=(main, seen))
        reader.start()
        try:
            on_tty = run_measured(fleet, ["command", "output", cid, "--node", node, *args], tmp_path, stdout=other)
        finally:
            os.close(other)
            reader.join(timeout=30)
            os.close(main)
        assert on_tty.returncode == 0, on_tty.stderr
        shown = bytes(seen).replace(b"\r\n", b"\n")  # the terminal's own newline translation
        assert shown == (b"--- runShellScript stdout ---\n"
                         b"a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x0dd\\x9be\xef\xbf\xbdf\tg\n\xc3\xa9\n"), (args, shown)
