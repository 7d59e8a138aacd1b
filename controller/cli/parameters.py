"""``outpost parameter put | get | list | delete``: the parameter store, whose values
``{{ssm:NAME}}`` and ``{{ssm-secure:NAME}}`` references in documents and in the values given at send
are filled from when a command is sent (controller/documents/ssmref.py). As the AWS CLI: ``put``
refuses a name that exists without ``--overwrite``; ``get`` shows a SecureString's value only with
``--with-decryption``; ``list`` shows no values."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.params import Text
from controller.cli.render import OUTPUT, parameter_row, print_json, print_table
from controller.cli.terminal import say
from plugins.sdk.errors import InputError

if TYPE_CHECKING:
    from controller.cli.context import Ctx

MAX_VALUE_BYTES = 4096  # the controller's bound (controller/store/parameters.py), as SSM's standard tier
NAME = Text(1011, metavar="NAME")
VALUE = Text(4 * MAX_VALUE_BYTES, metavar="VALUE")
_COLUMNS = ["name", "type", "version", "last_modified", "last_modified_by", "description"]


def _read_value(value: str) -> str:
    """``--value``: the text, ``file://PATH``'s content (as the AWS CLI) or ``-`` (standard input),
    so that a secret need not be on a command line."""
    if value == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("--value", "- reads the value from standard input, which is a terminal here: pipe it in")
        text = sys.stdin.read()
    elif value.startswith("file://"):
        with open(value[len("file://"):], encoding="utf-8") as f:
            text = f.read()
    else:
        return value
    text = text.removesuffix("\n")
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise InputError("--value", f"{len(text.encode())} bytes; at most {MAX_VALUE_BYTES} are stored")
    return text


@click.group("parameter")
def parameter() -> None:
    """The parameter store: values {{ssm:NAME}} and {{ssm-secure:NAME}} are filled with at send."""


@parameter.command("put")
@click.argument("name", type=NAME)
@click.option("--value", required=True, type=VALUE,
              help="The value; file://PATH reads it from a file, - from standard input (keeps a secret off the "
                   "command line).")
@click.option("--type", "type_", type=click.Choice(["String", "StringList", "SecureString"]), default="String",
              show_default=True)
@click.option("--overwrite", is_flag=True, help="Store a new version of a parameter that exists.")
@click.option("--description", default="", type=params.TEXT)
@OUTPUT
@click.pass_obj
def parameter_put(obj: Ctx, name: str, value: str, type_: str, overwrite: bool, description: str,
                  output: str) -> None:
    """Store VALUE as NAME (/app/db/password): SecureString values are shown only to get --with-decryption."""
    text = _read_value(value)
    with obj.client() as c:
        version = c.put_parameter(name, type_, text, description, overwrite)
    if output == "json":
        print_json({"name": name, "version": version})
    else:
        say(f"stored parameter {name} ({type_}, version {version})")


@parameter.command("get")
@click.argument("name", type=NAME)
@click.option("--with-decryption", is_flag=True, help="Show a SecureString's value.")
@OUTPUT
@click.pass_obj
def parameter_get(obj: Ctx, name: str, with_decryption: bool, output: str) -> None:
    """A parameter and its value (a SecureString's only --with-decryption)."""
    with obj.client() as c:
        found = c.get_parameter(name, with_decryption)
    row = parameter_row(found, value=True)
    if output == "json":
        print_json(row)
    else:
        print_table([row], ["name", "type", "value", "version", "last_modified", "last_modified_by"])


@parameter.command("list")
@click.option("--path", default="", type=NAME, help="Only those under this hierarchy (/app).")
@OUTPUT
@click.pass_obj
def parameter_list(obj: Ctx, path: str, output: str) -> None:
    """The parameters (no values)."""
    with obj.client() as c:
        found = c.list_parameters(path)
    rows = [parameter_row(p) for p in found]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, _COLUMNS)


@parameter.command("delete")
@click.argument("name", type=NAME)
@click.pass_obj
def parameter_delete(obj: Ctx, name: str) -> None:
    """Delete a parameter (a document referring to it is refused at send from then on)."""
    with obj.client() as c:
        c.delete_parameter(name)
    say(f"parameter {name} deleted")
