"""Output read in full a piece at a time (Store.output_pieces), over SQLite and PostgreSQL: the
same bytes as get_output, in bounded pieces, whether the output is still in chunks, compacted, or
compacted while it is being read; and memory bounded by a piece, not by the output."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

from sqlalchemy import insert

from controller.model import OutputPiece, StepOutput
from controller.store import Store
from controller.store.places import chunk_place
from controller.store.schema import output_chunks
from plugins.sdk.contract import OutputStreamKind
from tests.store.test_store import step, with_command

AGENT_MARKER = b"\n--output truncated--\n"  # agent/runner.py's
OUT, ERR = OutputStreamKind.STDOUT, OutputStreamKind.STDERR


def _append(store: Store, name: str, stream: str, data: bytes, sizes: Iterable[int], node: str = "mi-1") -> None:
    """``data`` stored as chunks of the given sizes in turn (the last size repeats)."""
    sizes = list(sizes)
    at, seq = 0, 0
    while at < len(data):
        n = sizes[min(seq, len(sizes) - 1)]
        store.append_output("cmd-1", node, name, stream, seq, data[at:at + n])
        at, seq = at + n, seq + 1


def _joined(pieces: Iterable[OutputPiece]) -> list[StepOutput]:
    """Pieces joined back into get_output's shape, checking the stream order and the last flags."""
    out: dict[str, dict[OutputStreamKind, bytearray]] = {}
    open_: tuple[str, OutputStreamKind] | None = None
    for p in pieces:
        key = (p.step_name, p.stream)
        if key != open_:
            assert open_ is None, f"{open_} ended without its last piece"
            assert key[0] not in out or (p.stream is ERR and ERR not in out[key[0]]), f"{key} came twice"
            if p.stream is ERR:
                assert OUT in out.get(p.step_name, {}), "stderr came before stdout"
            out.setdefault(p.step_name, {})[p.stream] = bytearray()
            open_ = key
        out[p.step_name][p.stream] += p.data
        assert not p.truncated or p.last
        if p.last:
            open_ = None
    assert open_ is None
    assert all(set(s) == {OUT, ERR} for s in out.values()), "a stream had no piece"
    return [StepOutput(n, bytes(s[OUT]), bytes(s[ERR])) for n, s in out.items()]


def _mixed(store: Store) -> None:
    """Steps with and without result rows, empty streams, and chunks of 1 to 40 bytes."""
    with_command(store)
    store.upsert_step(step("cmd-1", "mi-1", 0, "zeta"))
    store.upsert_step(step("cmd-1", "mi-1", 1, "alpha"))
    store.upsert_step(step("cmd-1", "mi-1", 2, "quiet"))
    _append(store, "alpha", "stdout", bytes(range(256)) * 3, [1, 2, 40, 3, 17])
    _append(store, "alpha", "stderr", b"warn\n", [2])
    _append(store, "zeta", "stderr", "é€😀".encode() * 20, [5])
    _append(store, "orphan", "stdout", b"no step row yet", [4])


def test_pieces_of_chunks_are_get_outputs_bytes_in_bounded_pieces(store: Store) -> None:
    _mixed(store)
    for size in (1, 7, 64, 1 << 20):
        pieces = list(store.output_pieces("cmd-1", "mi-1", piece_bytes=size, slice_bytes=5))
        assert all(0 < len(p.data) <= size for p in pieces if not p.last or p.data), size
        assert _joined(pieces) == store.get_output("cmd-1", "mi-1"), size
    quiet = [p for p in store.output_pieces("cmd-1", "mi-1") if p.step_name == "quiet"]
    assert quiet == [OutputPiece("quiet", OUT, b"", last=True), OutputPiece("quiet", ERR, b"", last=True)]
    # one step, and a step or an invocation with nothing stored
    assert _joined(store.output_pieces("cmd-1", "mi-1", "alpha", piece_bytes=10)) == \
        store.get_output("cmd-1", "mi-1", "alpha")
    assert list(store.output_pieces("cmd-1", "mi-1", "missing")) == []
    assert list(store.output_pieces("cmd-1", "mi-2")) == []


def test_pieces_of_compacted_output_inflate_a_slice_at_a_time(store: Store) -> None:
    _mixed(store)
    before = store.get_output("cmd-1", "mi-1")
    assert store.compact_output("cmd-1", "mi-1") > 0
    for size, slice_bytes in ((1, 1), (7, 3), (1000, 2), (1 << 20, 1 << 20)):
        pieces = list(store.output_pieces("cmd-1", "mi-1", piece_bytes=size, slice_bytes=slice_bytes))
        assert all(len(p.data) <= size for p in pieces)
        assert _joined(pieces) == before, (size, slice_bytes)
    # compressible and not: a slice of compressed bytes inflates to many pieces, or to less than one
    big = {"zeros": b"z" * 3_000_000, "noise": os.urandom(300_000)}
    for name, data in big.items():
        _append(store, name, "stdout", data, [65536], node="mi-2")
    store.compact_output("cmd-1", "mi-2")
    pieces = list(store.output_pieces("cmd-1", "mi-2", piece_bytes=100_000, slice_bytes=40_000))
    assert all(len(p.data) <= 100_000 for p in pieces)
    assert _joined(pieces) == [StepOutput(n, d, b"") for n, d in sorted(big.items())]


def test_a_blob_followed_by_chunks_reads_as_get_output_joins_it(store: Store) -> None:
    with_command(store)
    _append(store, "s", "stdout", b"compacted part;", [4])
    store.compact_output("cmd-1", "mi-1")
    with store.engine.begin() as conn:  # chunks stored after the blob (compact() folds such later)
        conn.execute(insert(output_chunks), [dict(
            command_id="cmd-1", node_id="mi-1", step_name="s", stream="stdout", seq=s, size=len(d),
            data=store.sealer.seal(d, chunk_place("cmd-1", "mi-1", "s", "stdout", s)))
            for s, d in ((7, b" then"), (9, b" chunks"))])
    assert store.get_output("cmd-1", "mi-1") == [StepOutput("s", b"compacted part; then chunks", b"")]
    assert _joined(store.output_pieces("cmd-1", "mi-1", piece_bytes=3, slice_bytes=2)) == \
        store.get_output("cmd-1", "mi-1")


def test_output_compacted_while_it_is_read_comes_whole_once(store: Store) -> None:
    with_command(store)
    out, err = os.urandom(5000), b"e" * 3000
    _append(store, "s", "stdout", out, [100])
    _append(store, "s", "stderr", err, [100])
    reader = store.output_pieces("cmd-1", "mi-1", piece_bytes=700, slice_bytes=50)
    first = [next(reader) for _ in range(3)]  # 2,100 bytes of stdout, read from chunks
    assert store.compact_output("cmd-1", "mi-1") == 80  # the invocation settles meanwhile
    assert _joined([*first, *reader]) == [StepOutput("s", out, err)]
    # and settled between a step's stdout and its stderr
    _append(store, "s", "stdout", out, [100], node="mi-2")
    _append(store, "s", "stderr", err, [100], node="mi-2")
    reader = store.output_pieces("cmd-1", "mi-2", piece_bytes=700)
    first = []
    while not first or not first[-1].last:
        first.append(next(reader))
    store.compact_output("cmd-1", "mi-2")
    assert _joined([*first, *reader]) == [StepOutput("s", out, err)]


def test_the_last_piece_says_whether_the_agent_cut_the_stream(store: Store) -> None:
    with_command(store)
    _append(store, "cut", "stdout", b"x" * 5000 + AGENT_MARKER, [1000, 1000, 1000, 1000, 1000, 10, 12])
    _append(store, "cut", "stderr", b"only mentions " + AGENT_MARKER + b" midway\n", [64])
    for compacted in (False, True):
        if compacted:
            store.compact_output("cmd-1", "mi-1")
        pieces = list(store.output_pieces("cmd-1", "mi-1", piece_bytes=900))
        flags = [(p.stream, p.truncated) for p in pieces if p.last]
        assert flags == [(OUT, True), (ERR, False)], compacted
        assert not any(p.truncated for p in pieces if not p.last)


# Read in a process of its own, whose memory high-water mark (VmHWM: its own since its exec, unlike
# ru_maxrss) counts what the driver and the database library hold as well as Python's objects.
_READER = """
import sys
from controller.store import Store
from tests.support.keys import fixed_sealer
def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
store = Store.open(sys.argv[1], fixed_sealer())
store.get_command("cmd-1")
before = hwm()
total = sum(len(p.data) for p in store.output_pieces("cmd-1", "mi-1"))
print(total, hwm() - before)
"""


def _read_in_a_process(store_url: str) -> tuple[int, int]:
    """(bytes read, how much the reading process's peak memory grew meanwhile)."""
    out = subprocess.run([sys.executable, "-c", _READER, store_url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    total, grown = out.stdout.split()
    return int(total), int(grown)


def test_reading_16_mb_holds_a_piece_or_two_not_the_stream(store: Store, store_url: str) -> None:
    with_command(store)
    cap = 16 * 1024 * 1024
    data = os.urandom(cap) + AGENT_MARKER  # incompressible: the blob is as big as the output
    _append(store, "big", "stdout", data, [65536])
    del data
    for kept in ("chunks", "compacted"):  # a running invocation's chunks; a settled one's blob
        if kept == "compacted":
            store.compact_output("cmd-1", "mi-1")
        total, grown = _read_in_a_process(store_url)
        assert total == cap + len(AGENT_MARKER)
        assert grown < cap / 2, f"the reader grew {grown / 2**20:.1f} MB reading {total / 2**20:.0f} MB of {kept}"


def test_invocation_nodes_lists_some_and_counts_all(store: Store) -> None:
    with_command(store, node_ids=("mi-3", "mi-1", "mi-2"))
    assert store.invocation_nodes("cmd-1", 2) == (["mi-1", "mi-2"], 3)
    assert store.invocation_nodes("cmd-1", 10) == (["mi-1", "mi-2", "mi-3"], 3)
    assert store.invocation_nodes("nosuch", 10) == ([], 0)
