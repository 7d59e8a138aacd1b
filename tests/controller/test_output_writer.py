"""How `command output` writes node output: bytes as stored to files and pipes, decoded and escaped
to a terminal (a character split between pieces kept whole), and --full's JSON written piece by
piece exactly as print_json writes the rows whole."""
from __future__ import annotations

import io
import json

import pytest

from controller.cli.output_writer import StreamWriter, write_json, write_table
from controller.cli.terminal import terminal_text
from controller.model import OutputPiece
from plugins.sdk.contract import OutputStreamKind

OUT, ERR = OutputStreamKind.STDOUT, OutputStreamKind.STDERR
NASTY = "a\x1b]0;title\x07b\x1b[2Jc\rd\x08e\x00f\x7fg\x9bh\ti\nj é 😀\n"


class _Bytes(io.BytesIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _stream(tty: bool) -> io.TextIOWrapper:
    return io.TextIOWrapper(_Bytes(tty), encoding="utf-8")


def _written(stream: io.TextIOWrapper) -> bytes:
    stream.flush()
    return stream.buffer.getvalue()  # type: ignore[attr-defined]


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def test_terminal_text_escapes_every_control_character_but_newline_and_tab() -> None:
    assert terminal_text(NASTY) == "a\\x1b]0;title\\x07b\\x1b[2Jc\\x0dd\\x08e\\x00f\\x7fg\\x9bh\ti\nj é 😀\n"
    assert not any(ord(ch) < 32 and ch not in "\t\n" for ch in terminal_text("".join(map(chr, range(256)))))


@pytest.mark.parametrize("size", [1, 2, 3, 1000])
def test_a_file_gets_the_bytes_a_terminal_gets_them_escaped(size: int) -> None:
    data = NASTY.encode() + b"\xff\xfe bad \xe2\x82"  # not UTF-8, and a character cut off at the end
    pieces = _split(data, size)
    to_file, to_tty = _stream(False), _stream(True)
    for writer in (StreamWriter(to_file), StreamWriter(to_tty)):
        for i, piece in enumerate(pieces):
            writer.write(piece, last=i == len(pieces) - 1)
    assert _written(to_file) == data
    assert _written(to_tty).decode() == terminal_text(data.decode(errors="replace"))


def _pieces(steps: dict[str, tuple[bytes, bytes, bool]], size: int) -> list[OutputPiece]:
    out = []
    for name, (stdout, stderr, cut) in steps.items():
        for stream, data in ((OUT, stdout), (ERR, stderr)):
            parts = _split(data, size)
            out += [OutputPiece(name, stream, p, last=i == len(parts) - 1, truncated=cut and stream is OUT
                                and i == len(parts) - 1) for i, p in enumerate(parts)]
    return out


STEPS = {"build": (NASTY.encode() * 3 + b"\xff", b"", False),
         "quiet": (b"", b"", False),
         "deploy": ("é😀".encode() * 50 + b"\n--output truncated--\n", b"warn \x1b[31m\n", True)}


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
def test_the_table_heads_each_stream_and_writes_it_as_it_comes(size: int) -> None:
    out, err = _stream(False), _stream(False)
    write_table(_pieces(STEPS, size), out, err)
    assert _written(out) == b"".join(f"--- {n} stdout ---\n".encode() + o for n, (o, _, _) in STEPS.items())
    assert _written(err) == b"--- deploy stderr ---\nwarn \x1b[31m\n"  # only the steps that printed any
    tty = _stream(True)
    write_table(_pieces(STEPS, size), tty, _stream(False))
    assert _written(tty).decode() == "".join(f"--- {n} stdout ---\n" + terminal_text(o.decode(errors="replace"))
                                             for n, (o, _, _) in STEPS.items())


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
def test_full_json_is_what_print_json_writes_of_the_rows(size: int) -> None:
    out = _stream(False)
    write_json(_pieces(STEPS, size), out)
    rows = [{"step": n, "stdout": o.decode(errors="replace"), "stderr": e.decode(errors="replace"),
             "stdout_truncated": cut, "stderr_truncated": False} for n, (o, e, cut) in STEPS.items()]
    assert _written(out).decode() == json.dumps(rows, indent=2) + "\n"
    empty = _stream(False)
    write_json([], empty)
    assert _written(empty) == b"[]\n"
