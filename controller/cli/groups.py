"""``outpost group ...`` (saved targets, SSM's resource-groups:Name) and ``outpost node tag|untag``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from controller.cli.render import OUTPUT, Row, iso, node_row, print_json, print_table
from controller.fleet.targets import KEY_GROUP, KEY_NODE_IDS, TAG_PREFIX, parse_targets
from controller.wire import targets_to_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import InputError

if TYPE_CHECKING:
    from controller.cli.context import Ctx

_NODE_COLUMNS = ["node_id", "hostname", "platform", "ping_status", "tags"]


def targets_items(t: pb.Targets) -> list[str]:
    """Targets back in the --targets syntax, one item per key."""
    items = [f"Key={TAG_PREFIX}{f.key},Values={','.join(f.values)}" for f in t.tags]
    if t.node_ids:
        items.append(f"Key={KEY_NODE_IDS},Values={','.join(t.node_ids)}")
    if t.group:
        items.append(f"Key={KEY_GROUP},Values={t.group}")
    if t.all:
        items.append(f"Key={KEY_NODE_IDS},Values=*")
    return items


def group_row(g: pb.Group) -> Row:
    return {"name": g.name, "targets": targets_items(g.targets), "created": iso(g.created_at_ms)}


def _print_group(g: pb.Group) -> None:
    click.echo(f"group:   {g.name}")
    click.echo(f"created: {iso(g.created_at_ms)}")
    for item in targets_items(g.targets):
        click.echo(f"targets: {item}")


@click.group("group")
def group() -> None:
    """Target groups: saved --targets that commands can name with Key=resource-groups:Name."""


@group.command("create")
@click.argument("name")
@click.option("--targets", "targets", multiple=True, required=True,
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
    req = pb.PutGroupRequest(group=pb.Group(name=name, targets=targets_to_pb(parsed)))
    with obj.client() as c:
        r = c.stub.PutGroup(req, timeout=c.timeout)
    if output == "json":
        print_json(group_row(r.group))
    else:
        _print_group(r.group)


@group.command("list")
@OUTPUT
@click.pass_obj
def group_list(obj: Ctx, output: str) -> None:
    with obj.client() as c:
        groups = list(c.stub.ListGroups(pb.ListGroupsRequest(), timeout=c.timeout).groups)
    if output == "json":
        print_json([group_row(g) for g in groups])
    else:
        print_table([{**group_row(g), "targets": " ".join(targets_items(g.targets))} for g in groups],
                    ["name", "targets", "created"])


@group.command("show")
@click.argument("name")
@OUTPUT
@click.pass_obj
def group_show(obj: Ctx, name: str, output: str) -> None:
    """The group and the nodes it matches now."""
    with obj.client() as c:
        r = c.stub.GetGroup(pb.GetGroupRequest(name=name), timeout=c.timeout)
    nodes = [node_row(n) for n in r.nodes]
    if output == "json":
        print_json({**group_row(r.group), "nodes": nodes})
        return
    _print_group(r.group)
    print_table(nodes, _NODE_COLUMNS, title=f"{len(nodes)} matching nodes")


@group.command("delete")
@click.argument("name")
@click.pass_obj
def group_delete(obj: Ctx, name: str) -> None:
    with obj.client() as c:
        c.stub.DeleteGroup(pb.DeleteGroupRequest(name=name), timeout=c.timeout)
    click.echo(f"deleted group {name}")


def parse_tag_args(items: Sequence[str], where: str = "TAGS") -> list[pb.Tag]:
    """``Key=Value`` arguments (the value may be empty and may contain '=' and ',')."""
    tags = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(where, f"expected KEY=VALUE, got {item!r}")
        tags.append(pb.Tag(key=key.strip(), value=value))
    return tags


def _print_node(n: pb.Node, output: str) -> None:
    row = node_row(n)
    if output == "json":
        print_json(row)
    else:
        print_table([row], _NODE_COLUMNS)


def register_node_commands(node_group: click.Group) -> None:
    """Add ``tag`` and ``untag`` to the ``outpost node`` group."""

    @node_group.command("tag")
    @click.argument("node_id")
    @click.argument("tags", nargs=-1, required=True)
    @OUTPUT
    @click.pass_obj
    def node_tag(obj: Ctx, node_id: str, tags: tuple[str, ...], output: str) -> None:
        """Set tags on NODE_ID: KEY=VALUE ... (an existing key takes the new value)."""
        req = pb.TagNodeRequest(node_id=node_id, tags=parse_tag_args(tags))
        with obj.client() as c:
            r = c.stub.TagNode(req, timeout=c.timeout)
        _print_node(r.node, output)

    @node_group.command("untag")
    @click.argument("node_id")
    @click.argument("keys", nargs=-1, required=True)
    @OUTPUT
    @click.pass_obj
    def node_untag(obj: Ctx, node_id: str, keys: tuple[str, ...], output: str) -> None:
        """Remove tags from NODE_ID by KEY ... (keys it does not have are ignored)."""
        req = pb.TagNodeRequest(node_id=node_id, remove=list(keys))
        with obj.client() as c:
            r = c.stub.TagNode(req, timeout=c.timeout)
        _print_node(r.node, output)
