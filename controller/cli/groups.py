"""``outpost group ...`` (saved targets, SSM's resource-groups:Name) and ``outpost node tag|untag``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.render import OUTPUT, Row, group_row, node_row, print_json, print_table
from controller.cli.terminal import say
from controller.fleet.targets import KEY_GROUP, MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN, parse_targets
from controller.model import Tag
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown

if TYPE_CHECKING:
    from controller.cli.context import Ctx

_NODE_COLUMNS = ["node_id", "hostname", "platform", "ping_status", "tags"]


def _print_group(row: Row) -> None:
    say(f"group:   {row['name']}")
    say(f"created: {row['created']}")
    for item in row["targets"]:  # type: ignore[attr-defined]
        say(f"targets: {item}")


@click.group("group")
def group() -> None:
    """Target groups: saved --targets that commands can name with Key=resource-groups:Name."""


@group.command("create")
@click.argument("name", type=params.GROUP)
@click.option("--targets", "targets", multiple=True, required=True, type=params.TEXT,
              help="Key=tag:NAME,Values=V1,V2 | Key=InstanceIds,Values=ID1,ID2 (repeat: keys ANDed)")
@OUTPUT
@click.pass_obj
def group_create(obj: Ctx, name: str, targets: tuple[str, ...], output: str) -> None:
    """Create group NAME, or replace its targets."""
    parsed = parse_targets(targets)
    if parsed.group:
        raise InputError("--targets", f"a group cannot contain another group ({KEY_GROUP}={parsed.group})")
    if parsed.all:
        raise InputError("--targets", "a group cannot be every node (Key=InstanceIds,Values=*)")
    with obj.client() as c:
        row = group_row(c.put_group(name, parsed))
    if output == "json":
        print_json(row)
    else:
        _print_group(row)


@group.command("list")
@OUTPUT
@click.pass_obj
def group_list(obj: Ctx, output: str) -> None:
    with obj.client() as c:
        rows = [group_row(g) for g in c.list_groups()]
    if output == "json":
        print_json(rows)
    else:
        print_table([{**r, "targets": " ".join(r["targets"])} for r in rows],  # type: ignore[arg-type]
                    ["name", "targets", "created"])


@group.command("show")
@click.argument("name", type=params.GROUP)
@OUTPUT
@click.pass_obj
def group_show(obj: Ctx, name: str, output: str) -> None:
    """The group and the nodes it matches now."""
    with obj.client() as c:
        r = c.get_group(name)
    nodes, row = [node_row(n) for n in r.nodes], group_row(r.group)
    if output == "json":
        print_json({**row, "nodes": nodes})
        return
    _print_group(row)
    print_table(nodes, _NODE_COLUMNS, title=f"{len(nodes)} matching nodes")


@group.command("delete")
@click.argument("name", type=params.GROUP)
@click.pass_obj
def group_delete(obj: Ctx, name: str) -> None:
    with obj.client() as c:
        c.delete_group(name)
    say(f"deleted group {name}")


def tag(key: str, value: str, where: str) -> Tag:
    """A tag as SSM bounds it: a key of 1 to 128 characters, a value of at most 256."""
    if len(key) > MAX_TAG_KEY_LEN:
        raise InputError(where, f"a tag key is at most {MAX_TAG_KEY_LEN} characters, got {len(key)}")
    if len(value) > MAX_TAG_VALUE_LEN:
        raise InputError(where, f"a tag value is at most {MAX_TAG_VALUE_LEN} characters, got {len(value)}")
    return Tag(key, value)


def parse_tag_args(items: Sequence[str], where: str = "TAGS") -> tuple[Tag, ...]:
    """``Key=Value`` arguments (the value may be empty and may contain '=' and ',')."""
    tags = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(where, f"expected KEY=VALUE, got {shown(item)}")
        tags.append(tag(key.strip(), value, where))
    return tuple(tags)


def _print_node(row: Row, output: str) -> None:
    if output == "json":
        print_json(row)
    else:
        print_table([row], _NODE_COLUMNS)


def register_node_commands(node_group: click.Group) -> None:
    """Add ``tag`` and ``untag`` to the ``outpost node`` group."""

    @node_group.command("tag")
    @click.argument("node_id", type=params.ID)
    @click.argument("tags", nargs=-1, required=True, type=params.TEXT)
    @OUTPUT
    @click.pass_obj
    def node_tag(obj: Ctx, node_id: str, tags: tuple[str, ...], output: str) -> None:
        """Set tags on NODE_ID: KEY=VALUE ... (an existing key takes the new value)."""
        chosen = parse_tag_args(tags)
        with obj.client() as c:
            row = node_row(c.tag_node(node_id, tags=chosen))
        _print_node(row, output)

    @node_group.command("untag")
    @click.argument("node_id", type=params.ID)
    @click.argument("keys", nargs=-1, required=True, type=params.TAG_KEY)
    @OUTPUT
    @click.pass_obj
    def node_untag(obj: Ctx, node_id: str, keys: tuple[str, ...], output: str) -> None:
        """Remove tags from NODE_ID by KEY ... (keys it does not have are ignored)."""
        with obj.client() as c:
            row = node_row(c.tag_node(node_id, remove=keys))
        _print_node(row, output)
