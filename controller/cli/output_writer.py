"""How ``command output`` writes what a node printed.

``--full`` writes StreamOutput's pieces as they arrive, so the CLI holds a piece (at most 256 KB)
or a few, never a whole stream (up to 16 MB each). To a file or a pipe the output goes as it was
stored, byte for byte. To a terminal it is decoded (UTF-8, bad bytes replaced, a character split
between two pieces kept whole) and every control character but newline and tab is shown escaped
(``\\x1b``): what a node printed must not be able to drive the operator's terminal (move the cursor,
set its title, rewrite lines already shown). JSON is text either way: each piece's text escaped on
its own, which is the escaping of the whole.
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from typing import TextIO

from controller.cli.terminal import terminal_text
from controller.model import OutputPiece
from plugins.sdk.contract import OutputStreamKind

OUT, ERR = OutputStreamKind.STDOUT, OutputStreamKind.STDERR
_JSON_SLICE = 64 * 1024  # characters escaped at once


class StreamWriter:
    """Writes node output to one of the CLI's streams (stdout or stderr): the bytes as they are, or
    to a terminal decoded and escaped. Written through the stream's binary buffer, flushed at each
    write so that what arrived shows."""

    def __init__(self, stream: TextIO) -> None:
        stream.flush()  # anything written as text before goes first
        self._out = stream.buffer
        self._terminal = stream.isatty()
        self._encoding = stream.encoding or "utf-8"
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def line(self, text: str) -> None:
        """A line of the CLI's own (a header)."""
        self._out.write((terminal_text(text) if self._terminal else text).encode(self._encoding, "replace") + b"\n")
        self._out.flush()

    def write(self, data: bytes, last: bool = False) -> None:
        """The next bytes of a stream; ``last``: the stream ends here (a character it leaves
        unfinished is shown replaced)."""
        if self._terminal:
            data = terminal_text(self._decoder.decode(data, final=last)).encode(self._encoding, "backslashreplace")
        self._out.write(data)
        self._out.flush()


def write_table(pieces: Iterable[OutputPiece], out: TextIO, err: TextIO) -> None:
    """``command output --full``: each step's stdout under a header on stdout and, when it printed
    any, its stderr under one on stderr, as the pieces arrive."""
    writers = {OUT: StreamWriter(out), ERR: StreamWriter(err)}
    headed: tuple[str, OutputStreamKind] | None = None
    for p in pieces:
        w = writers[p.stream]
        if headed != (p.step_name, p.stream) and (p.data or p.stream is OUT):
            w.line(f"--- {p.step_name} {p.stream.value} ---")
            headed = (p.step_name, p.stream)
        w.write(p.data, p.last)


class _JsonRows:
    """``command output --full -o json``, written as the pieces arrive: the rows ``-o json`` prints
    without --full (step, stdout, stderr, stdout_truncated, stderr_truncated), as ``print_json``
    lays them out."""

    def __init__(self, out: TextIO) -> None:
        out.flush()
        self._out = out.buffer
        self._rows = 0
        self._step: str | None = None
        self._stream = OUT
        self._truncated = {OUT: False, ERR: False}
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def _emit(self, text: str) -> None:
        self._out.write(text.encode("ascii"))  # json.dumps escapes everything else

    def feed(self, p: OutputPiece) -> None:
        if p.step_name != self._step:
            self._close_step()
            self._emit(("[\n" if not self._rows else ",\n") + f'  {{\n    "step": {json.dumps(p.step_name)},\n'
                       '    "stdout": "')
            self._rows, self._step, self._stream = self._rows + 1, p.step_name, OUT
            self._truncated = {OUT: False, ERR: False}
        if p.stream is not self._stream:
            self._emit('",\n    "stderr": "')
            self._stream = p.stream
        text = self._decoder.decode(p.data, final=p.last)
        for at in range(0, len(text), _JSON_SLICE):  # escaped, a character can take 12 bytes
            self._emit(json.dumps(text[at:at + _JSON_SLICE])[1:-1])
        self._out.flush()
        if p.last:
            self._truncated[p.stream] = p.truncated

    def _close_step(self) -> None:
        if self._step is None:
            return
        if self._stream is OUT:
            self._emit('",\n    "stderr": "')
        self._emit(f'",\n    "stdout_truncated": {json.dumps(self._truncated[OUT])},\n'
                   f'    "stderr_truncated": {json.dumps(self._truncated[ERR])}\n  }}')

    def end(self) -> None:
        self._close_step()
        self._emit("\n]\n" if self._rows else "[]\n")
        self._out.flush()


def write_json(pieces: Iterable[OutputPiece], out: TextIO) -> None:
    rows = _JsonRows(out)
    for p in pieces:
        rows.feed(p)
    rows.end()
