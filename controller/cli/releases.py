"""``outpost agent-release publish | list | delete``: the agent builds (Outpost wheels) that
Outpost-UpdateAgent (AWS-UpdateSSMAgent) installs on nodes; and ``outpost content put | list |
delete``: the content store's files, which copy tasks send. Both are files the controller keeps for
nodes to fetch over their streams."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.params import FilePath
from controller.cli.render import OUTPUT, content_row, print_json, print_table, release_row
from controller.cli.terminal import say
from plugins.sdk.errors import InputError

if TYPE_CHECKING:
    from controller.cli.context import Ctx

MAX_WHEEL_BYTES = 64 * 1024 * 1024  # the controller's bound (controller/server/releases_api.py)
_COLUMNS = ["version", "filename", "size", "sha256", "published", "published_by"]


@click.group("agent-release")
def agent_release() -> None:
    """Agent builds for Outpost-UpdateAgent (AWS-UpdateSSMAgent): publish, list, delete."""


@agent_release.command("publish")
@click.argument("wheel", type=FilePath(exists=True, dir_okay=False, readable=True))
@OUTPUT
@click.pass_obj
def release_publish(obj: Ctx, wheel: str, output: str) -> None:
    """Publish an Outpost wheel (outpost-VERSION-py3-none-any.whl) for agents to update to."""
    size = os.path.getsize(wheel)
    if size > MAX_WHEEL_BYTES:
        raise InputError("WHEEL", f"{wheel} is {size} bytes; at most {MAX_WHEEL_BYTES} are published")
    with open(wheel, "rb") as f:
        data = f.read()
    with obj.client() as c:
        row = release_row(c.publish_release(os.path.basename(wheel), data))
    if output == "json":
        print_json(row)
    else:
        say(f"published agent release {row['version']} ({row['size']} bytes, sha256 {row['sha256']})")


@agent_release.command("list")
@OUTPUT
@click.pass_obj
def release_list(obj: Ctx, output: str) -> None:
    """The published agent releases."""
    with obj.client() as c:
        rows = [release_row(r) for r in c.list_releases()]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, _COLUMNS)


@agent_release.command("delete")
@click.argument("version", type=params.TEXT)
@click.pass_obj
def release_delete(obj: Ctx, version: str) -> None:
    """Delete a published release (nodes running it keep it)."""
    with obj.client() as c:
        c.delete_release(version)
    say(f"agent release {version} deleted")


# ---------------------------------------------------------------- the content store

MAX_CONTENT_BYTES = 64 * 1024 * 1024  # the controller's bound (controller/server/content_api.py)


@click.group("content")
def content() -> None:
    """The content store: files copy tasks send to nodes (`copy: {src: NAME, dest: PATH}`)."""


@content.command("put")
@click.argument("name", type=params.TEXT)
@click.option("--file", "path", required=True, type=FilePath(exists=True, dir_okay=False, readable=True))
@OUTPUT
@click.pass_obj
def content_put(obj: Ctx, name: str, path: str, output: str) -> None:
    """Store FILE as NAME, replacing what NAME held (a command sent before that has not fetched it yet
    then fails, saying so)."""
    size = os.path.getsize(path)
    if size > MAX_CONTENT_BYTES:
        raise InputError("--file", f"{path} is {size} bytes; at most {MAX_CONTENT_BYTES} are stored")
    with open(path, "rb") as f:
        data = f.read()
    with obj.client() as c:
        row = content_row(c.put_content(name, data))
    if output == "json":
        print_json(row)
    else:
        say(f"stored {row['name']} ({row['size']} bytes, sha256 {row['sha256']})")


@content.command("list")
@OUTPUT
@click.pass_obj
def content_list(obj: Ctx, output: str) -> None:
    """The files in the content store."""
    with obj.client() as c:
        rows = [content_row(f) for f in c.list_content()]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, ["name", "size", "sha256", "stored", "stored_by"])


@content.command("delete")
@click.argument("name", type=params.TEXT)
@click.pass_obj
def content_delete(obj: Ctx, name: str) -> None:
    """Delete a file from the content store."""
    with obj.client() as c:
        c.delete_content(name)
    say(f"content {name} deleted")
