"""``outpost events``: the fleet's status changes. Without --follow the recent ones from the store
(the newest --limit, or the first --limit from --since); with --follow the live ones (after the
stored ones from --since), resumed past the last seq printed when the stream breaks
(controller/cli/follow.py)."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.follow import RECONNECT_TIMEOUT, Reconnect, followed
from controller.cli.render import OUTPUT, status_event_row
from controller.cli.terminal import say, terminal_text
from controller.model import EventFilter
from controller.sdk.transport import StatusEvent
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown

if TYPE_CHECKING:
    from controller.cli.context import Ctx

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000  # the controller's largest ListEvents


def parse_since(text: str) -> tuple[int, int]:
    """``--since``: a seq (digits: the events after it) or a moment (``10m`` ago, an ISO 8601 time):
    (after_seq, since_ms), one of them 0."""
    if text.isdigit() and len(text) <= 19:
        return int(text), 0
    try:
        return 0, params.parse_moment(text)
    except ValueError:
        raise ValueError(f"expected a seq (1234), how long ago (10m, 2h, 7d) or an ISO 8601 time "
                         f"(2026-12-07T10:00:00Z), got {shown(text)}") from None


SINCE = params.Checked("seq|time", parse_since)


def _print(row: dict[str, object], output: str) -> None:
    if output == "json":
        sys.stdout.write(json.dumps(row) + "\n")
    else:
        what = f"{row['status']} ({row['statusDetails']})" if "status" in row else ""
        if "note" in row:
            what = f"{what} {row['note']}".strip()
        sys.stdout.write(terminal_text(f"{row['seq']:>8} {row['time']} {row['kind']:<10} {row['commandId'] or '-'} "
                                       f"{row['nodeId'] or '-':<20} {what}") + "\n")
    sys.stdout.flush()


@click.group(invoke_without_command=True)
@click.option("--follow", "-f", is_flag=True, help="stream status changes as they happen (resumed across "
                                                   "controller restarts)")
@click.option("--limit", default=None, type=click.IntRange(1, MAX_LIMIT),
              help=f"at most this many events [default: {DEFAULT_LIMIT}]; not with --follow")
@click.option("--since", "since", default=None, type=SINCE,
              help="after this seq, or from this time (10m, 2h, 2026-12-07T10:00:00Z); with --follow, "
                   "the stored events from there first")
@click.option("--command", "command_id", default="", type=params.ID, help="only this command's events")
@click.option("--node", "node_id", default="", type=params.ID, help="only this node's events")
@RECONNECT_TIMEOUT
@OUTPUT
@click.pass_obj
def events(obj: Ctx, follow: bool, limit: int | None, since: tuple[int, int] | None, command_id: str, node_id: str,
           reconnect_timeout: float | None, output: str) -> None:
    """Every command and invocation status change, oldest first: the newest 100 (--limit), those
    after a seq or from a time (--since), or live (--follow)."""
    after_seq, since_ms = since or (0, 0)
    chosen = EventFilter(after_seq, since_ms, command_id, node_id)
    if not follow:
        if reconnect_timeout is not None:
            raise InputError("--reconnect-timeout", "applies with --follow only")
        with obj.client() as c:
            page = c.list_events(chosen, limit or DEFAULT_LIMIT)
        for e in page.events:
            _print(status_event_row(e), output)
        if page.more:
            say(f"(more events follow: --since {page.events[-1].seq})", err=True)
        return
    if limit is not None:
        raise InputError("--limit", "lists recent events; --follow streams them (give --since to replay "
                                    "stored events first)")
    how = Reconnect.given("events", reconnect_timeout)
    last = [after_seq]

    with obj.client() as c:
        if since is None:  # from now on: past the newest stored event (what comes meanwhile is new too)
            newest = c.list_events(EventFilter(), 1).events
            last[0] = newest[-1].seq if newest else 0

        def reopen() -> Iterable[StatusEvent]:
            return c.watch_events(replace(chosen, after_seq=last[0], since_ms=0 if last[0] else since_ms), True)

        for e in followed(reopen, reopen, lambda: False, how):
            if e.seq <= last[0]:
                continue  # told already (never expected: the controller de-duplicates on seq)
            last[0] = e.seq
            _print(status_event_row(e), output)
