"""``outpost document ...``: named, versioned documents (SSM's create-document, update-document,
list-documents, get-document, delete-document, update-document-default-version)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.render import OUTPUT, Row, document_row, print_json, print_table
from controller.cli.terminal import say

if TYPE_CHECKING:
    from controller.cli.context import Ctx

_SUFFIX_FORMATS = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
_FILE = click.option("--file", "path", required=True, type=params.existing_file(), help="the document, YAML or JSON")
_FORMAT = click.option("--format", "fmt", type=click.Choice(["YAML", "JSON"], case_sensitive=False), default=None,
                       help="default: from the file name (.json, .yaml, .yml), else the controller guesses")
_SHOW_KEYS = ("name", "version", "default_version", "latest_version", "format", "builtin", "description",
              "parameters", "sha256", "created_by", "created")


def _show(row: Row, output: str) -> None:
    if output == "json":
        print_json(row)
        return
    for key in _SHOW_KEYS:
        value = row[key]
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        say(f"{key.replace('_', ' '):>15}: {text}")


def _put(obj: Ctx, name: str, path: Path, fmt: str | None, create: bool, output: str) -> None:
    fmt = (fmt or _SUFFIX_FORMATS.get(path.suffix.lower(), "")).upper()
    content = path.read_bytes()
    with obj.client() as c:
        answer = c.put_document(name, content, fmt, create)
    for line in answer.warnings:  # the controller's own words, each one line
        say(f"warning: {line}", err=True)
    _show(document_row(answer.document), output)


@click.group("document")
def document() -> None:
    """Named, versioned command documents (SSM schema 2.2)."""


@document.command("create")
@click.argument("name", type=params.DOCUMENT)
@_FILE
@_FORMAT
@OUTPUT
@click.pass_obj
def document_create(obj: Ctx, name: str, path: Path, fmt: str | None, output: str) -> None:
    """Create document NAME (version 1, the default) from --file."""
    _put(obj, name, path, fmt, True, output)


@document.command("update")
@click.argument("name", type=params.DOCUMENT)
@_FILE
@_FORMAT
@OUTPUT
@click.pass_obj
def document_update(obj: Ctx, name: str, path: Path, fmt: str | None, output: str) -> None:
    """Add a version of NAME from --file. The default version stays; see set-default."""
    _put(obj, name, path, fmt, False, output)


@document.command("list")
@OUTPUT
@click.pass_obj
def document_list(obj: Ctx, output: str) -> None:
    """Every document at its default version."""
    with obj.client() as c:
        rows = [document_row(d) for d in c.list_documents()]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, ["name", "default_version", "latest_version", "format", "builtin", "parameters",
                           "description"])


@document.command("show")
@click.argument("name", type=params.DOCUMENT)
@click.option("--version", "version", default="$DEFAULT", show_default=True, type=params.DOCUMENT_VERSION,
              help="N, $LATEST or $DEFAULT")
@click.option("--content", "with_content", is_flag=True, help="print the document itself too")
@OUTPUT
@click.pass_obj
def document_show(obj: Ctx, name: str, version: str, with_content: bool, output: str) -> None:
    """One version of NAME."""
    with obj.client() as c:
        r = c.get_document(name, version)
    row = document_row(r.document)
    text = r.content.decode(errors="replace")
    if output == "json":
        print_json({**row, "content": text} if with_content else row)
        return
    _show(row, output)
    if with_content:
        say("")
        say(text, nl=not text.endswith("\n"))


@document.command("delete")
@click.argument("name", type=params.DOCUMENT)
@click.pass_obj
def document_delete(obj: Ctx, name: str) -> None:
    """Delete NAME (commands that ran it keep what they ran). Built-in documents cannot be deleted."""
    with obj.client() as c:
        c.delete_document(name)
    say(f"deleted document {name}")


@document.command("set-default")
@click.argument("name", type=params.DOCUMENT)
@click.option("--version", "version", required=True, type=params.VERSION, help="the version to run by default")
@OUTPUT
@click.pass_obj
def document_set_default(obj: Ctx, name: str, version: int, output: str) -> None:
    """Make --version the version of NAME that commands run unless they name one."""
    with obj.client() as c:
        row = document_row(c.set_default_version(name, version))
    _show(row, output)
