"""``outpost command invocations|get|wait``: SSM's ListCommandInvocations, GetCommandInvocation and
``aws ssm wait command-executed``, read from GetCommand (every invocation, a page at a time)."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import click
import grpc

from controller.cli import params
from controller.cli.commands import _wait, command
from controller.cli.follow import RECONNECT_TIMEOUT, Reconnect, followed
from controller.cli.output_writer import StreamWriter
from controller.cli.render import OUTPUT, Row, command_row, invocation_view_row, print_json, print_table
from controller.cli.terminal import say
from controller.sdk.transport import AdminClient, CommandEvent, CommandView
from plugins.sdk.errors import OutpostError
from plugins.sdk.limits import MAX_TIMEOUT_SECONDS
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import document_from_bytes

if TYPE_CHECKING:
    from controller.cli.context import Ctx

NODE_WAIT_SECONDS = 600.0
PREVIEW_CHARS = 2500  # SSM's ListCommandInvocations Output: a table's output column is cut there


def _nodes_text(view: CommandView) -> str:
    ids = [i.node_id for i in view.invocations]
    if not ids:
        return "it has no invocation"
    return f"its nodes: {', '.join(ids[:5])}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def _invocation(view: CommandView, command_id: str, node_id: str, details: bool = True) -> Row:
    for i in view.invocations:
        if i.node_id == node_id:
            return {**invocation_view_row(i, details), "command_id": command_id}
    raise OutpostError(f"--node: command {command_id} has no invocation on {node_id} ({_nodes_text(view)})")


def _step_names(view: CommandView, invocation: Row) -> list[str]:
    """The document's steps (known before the node reports any), else those the node reported."""
    try:
        return [s.name for s in document_from_bytes(view.document).steps]
    except Exception:  # noqa: BLE001 - a document this CLI cannot read: the steps the node reported
        return [str(s["name"]) for s in invocation["steps"]]


@command.command("invocations")
@click.argument("command_id", type=params.ID)
@click.option("--node", "node_ids", multiple=True, type=params.ID, help="only this node's invocation (repeat)")
@click.option("--details", is_flag=True, help="each invocation's steps too, with their output previews")
@OUTPUT
@click.pass_obj
def command_invocations(obj: Ctx, command_id: str, node_ids: tuple[str, ...], details: bool, output: str) -> None:
    """One row per invocation of the command (SSM's ListCommandInvocations): its status, response
    code (-1 until the node ran it to its end) and times; with --details each step as well."""
    with obj.client() as c:
        view = c.get_command(command_id)
    if node_ids:
        rows = [_invocation(view, command_id, n, details) for n in dict.fromkeys(node_ids)]
    else:
        rows = [{**invocation_view_row(i, details), "command_id": command_id} for i in view.invocations]
    if output == "json":
        print_json(rows)
        return
    print_table(rows, ["node_id", "status", "status_detail", "response_code", "started", "ended", "duration"],
                title=command_id)
    for row in rows if details else ():
        steps = [{**s, "output": _preview(s)} for s in row["steps"]]  # type: ignore[union-attr]
        print_table(steps, ["name", "action", "status", "status_detail", "response_code", "duration", "output"],
                    title=f"{row['node_id']}: steps")


def _preview(step: Row) -> str:
    text = f"{step['stdout']}{step['stderr']}"
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "\n--output truncated--"


@command.command("get")
@click.argument("command_id", type=params.ID)
@click.option("--node", "node_id", required=True, type=params.ID, help="the node (SSM's --instance-id)")
@click.option("--step", default="", type=params.NAME,
              help="the step (SSM's --plugin-name); required when the document has several")
@OUTPUT
@click.pass_obj
def command_get(obj: Ctx, command_id: str, node_id: str, step: str, output: str) -> None:
    """One node's result of one step (SSM's GetCommandInvocation): status, response code, times and
    the stdout and stderr the controller keeps in view (24,000 and 8,000 characters)."""
    with obj.client() as c:
        view = c.get_command(command_id)
    invocation = _invocation(view, command_id, node_id)
    names = _step_names(view, invocation)
    if not step:
        if len(names) > 1:
            raise click.UsageError(f"Missing option '--step': command {command_id} has {len(names)} steps "
                                   f"({', '.join(names)}); name one, as SSM's GetCommandInvocation requires")
        step = names[0] if names else ""
    elif step not in names:
        raise click.BadParameter(f"command {command_id} has no step {step!r} (its steps: {', '.join(names)})",
                                 param_hint="'--step'")
    row = _get_row(invocation, step)
    if output == "json":
        print_json(row)
        return
    for key in ("command_id", "node_id", "step", "action", "status", "status_detail", "response_code", "started",
                "ended", "duration"):
        say(f"{key.replace('_', ' '):>14}: {row[key]}")
    out, err = StreamWriter(sys.stdout), StreamWriter(sys.stderr)
    out.line(f"--- stdout{' (truncated)' if row['stdout_truncated'] else ''} ---")
    out.write(str(row["stdout"]).encode(), last=True)
    if row["stderr"]:
        err.line(f"--- stderr{' (truncated)' if row['stderr_truncated'] else ''} ---")
        err.write(str(row["stderr"]).encode(), last=True)


def _get_row(invocation: Row, step: str) -> Row:
    """SSM's GetCommandInvocation answer for ``step``: the step's own result once the node reported
    it; before that the invocation's status, no response code (-1) and no output."""
    reported = [s for s in invocation["steps"] if s["name"] == step]  # type: ignore[union-attr]
    base = {k: invocation[k] for k in ("command_id", "node_id")}
    if reported:
        s = reported[0]
        return {**base, "step": step, **{k: s[k] for k in ("action", "status", "status_detail", "response_code",
                                                              "started", "ended", "duration", "error", "stdout",
                                                              "stderr", "stdout_truncated", "stderr_truncated")}}
    return {**base, "step": step, "action": "", "status": invocation["status"],
            "status_detail": invocation["status_detail"], "response_code": -1, "started": "", "ended": "",
            "duration": "", "error": "", "stdout": "", "stderr": "", "stdout_truncated": False,
            "stderr_truncated": False}


@command.command("wait")
@click.argument("command_id", type=params.ID)
@click.option("--node", "node_id", default="", type=params.ID,
              help="wait for this node's invocation only; exit 0 only when it ended Success")
@click.option("--timeout", "timeout", default=None, type=params.Seconds(float(MAX_TIMEOUT_SECONDS)),
              help=f"seconds to wait at most, then exit 1 [default: {NODE_WAIT_SECONDS:g} with --node; "
                   "without it, until the command ends]")
@RECONNECT_TIMEOUT
@OUTPUT
@click.pass_obj
def command_wait(obj: Ctx, command_id: str, node_id: str, timeout: float | None, reconnect_timeout: float | None,
                 output: str) -> None:
    """Block until the command (or, with --node, that node's invocation) is terminal; exit 0 only
    when it ended Success. A stream that breaks is followed again from the command as it stands."""
    if node_id and timeout is None:
        timeout = NODE_WAIT_SECONDS
    how = Reconnect.given(f"command {command_id}", reconnect_timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    with obj.client() as c:
        def watch() -> Iterable[CommandEvent]:  # --timeout counts from the start, over every reconnect
            return c.watch_command(command_id, None if deadline is None else max(0.001, deadline - time.monotonic()))
        try:
            if node_id:
                raise SystemExit(_wait_node(c, command_id, node_id, watch, how, output))
            raise SystemExit(_wait(c, command_id, watch(), output, how, watch))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            what = f"{command_id} on {node_id}" if node_id else command_id
            raise OutpostError(f"timed out waiting for {what} after {timeout:g} s (--timeout)") from None


def _wait_node(c: AdminClient, command_id: str, node_id: str, watch: Callable[[], Iterable[CommandEvent]],
               how: Reconnect, output: str) -> int:
    """Follow the command's events until ``node_id``'s invocation (or the command) is terminal."""
    row = _invocation(c.get_command(command_id), command_id, node_id)
    if not Detail(row["status_detail"]).terminal:
        for event in followed(watch, watch, lambda: False, how):
            kind = event.WhichOneof("body")
            if kind == "invocation" and event.node_id == node_id:
                detail = invocation_view_row(event.invocation)["status_detail"]
            elif kind == "command":
                detail = command_row(event.command)["status_detail"]
            else:
                continue
            if Detail(detail).terminal:
                break
        row = _invocation(c.get_command(command_id), command_id, node_id)
        if not Detail(row["status_detail"]).terminal:
            raise OutpostError(f"the controller's stream of {command_id} ended before {node_id}'s invocation did")
    if output == "json":
        print_json(row)
    else:
        print_table([{**s, "output": _preview(s)} for s in row["steps"]],  # type: ignore[union-attr]
                    ["name", "action", "status_detail", "response_code", "duration", "output"],
                    title=f"{command_id} on {node_id}: {row['status']} ({row['status_detail']}), "
                          f"response code {row['response_code']}")
    return 0 if row["status_detail"] == "Success" else 1

