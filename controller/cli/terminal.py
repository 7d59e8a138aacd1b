"""What reaches the operator's terminal: every string the CLI prints passes ``terminal_text``, so
nothing a node, another operator or a document carries can drive the terminal (move the cursor,
set its title, rewrite lines already shown, reorder text with a bidirectional override). Control
characters are shown escaped (``\\x1b``, ``\\u202e``); newline and tab stay. Tables take ``Text``
cells, never markup, so ``[red]`` or ``[link=...]`` in a value prints as it is."""
from __future__ import annotations

import click
from rich.markup import escape
from rich.text import Text

from plugins.sdk.escape import escape_controls


def terminal_text(text: str) -> str:
    """``text`` with the control characters a terminal would act on shown escaped."""
    return escape_controls(text, "\t\n")


def cell(text: str) -> Text:
    """A table cell: escaped, and plain text (no rich markup)."""
    return Text(terminal_text(text))


def in_markup(text: str) -> str:
    """``text`` to stand inside a string rich reads as markup: escaped, and its brackets too."""
    return escape(terminal_text(text))


def say(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of a line the CLI prints, escaped."""
    click.echo(terminal_text(text), err=err, nl=nl)
