"""Every terminal view escapes what it prints (issue 18): a value carrying an escape sequence, a C1
CSI, a bidirectional override or rich markup reaches the operator's terminal as visible text, in a
table cell, a node's output line, an echoed line and an error."""
from __future__ import annotations

import io
import re

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from controller.cli.render import LinePrinter, print_table
from controller.cli.terminal import in_markup, say, terminal_text
from outpost.v1 import outpost_pb2 as pb

# each: what a hostile value holds, and how it must show
CASES = [
    ("title\x1b]0;pwned\x07", "title\\x1b]0;pwned\\x07"),  # set the terminal's title
    ("clear\x1b[2J\x1b[H", "clear\\x1b[2J\\x1b[H"),  # clear the screen
    ("c1\x9b31m", "c1\\x9b31m"),  # an 8-bit CSI
    ("back\rover", "back\\x0dover"),  # rewrite the line shown
    ("rtl\u202egnp.exe", "rtl\\u202egnp.exe"),  # reorder what is read
    ("sep\u2028line", "sep\\u2028line"),
    ("[red]markup[/red] [link=http://x]y[/link]", "[red]markup[/red] [link=http://x]y[/link]"),
]


def _console(buf: io.StringIO) -> Console:
    return Console(file=buf, width=250, force_terminal=True, color_system="standard")


def _raw(text: str) -> str:
    """What a terminal would act on, rich's own colour codes (ESC [ digits m) aside."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize(("value", "shown"), CASES)
def test_a_table_cell_shows_the_value_escaped_and_never_as_markup(value: str, shown: str) -> None:
    buf = io.StringIO()
    print_table([{"node_id": "mi-1", "hostname": value}], ["node_id", "hostname"], console=_console(buf))
    out = _raw(buf.getvalue())
    assert shown in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\r\u202e\u2028")


@pytest.mark.parametrize(("value", "shown"), CASES)
def test_a_node_s_output_line_is_shown_escaped(value: str, shown: str) -> None:
    buf = io.StringIO()
    printer = LinePrinter(_console(buf))
    printer.feed("mi-[bold]1", pb.OutputChunk(step_name="s", stream=pb.OUTPUT_STREAM_STDOUT,
                                              data=f"{value}\n".encode()))
    printer.flush()
    out = _raw(buf.getvalue())
    assert out == f"mi-[bold]1 | {shown}\n"


@click.command()
@click.argument("value")
def _echo(value: str) -> None:
    say(f"error: {value}")


@pytest.mark.parametrize(("value", "shown"), CASES)
def test_an_echoed_line_is_escaped(value: str, shown: str) -> None:
    result = CliRunner().invoke(_echo, [value])
    assert result.output == f"error: {shown}\n"


def test_markup_text_keeps_brackets_literal() -> None:
    buf = io.StringIO()
    _console(buf).print(f"[bold]PLAY[/bold] {in_markup('[red]x[/red]' + chr(27))}")
    assert _raw(buf.getvalue()) == "PLAY [red]x[/red]\\x1b\n"


def test_tab_and_newline_stay_and_text_is_unchanged_otherwise() -> None:
    assert terminal_text("a\tb\nc é 😀 [x]") == "a\tb\nc é 😀 [x]"

