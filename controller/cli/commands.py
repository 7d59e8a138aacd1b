"""``outpost command ...`` and ``outpost events``: send, follow, wait for, cancel and read commands."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.filters import STATUS, TIMESTAMP, CommandFilter
from controller.cli.follow import RECONNECT_TIMEOUT, Reconnect, followed
from controller.cli.notify import notification_of, notify_options
from controller.cli.output_writer import StreamWriter, write_json, write_table
from controller.cli.preflight import node_gaps, stored_document
from controller.cli.render import (
    OUTPUT,
    LinePrinter,
    command_row,
    invocation_row,
    make_console,
    node_seen,
    output_row,
    print_json,
    print_table,
)
from controller.cli.terminal import say
from controller.fleet.targets import parse_targets
from controller.sdk.transport import AdminClient, CommandEvent, CommandInfo, CommandSpec, command_end
from controller.shorthand import parameters_of
from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, has_lone_surrogate

if TYPE_CHECKING:
    from controller.cli.context import Ctx


def parse_parameters(items: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """SSM's ``--parameters``, each option the AWS CLI's shorthand (``k=v[,more][,k2=v]``, quotes and
    brackets kept whole) or JSON (controller/shorthand.py); a name given again adds values (a StringList)."""
    for text in items:
        if has_lone_surrogate(text):  # argv bytes that are not UTF-8, as Python reads them
            raise InputError("--parameters", f"{text!r} is not UTF-8 text")
    out = parameters_of(items)
    size = sum(len(v.encode()) for values in out.values() for v in values)
    if size > MAX_DOCUMENT_BYTES:  # the document they are applied to could not be sent
        raise InputError("--parameters", f"the values are {size} bytes; a document with its parameters "
                                         f"is at most {MAX_DOCUMENT_BYTES}")
    return {k: tuple(v) for k, v in out.items()}


@click.group()
def command() -> None:
    """Commands sent to nodes."""


@command.command("list")
@click.option("--limit", default=50, show_default=True, type=params.PAGE)
@click.option("--command-id", default="", type=params.ID,
              help="Just this command: its status and counters (SSM's --command-id).")
@click.option("--status", default=None, type=STATUS, help="a status or status detail (any case)")
@click.option("--document", "--document-name", "document", default=None, type=params.DOCUMENT,
              help="sent with this document")
@click.option("--node", "node_id", default="", type=params.ID,
              help="that reached this node (reads each candidate command's invocations)")
@click.option("--invoked-after", default=None, type=TIMESTAMP, help="sent at or after this ISO 8601 time")
@click.option("--invoked-before", default=None, type=TIMESTAMP, help="sent at or before this ISO 8601 time")
@OUTPUT
@click.pass_obj
def command_list(obj: Ctx, limit: int, command_id: str, status: str | None, document: str | None, node_id: str,
                 invoked_after: int | None, invoked_before: int | None, output: str) -> None:
    """The newest commands first. The filters are applied here, by the CLI, to the 1,000 newest
    commands the controller lists (its listing has no filter); then --limit of those that pass."""
    chosen = CommandFilter(status or "", document or "", invoked_after, invoked_before)
    with obj.client() as c:
        if not (chosen.any or node_id):
            found = c.list_commands(limit, command_id)
        else:
            found = [x for x in c.list_commands(MAX_LISTED, command_id)
                     if chosen.matches(command_row(x), x.created_at_ms)]
            if node_id:
                found = _reaching(c, found, node_id, limit)
        rows = [command_row(x) for x in found[:limit]]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, ["command_id", "document", "status", "targets", "completed", "errors", "requested_by",
                           "created"])


MAX_LISTED = 1000  # the controller's largest ListCommands


def _reaching(client: AdminClient, commands: list[CommandInfo], node_id: str, limit: int) -> list[CommandInfo]:
    """The first ``limit`` of ``commands`` with an invocation on ``node_id``: a command sent to node
    ids that do not name it is passed over unread, the others' invocations are read, one at a time."""
    out: list[CommandInfo] = []
    for x in commands:
        t = x.targets
        if t.node_ids and not (t.tags or t.group or t.all) and node_id not in t.node_ids:
            continue
        if any(i.node_id == node_id for i in client.get_command(x.command_id).invocations):
            out.append(x)
            if len(out) >= limit:
                break
    return out


@command.command("show")
@click.argument("command_id", type=params.ID)
@OUTPUT
@click.pass_obj
def command_show(obj: Ctx, command_id: str, output: str) -> None:
    with obj.client() as c:
        r = c.get_command(command_id)
    row = {**command_row(r.command), "invocations": [invocation_row(i) for i in r.invocations]}
    if output == "json":
        print_json(row)
        return
    for key in ("command_id", "document", "status", "status_detail", "targets", "completed", "errors",
                "requested_by", "created", "comment"):
        say(f"{key.replace('_', ' '):>14}: {row[key]}")
    if "notification" in row:
        n = row["notification"]
        say(f"{'notification':>14}: {n['url']} ({n['type']}: {','.join(n['events'])})")
    print_table(row["invocations"], ["node_id", "status", "exit_code", "duration", "status_detail"])


@command.command("send")
@click.option("--document", "--document-name", "document", required=True, type=params.DOCUMENT_REF,
              help="NAME or NAME:VERSION ($LATEST, $DEFAULT, N); SSM's names of the built-ins too")
@click.option("--document-hash", default="", type=params.SHA256, help="sha256 the document's content must have")
@click.option("--parameters", "parameters", multiple=True, type=params.ASSIGNMENT,
              help="NAME=VALUE[,VALUE][,NAME=VALUE], NAME=[V1,V2], quoted values keep commas, or the AWS "
                   "CLI's JSON {\"NAME\": [\"V\"]} (repeat a name for lists)")
@click.option("--targets", "targets", multiple=True, type=params.TEXT,
              help="Key=tag:NAME,Values=a,b | Key=InstanceIds,Values=mi-.. "
              "| Key=resource-groups:Name,Values=GROUP (repeat: ANDed), or the AWS CLI's JSON list")
@click.option("--instance-ids", "instance_ids", multiple=True, type=params.TEXT,
              help="node ids (SSM's --instance-ids): repeat, or separate with commas or spaces")
@click.option("--all", "all_nodes", is_flag=True, help="every registered node")
@click.option("--max-concurrency", default="50", show_default=True, type=params.CONCURRENCY,
              help="a count or a percentage of the targets")
@click.option("--max-errors", default="0", show_default=True, type=params.ERRORS,
              help="a count or a percentage of the targets")
@click.option("--timeout-seconds", default=600, show_default=True, type=params.TIMEOUT,
              help="delivery timeout, 30 s to 30 days")
@click.option("--comment", default="", type=params.COMMENT)
@click.option("--wait", "wait", is_flag=True, help="follow the command until it ends; exit 0 only on Success")
@RECONNECT_TIMEOUT
@click.option("--check", "check", is_flag=True,
              help="send nothing: list the targeted nodes that lack an action or its platform")
@notify_options
@OUTPUT
@click.pass_obj
def command_send(obj: Ctx, document: str, document_hash: str, parameters: tuple[str, ...], targets: tuple[str, ...],
                 instance_ids: tuple[str, ...], all_nodes: bool, max_concurrency: str, max_errors: str,
                 timeout_seconds: int, comment: str, wait: bool, reconnect_timeout: float | None, check: bool,
                 notify_url: str | None, notify_events: str | None, notify_type: str | None, output: str) -> None:
    """Send a stored document to nodes, SSM-style. The command is readable as soon as this returns."""
    name, _, version = document.partition(":")
    if instance_ids:
        if targets:
            raise InputError("--instance-ids", "give --targets or --instance-ids, not both (as SSM)")
        ids = [i for text in instance_ids for i in text.replace(",", " ").split()]
        targets = (json.dumps([{"Key": "InstanceIds", "Values": ids}]),)
    if not targets and not all_nodes:
        raise InputError("--targets", "give --targets, --instance-ids or --all")
    chosen = replace(parse_targets(targets), all=True) if all_nodes else parse_targets(targets)
    spec = CommandSpec(chosen, document_name=name, document_version=version, document_hash=document_hash,
                       parameters=parse_parameters(parameters), max_concurrency=max_concurrency, max_errors=max_errors,
                       timeout_seconds=timeout_seconds, comment=comment,
                       notification=notification_of(notify_url, notify_events, notify_type))
    if reconnect_timeout is not None and (check or not wait):
        raise InputError("--reconnect-timeout", "applies with --wait only")
    with obj.client() as c:
        if check:
            raise SystemExit(_check(c, spec, output))
        if wait:  # sent and followed on one stream
            sent, events = c.run_command(spec)
            raise SystemExit(_wait(c, sent.command_id, events, output,
                                   Reconnect.given(f"command {sent.command_id}", reconnect_timeout)))
        r = c.send_command(spec)
    if output == "json":
        print_json(command_row(r.command))
    else:
        say(r.command.command_id)


def _check(client: AdminClient, spec: CommandSpec, output: str) -> int:
    """``command send --check``: the nodes the command would reach that cannot run its document whole
    (their agents would refuse it: Undeliverable; or a step is skipped on their platform). Nothing is
    sent. Exit 1 when a node would refuse it."""
    registry = PluginRegistry.discover()
    document = stored_document(client, spec.document_name, spec.document_version, spec.parameters, registry)
    nodes = client.resolve_targets(spec.targets)
    lacking = [g.row() for g in node_gaps(document, [node_seen(n) for n in nodes], registry)]
    if output == "json":
        print_json({"document": spec.document_name, "targeted": len(nodes), "lacking": lacking})
    else:
        say(f"{len(nodes)} node(s) targeted; {len(lacking)} cannot run {spec.document_name} whole")
        if lacking:
            print_table(lacking, ["node_id", "hostname", "platform", "would_be", "problems"])
        say("check: nothing was sent")
    return 1 if any(row["would_be"] == "Undeliverable" for row in lacking) else 0


def _wait(client: AdminClient, command_id: str, events: Iterable[CommandEvent], output: str,
          how: Reconnect, reopen: Callable[[], Iterable[CommandEvent]] | None = None) -> int:
    """Follow a command's events (RunCommand's or WatchCommand's) to its end, then show it. A stream
    that breaks is followed again from the command as it stands (``reopen``: WatchCommand)."""
    final = command_end(followed(lambda: events, reopen or (lambda: client.watch_command(command_id)),
                                 lambda: False, how))
    shown = client.get_command(command_id)
    row = {**command_row(shown.command), "invocations": [invocation_row(i) for i in shown.invocations]}
    if output == "json":
        print_json(row)
    else:
        print_table(row["invocations"], ["node_id", "status", "status_detail", "exit_code", "duration"],
                    title=f"{command_id}: {row['status']} ({row['status_detail']})")
    detail = command_row(final or shown.command)["status_detail"]
    return 0 if detail == "Success" else 1


@command.command("cancel")
@click.argument("command_id", type=params.ID)
@click.option("--node", "node_ids", multiple=True, type=params.ID, help="only this node's invocation (repeat)")
@OUTPUT
@click.pass_obj
def command_cancel(obj: Ctx, command_id: str, node_ids: tuple[str, ...], output: str) -> None:
    """Stop a command: queued invocations never start, running ones are stopped (SIGTERM, then SIGKILL)."""
    with obj.client() as c:
        row = command_row(c.cancel_command(command_id, node_ids))
    if output == "json":
        print_json(row)
    else:
        say(f"{command_id}: {row['status']} ({row['status_detail']})")


@command.command("output")
@click.argument("command_id")
@click.option("--node", "node_id", required=True)
@click.option("--step", default=None)
@click.option("--full", is_flag=True, help="everything kept, not the 24,000 / 8,000-character views")
@OUTPUT
@click.pass_obj
def command_output(obj: Ctx, command_id: str, node_id: str, step: str | None, full: bool, output: str) -> None:
    """One node's output, step by step. To a terminal, control characters are shown escaped (\\x1b);
    to a file or a pipe, the output is written as the node printed it."""
    with obj.client() as c:
        if full:  # streamed: a step keeps up to 16 MB a stream
            pieces = c.stream_output(command_id, node_id, step or "")
            try:
                if output == "json":
                    write_json(pieces, sys.stdout)
                else:
                    write_table(pieces, sys.stdout, sys.stderr)
            except BrokenPipeError:  # `| head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
                raise SystemExit(141) from None  # as a shell reports SIGPIPE
            return
        steps = c.get_output(command_id, node_id, step or "")
    if output == "json":
        print_json([output_row(s) for s in steps])
        return
    out, err = StreamWriter(sys.stdout), StreamWriter(sys.stderr)
    for s in steps:
        out.line(f"--- {s.step_name} stdout{' (truncated)' if s.stdout_truncated else ''} ---")
        out.write(s.stdout, last=True)
        if s.stderr:
            err.line(f"--- {s.step_name} stderr{' (truncated)' if s.stderr_truncated else ''} ---")
            err.write(s.stderr, last=True)


@command.command("logs")
@click.argument("command_id", type=params.ID)
@click.option("--follow", "-f", is_flag=True, help="keep streaming until the command ends")
@RECONNECT_TIMEOUT
@click.pass_obj
def command_logs(obj: Ctx, command_id: str, follow: bool, reconnect_timeout: float | None) -> None:
    """Every node's output, each line prefixed by its node id. A stream that breaks is resumed after
    what was printed (each line once)."""
    printer = LinePrinter(make_console())
    seen: list[CommandInfo] = []  # the command's events: the snapshot is complete at the first

    with obj.client() as c:
        def reopen() -> Iterable[CommandEvent]:
            printer.rewind()  # the watch replays the stored output from its start
            return c.watch_command(command_id)

        def done() -> bool:
            return bool(seen) and (not follow or Detail(command_row(seen[-1])["status_detail"]).terminal)

        for event in followed(lambda: c.watch_command(command_id), reopen, done,
                              Reconnect.given(f"command {command_id}", reconnect_timeout)):
            kind = event.WhichOneof("body")
            if kind == "output":
                printer.feed(event.node_id, event.output)
            elif kind == "command":
                seen.append(event.command)
                if done():
                    break  # the snapshot is complete once its command event arrives; a follow, at the end
    printer.flush()
