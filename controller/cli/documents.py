"""``outpost document ...``: named, versioned documents (SSM's create-document, update-document,
list-documents, list-document-versions, get-document, delete-document, update-document-default-version)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click
import grpc

from controller.cli import params
from controller.cli.render import OUTPUT, Row, document_row, print_json, print_table
from controller.cli.terminal import say
from controller.sdk.transport import rpc_error_message
from plugins.sdk.errors import OutpostError

if TYPE_CHECKING:
    from controller.cli.context import Ctx

_LINE = re.compile(r" \(line (\d+)\)$")
_SUFFIX_FORMATS = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
_FILE = click.option("--file", "path", required=True, type=params.existing_file(), help="the document, YAML or JSON")
_FORMAT = click.option("--format", "fmt", type=click.Choice(["YAML", "JSON"], case_sensitive=False), default=None,
                       help="default: from the file name (.json, .yaml, .yml), else the controller guesses")
_VERSION_NAME = click.option("--version-name", "version_name", default=None, type=params.VERSION_NAME,
                             help="a name for the new version (SSM's VersionName: 1 to 128 of letters, digits, "
                                  "'_', '.', '-'), unique in the document and never reused")
_SHOW_KEYS = ("name", "version", "version_name", "default_version", "latest_version", "format", "builtin",
              "description", "parameters", "sha256", "created_by", "created")
_VERSION_COLUMNS = ["version", "version_name", "created", "default", "sha256", "status"]


def _show(row: Row, output: str) -> None:
    if output == "json":
        print_json(row)
        return
    for key in _SHOW_KEYS:
        value = row[key]
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        say(f"{key.replace('_', ' '):>15}: {text}")


def _put(obj: Ctx, name: str, path: Path, fmt: str | None, create: bool, version_name: str, output: str) -> None:
    fmt = (fmt or _SUFFIX_FORMATS.get(path.suffix.lower(), "")).upper()
    content = path.read_bytes()
    with obj.client() as c:
        try:
            answer = c.put_document(name, content, fmt, create, version_name)
        except grpc.RpcError as exc:
            message = rpc_error_message(exc)
            line = _LINE.search(message) if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else None
            if line is None:
                raise
            # the controller names the place and the YAML's line: FILE:LINE first, as a playbook's errors
            raise OutpostError(f"{path}:{line.group(1)}: {message[:line.start()]}") from None
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
@_VERSION_NAME
@OUTPUT
@click.pass_obj
def document_create(obj: Ctx, name: str, path: Path, fmt: str | None, version_name: str | None, output: str) -> None:
    """Create document NAME (version 1, the default) from --file."""
    _put(obj, name, path, fmt, True, version_name or "", output)


@document.command("update")
@click.argument("name", type=params.DOCUMENT)
@_FILE
@_FORMAT
@_VERSION_NAME
@OUTPUT
@click.pass_obj
def document_update(obj: Ctx, name: str, path: Path, fmt: str | None, version_name: str | None, output: str) -> None:
    """Add a version of NAME from --file. The default version stays; see set-default."""
    _put(obj, name, path, fmt, False, version_name or "", output)


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


@document.command("list-versions")
@click.argument("name", type=params.DOCUMENT)
@OUTPUT
@click.pass_obj
def document_list_versions(obj: Ctx, name: str, output: str) -> None:
    """Every version of NAME not deleted, oldest first (SSM's list-document-versions)."""
    with obj.client() as c:
        rows = [{**document_row(d), "default": d.version == d.default_version, "status": "Active"}
                for d in c.list_document_versions(name)]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, _VERSION_COLUMNS)


@document.command("show")
@click.argument("name", type=params.DOCUMENT)
@click.option("--version", "version", default=None, type=params.DOCUMENT_VERSION,
              help="N, $LATEST or $DEFAULT (the default, unless --version-name is given)")
@click.option("--version-name", "version_name", default=None, type=params.VERSION_NAME,
              help="the version of that name (with --version too, they must agree)")
@click.option("--content", "with_content", is_flag=True, help="print the document itself too")
@OUTPUT
@click.pass_obj
def document_show(obj: Ctx, name: str, version: str | None, version_name: str | None, with_content: bool,
                  output: str) -> None:
    """One version of NAME."""
    with obj.client() as c:
        r = c.get_document(name, version or "", version_name or "")
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
@click.option("--version", "version", default=None, type=params.VERSION,
              help="delete only this version (never the default one: set another default first)")
@click.option("--version-name", "version_name", default=None, type=params.VERSION_NAME,
              help="delete only the version of this name")
@click.pass_obj
def document_delete(obj: Ctx, name: str, version: int | None, version_name: str | None) -> None:
    """Delete NAME, or one of its versions (commands that ran it keep what they ran; a deleted
    version's number and name are never used again). Built-in documents cannot be deleted."""
    with obj.client() as c:
        c.delete_document(name, version or 0, version_name or "")
    if version is None and not version_name:
        say(f"deleted document {name}")
    else:
        which = " ".join(p for p in (f"version {version}" if version else "",
                                     f"named {version_name!r}" if version_name else "") if p)
        say(f"deleted document {name} {which}")


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
