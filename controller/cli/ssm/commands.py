"""``outpost ssm send-command | list-commands | cancel-command | list-command-invocations |
get-command-invocation | wait command-executed``: SSM's Run Command API, the AWS CLI's way."""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from controller.cli import params
from controller.cli.commands import MAX_LISTED, _reaching, parse_parameters
from controller.cli.filters import CommandFilter
from controller.cli.notify import ssm_notification
from controller.cli.render import ssm_command_record, ssm_invocation_record
from controller.cli.ssm import shapes
from controller.cli.ssm.args import (
    AwsCommand,
    ServiceError,
    WaiterError,
    check_int,
    check_text,
    common,
    decode_token,
    encode_token,
    merged,
)
from controller.cli.ssm.filters import command_filter
from controller.cli.ssm.output import emit
from controller.fleet.targets import parse_targets
from controller.sdk.transport import CommandSpec
from plugins.sdk.errors import InputError
from plugins.sdk.limits import MAX_TIMEOUT_SECONDS
from plugins.sdk.wire.document import document_from_bytes

if TYPE_CHECKING:
    from controller.cli.context import Ctx
    from controller.sdk.transport import AdminClient, CommandView

SEND_KEYS = {"DocumentName": "--document-name", "DocumentVersion": "--document-version",
             "DocumentHash": "--document-hash", "DocumentHashType": "--document-hash-type",
             "InstanceIds": "--instance-ids", "Targets": "--targets", "Parameters": "--parameters",
             "Comment": "--comment", "TimeoutSeconds": "--timeout-seconds", "MaxConcurrency": "--max-concurrency",
             "MaxErrors": "--max-errors", "NotificationConfig": "--notification-config"}
LIST_KEYS = {"CommandId": "--command-id", "InstanceId": "--instance-id", "MaxResults": "--max-results",
             "NextToken": "--next-token", "Filters": "--filters"}
INVOCATION_KEYS = {**LIST_KEYS, "Details": "--details"}
GET_KEYS = {"CommandId": "--command-id", "InstanceId": "--instance-id", "PluginName": "--plugin-name"}
CANCEL_KEYS = {"CommandId": "--command-id", "InstanceIds": "--instance-ids"}
S3_AND_FRIENDS = ("--output-s3-bucket-name", "--output-s3-key-prefix", "--output-s3-region",
                  "--service-role-arn", "--cloud-watch-output-config",
                  "--alarm-configuration")
WAIT_DELAY = 1.0  # seconds between polls; the AWS CLI's waiter polls every 5 s, 20 times: 100 s in all
WAIT_ATTEMPTS = 100
WAIT_FAILURES = ("Cancelled", "TimedOut", "Failed", "Cancelling")


def _max_results(opts: dict, high: int) -> int | None:
    value = opts.get("max_results")
    return None if value is None else check_int(value, 1, high, "--max-results")


def _token(opts: dict) -> dict:
    value = opts.get("next_token")
    return {} if value is None else decode_token(str(value))


def _page(items: list, opts: dict, high: int) -> tuple[list, str]:
    """A client-side page of ``items``: all of them without --max-results (the AWS CLI's own paging
    reads every page), else --max-results of them from the token's offset."""
    limit = _max_results(opts, high)
    start = int(_token(opts).get("o", 0))
    if limit is None:
        return items[start:], ""
    end = start + limit
    return items[start:end], encode_token({"o": end}) if end < len(items) else ""


@click.command("send-command", cls=AwsCommand)
@click.option("--document-name", default=None, type=params.DOCUMENT_REF, help="NAME (required), or NAME:VERSION")
@click.option("--document-version", default=None, type=params.DOCUMENT_VERSION, help="$DEFAULT, $LATEST or N")
@click.option("--document-hash", default=None, type=params.SHA256)
@click.option("--document-hash-type", default=None, type=click.Choice(["Sha256", "Sha1"]),
              help="Sha256 (Sha1 is refused: Outpost pins documents by sha256)")
@click.option("--instance-ids", multiple=True, type=params.TEXT, help="node ids (several words, or repeat)")
@click.option("--targets", multiple=True, type=params.TEXT, help="Key=K,Values=V1,V2 ... or the JSON list")
@click.option("--parameters", multiple=True, type=params.ASSIGNMENT, help="NAME=V1,V2 or JSON {\"NAME\": [..]}")
@click.option("--comment", default=None, type=params.COMMENT)
@click.option("--timeout-seconds", default=None, type=params.TIMEOUT, help="delivery timeout (default 600)")
@click.option("--max-concurrency", default=None, type=params.CONCURRENCY, help="default 50")
@click.option("--max-errors", default=None, type=params.ERRORS, help="default 0")
@click.option("--notification-config", default=None, type=params.TEXT,
              help="NotificationArn=URL,NotificationEvents=Success,Failed,NotificationType=Command|Invocation "
                   "(or the JSON): the controller POSTs those status changes, signed, to URL (a webhook, not SNS)")
@common(refused=S3_AND_FRIENDS)
@click.pass_context
def send_command(ctx: click.Context, **_: Any) -> None:
    """SSM's SendCommand: prints {"Command": {...}}."""
    o = merged(ctx, SEND_KEYS)
    if o.get("document_hash_type") not in (None, "Sha256"):
        raise InputError("--document-hash-type", "Sha1 is refused: Outpost checks documents by Sha256 only")
    if not o.get("document_name"):
        raise click.UsageError("Missing option '--document-name' (or DocumentName in --cli-input-json)")
    name, _, version = check_text(o["document_name"], params.DOCUMENT_REF, "DocumentName").partition(":")
    version = check_text(o.get("document_version") or version or "", params.DOCUMENT_VERSION, "DocumentVersion") \
        if (o.get("document_version") or version) else ""
    ids = [i for text in o.get("instance_ids") or () for i in str(text).replace(",", " ").split()]
    targets = tuple(o.get("targets") or ())
    if ids and targets:
        raise InputError("--instance-ids", "give --targets or --instance-ids, not both (as SSM)")
    if ids:
        targets = (json.dumps([{"Key": "InstanceIds", "Values": ids}]),)
    if not targets:
        raise InputError("--targets", "give --targets or --instance-ids")
    spec = CommandSpec(
        parse_targets(targets), document_name=name, document_version=version,
        document_hash=check_text(o.get("document_hash") or "", params.SHA256, "DocumentHash"),
        parameters=parse_parameters(tuple(o.get("parameters") or ())),
        max_concurrency=check_text(o.get("max_concurrency") or "50", params.CONCURRENCY, "MaxConcurrency"),
        max_errors=check_text(o.get("max_errors") or "0", params.ERRORS, "MaxErrors"),
        timeout_seconds=check_int(o.get("timeout_seconds") or 600, 30, MAX_TIMEOUT_SECONDS, "TimeoutSeconds"),
        comment=check_text(o.get("comment") or "", params.COMMENT, "Comment"),
        notification=ssm_notification(o.get("notification_config")))
    obj: Ctx = ctx.obj
    with obj.client() as c:
        sent = c.send_command(spec)
    emit({"Command": shapes.command(ssm_command_record(sent.command))}, o["output"], o["query"], "SendCommand")


@click.command("list-commands", cls=AwsCommand)
@click.option("--command-id", default=None, type=params.ID)
@click.option("--instance-id", default=None, type=params.ID, help="commands that reached this node")
@click.option("--filters", multiple=True, type=params.TEXT, help="key=Status|DocumentName|InvokedAfter|"
                                                                 "InvokedBefore,value=V (repeat: ANDed)")
@click.option("--max-results", default=None, type=click.IntRange(1, 50))
@common(paged=True)
@click.pass_context
def list_commands(ctx: click.Context, **_: Any) -> None:
    """SSM's ListCommands, newest first, of the 1,000 newest commands (filtered here, in the CLI)."""
    o = merged(ctx, LIST_KEYS)
    chosen = command_filter(tuple(o.get("filters") or ()))
    with ctx.obj.client() as c:
        found = _commands(c, o, chosen)
    page, token = _page([shapes.command(ssm_command_record(x)) for x in found], o, 50)
    emit(shapes.paged("Commands", page, token), o["output"], o["query"], "ListCommands")


def _commands(c: AdminClient, o: dict, chosen: CommandFilter) -> list:
    found = [x for x in c.list_commands(MAX_LISTED, o.get("command_id") or "")
             if chosen.matches(ssm_command_record(x), x.created_at_ms)]
    if o.get("instance_id"):
        found = _reaching(c, found, str(o["instance_id"]), MAX_LISTED)
    return found


@click.command("cancel-command", cls=AwsCommand)
@click.option("--command-id", default=None, type=params.ID)
@click.option("--instance-ids", multiple=True, type=params.TEXT)
@common()
@click.pass_context
def cancel_command(ctx: click.Context, **_: Any) -> None:
    """SSM's CancelCommand: an empty answer (nothing printed), as the AWS CLI's."""
    o = merged(ctx, CANCEL_KEYS)
    command_id = _required(o, "command_id", "--command-id")
    ids = [i for text in o.get("instance_ids") or () for i in str(text).replace(",", " ").split()]
    with ctx.obj.client() as c:
        c.cancel_command(command_id, ids)
    emit({}, o["output"], o["query"], "CancelCommand")


def _required(o: dict, name: str, option: str) -> str:
    value = o.get(name)
    if not value:
        raise click.UsageError(f"Missing option '{option}'")
    return check_text(value, params.ID, option)


@click.command("list-command-invocations", cls=AwsCommand)
@click.option("--command-id", default=None, type=params.ID)
@click.option("--instance-id", default=None, type=params.ID)
@click.option("--filters", multiple=True, type=params.TEXT, help="as list-commands' (applied to the commands)")
@click.option("--details", is_flag=True, default=None, help="each invocation's CommandPlugins with their output")
@click.option("--max-results", default=None, type=click.IntRange(1, 50))
@common(paged=True)
@click.pass_context
def list_command_invocations(ctx: click.Context, **_: Any) -> None:
    """SSM's ListCommandInvocations. With --command-id alone the controller pages the invocations;
    otherwise the CLI reads the commands (of the 1,000 newest) that reached --instance-id."""
    o = merged(ctx, INVOCATION_KEYS)
    details = bool(o.get("details"))
    chosen = command_filter(tuple(o.get("filters") or ()))
    command_id, node = o.get("command_id"), o.get("instance_id")
    if not command_id and not node:
        raise InputError("--command-id", "give --command-id or --instance-id (Outpost reads invocations "
                                         "command by command)")
    with ctx.obj.client() as c:
        if command_id and not node and not chosen.any:
            answer = _server_page(c, str(command_id), o, details)
        else:
            rows = []
            for x in _commands(c, {**o, "instance_id": node}, chosen):
                view = c.get_command(x.command_id)
                cmd = ssm_command_record(view.command)
                rows += [shapes.invocation(cmd, ssm_invocation_record(i), details) for i in view.invocations
                         if not node or i.node_id == node]
            answer = shapes.paged("CommandInvocations", *_page(rows, o, 50))
    emit(answer, o["output"], o["query"], "ListCommandInvocations")


def _server_page(c: AdminClient, command_id: str, o: dict, details: bool) -> dict:
    limit = _max_results(o, 50)
    if limit is None:
        view = c.get_command(command_id)
        invocations, token = list(view.invocations), ""
    else:
        view = c.command_page(command_id, limit, str(_token(o).get("s", "")))
        invocations, token = list(view.invocations), encode_token({"s": view.next_token}) if view.next_token else ""
    cmd = ssm_command_record(view.command)
    return shapes.paged("CommandInvocations",
                        [shapes.invocation(cmd, ssm_invocation_record(i), details) for i in invocations], token)


def _invocation_of(view: CommandView, command_id: str, node: str, operation: str) -> dict:
    for i in view.invocations:
        if i.node_id == node:
            return ssm_invocation_record(i)
    raise ServiceError("InvocationDoesNotExist", operation, f"command {command_id} has no invocation on {node}")


def _step(view: CommandView, inv: dict, plugin: str, operation: str) -> str:
    try:
        names = [s.name for s in document_from_bytes(view.document).steps]
    except Exception:  # noqa: BLE001 - a document this CLI cannot read: the steps the node reported
        names = [str(s["name"]) for s in inv["steps"]]
    if not plugin:
        if len(names) > 1:
            raise ServiceError("InvalidPluginName", operation, f"the document has {len(names)} steps "
                               f"({', '.join(names)}): name one with --plugin-name")
        return names[0] if names else ""
    if plugin not in names:
        raise ServiceError("InvalidPluginName", operation, f"no step {plugin!r} (its steps: {', '.join(names)})")
    return plugin


def get_invocation(c: AdminClient, command_id: str, node: str, plugin: str, operation: str) -> dict:
    view = c.get_command(command_id)
    inv = _invocation_of(view, command_id, node, operation)
    return shapes.get_invocation(ssm_command_record(view.command), inv, _step(view, inv, plugin, operation))


@click.command("get-command-invocation", cls=AwsCommand)
@click.option("--command-id", default=None, type=params.ID)
@click.option("--instance-id", default=None, type=params.ID)
@click.option("--plugin-name", default=None, type=params.NAME, help="the step; required when there are several")
@common()
@click.pass_context
def get_command_invocation(ctx: click.Context, **_: Any) -> None:
    """SSM's GetCommandInvocation: one node's step, its output up to 24,000 / 8,000 characters."""
    o = merged(ctx, GET_KEYS)
    command_id, node = _required(o, "command_id", "--command-id"), _required(o, "instance_id", "--instance-id")
    with ctx.obj.client() as c:
        answer = get_invocation(c, command_id, node, str(o.get("plugin_name") or ""), "GetCommandInvocation")
    emit(answer, o["output"], o["query"], "GetCommandInvocation")


@click.group("wait")
def wait() -> None:
    """The AWS CLI's waiters."""


@wait.command("command-executed", cls=AwsCommand)
@click.option("--command-id", default=None, type=params.ID)
@click.option("--instance-id", default=None, type=params.ID)
@click.option("--plugin-name", default=None, type=params.NAME)
@common()
@click.pass_context
def command_executed(ctx: click.Context, **_: Any) -> None:
    """Poll GetCommandInvocation until it is Success (exit 0, nothing printed) or Cancelled, TimedOut,
    Failed or Cancelling (exit 255), at most 100 s, as the AWS CLI's waiter."""
    o = merged(ctx, GET_KEYS)
    command_id, node = _required(o, "command_id", "--command-id"), _required(o, "instance_id", "--instance-id")
    status = ""
    with ctx.obj.client() as c:
        for attempt in range(WAIT_ATTEMPTS):
            if attempt:
                time.sleep(WAIT_DELAY)
            try:
                status = get_invocation(c, command_id, node, str(o.get("plugin_name") or ""),
                                        "GetCommandInvocation")["Status"]
            except ServiceError as exc:
                if exc.code != "InvocationDoesNotExist":
                    raise
                continue
            if status == "Success":
                return
            if status in WAIT_FAILURES:
                raise WaiterError(f"Waiter CommandExecuted failed: Waiter encountered a terminal failure state: "
                                  f'For expression "Status" we matched expected path: "{status}"')
    raise WaiterError(f"Waiter CommandExecuted failed: Max attempts exceeded (last status: {status or 'none'})")
