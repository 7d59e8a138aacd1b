"""``outpost node list``: every registered node, filtered here in the CLI (ListNodes has no filter)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controller.cli.filters import PING_STATUS, PLATFORM, TAG, NodeFilter, parse_tag
from controller.cli.params import Text
from controller.cli.render import OUTPUT, capacity_line, node_row, print_json, print_table
from controller.cli.terminal import say

if TYPE_CHECKING:
    from controller.cli.context import Ctx


@click.command("list")
@click.option("--ping-status", default=None, type=PING_STATUS, help="Online or ConnectionLost (any case)")
@click.option("--platform", default=None, type=PLATFORM, help="the node's platform (any case)")
@click.option("--agent-version", default="", type=Text(128, metavar="VERSION"), help="this agent version exactly")
@click.option("--tag", "tags", multiple=True, type=TAG, help="KEY=VALUE the node is tagged with (repeat: ANDed)")
@OUTPUT
@click.pass_obj
def node_list(obj: Ctx, ping_status: str | None, platform: str | None, agent_version: str, tags: tuple[str, ...],
              output: str) -> None:
    """Every registered node; under them, the controller's room for agent streams (on stderr with
    --output json, and only when it refused some or is full). The filters are applied here, by the
    CLI, to every page of the controller's listing."""
    chosen = NodeFilter(ping_status or "", platform or "", agent_version, tuple(parse_tag(t) for t in tags))
    with obj.client() as c:
        listing = c.node_listing()
    rows = [row for row in (node_row(n) for n in listing.nodes) if chosen.matches(row)]
    capacity = capacity_line(listing.capacity)
    if output == "json":
        print_json(rows)
        if listing.capacity.refused or capacity.startswith("at capacity"):
            say(f"warning: {capacity}", err=True)
    else:
        columns = ["node_id", "hostname", "platform", "os", "ping_status", "tags", "agent_version", "plugins",
                   "last_seen"]
        print_table(rows, columns + ["note"] if any(r["note"] for r in rows) else columns)
        if capacity:
            say(capacity)
