"""How the CLI shows things: rich tables for people, JSON for programs. One mapping from the
protobuf replies to plain JSON-able rows, so both outputs say the same."""
from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from controller.cli.preflight import NodeSeen
from controller.cli.terminal import cell, terminal_text
from controller.fleet.targets import KEY_GROUP, KEY_NODE_IDS, TAG_PREFIX
from controller.model import output_view
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.facts import Platform
from plugins.sdk.patching import PatchState
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire

Row = dict[str, object]
OUTPUT = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)


def iso(ms: int) -> str:
    if not ms:
        return ""
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # outside years 1..9999 (an agent's clock far off): as it came
        return f"{ms} ms since 1970"


def duration(start_ms: int, end_ms: int) -> str:
    if not start_ms or not end_ms:
        return ""
    return f"{(end_ms - start_ms) / 1000:.2f}s"


def detail_of(item: pb.CommandInfo | pb.Invocation) -> Detail:
    """A command's or an invocation's status detail, as the controller sent it."""
    return wire.detail_from_pb(item.detail)


def tags_text(tags: Sequence[pb.Tag]) -> str:
    return ",".join(f"{t.key}={t.value}" for t in tags)


def node_seen(n: pb.Node) -> NodeSeen:
    return NodeSeen(n.node_id, n.ping_status, wire.facts_from_pb(n.facts))


def node_row(n: pb.Node) -> Row:
    facts = wire.facts_from_pb(n.facts)
    return {"node_id": n.node_id, "hostname": facts.hostname, "platform": facts.platform.value,
            "os": f"{facts.os_name} {facts.os_version}".strip(), "ip_addresses": list(facts.ip_addresses),
            "ping_status": n.ping_status, "tags": {t.key: t.value for t in n.tags},
            "agent_version": facts.agent_version, "plugins": {p.name: p.version for p in facts.plugins},
            "last_seen": iso(n.last_seen_at_ms),
            "registered": iso(n.registered_at_ms), "note": n.connection_note}


def capacity_line(c: pb.StreamCapacity) -> str:
    """The controller's room for agent streams, said under the node list ("" from a controller that
    does not say)."""
    if not c.open_file_limit:
        return ""
    refused = (f", {c.refused} refused since {iso(c.first_refused_at_ms)} (the last at {iso(c.last_refused_at_ms)})"
               if c.refused else "")
    if c.open_streams >= c.max_streams:
        return (f"at capacity: {c.open_streams} of {c.max_streams} agent streams open{refused}; the controller's "
                f"open-file limit is {c.open_file_limit}: raise LimitNOFILE to hold more")
    return (f"agent streams: {c.open_streams} of about {c.max_streams} open{refused} "
            f"(open-file limit {c.open_file_limit})")


def command_row(c: pb.CommandInfo) -> Row:
    return {"command_id": c.command_id, "document": c.document_name,
            "document_version": c.document_version or None,
            "status": wire.status_from_pb(c.status).value, "status_detail": wire.detail_from_pb(c.detail).value,
            "targets": c.target_count, "completed": c.completed_count, "errors": c.error_count,
            "delivery_timed_out": c.delivery_timed_out_count, "max_concurrency": c.max_concurrency,
            "max_errors": c.max_errors, "parameters": {k: list(v.values) for k, v in sorted(c.parameters.items())},
            "requested_by": c.requested_by, "created": iso(c.created_at_ms), "comment": c.comment,
            **({} if not c.HasField("notification_config") else {"notification": notification_row(c)})}


def notification_row(c: pb.CommandInfo) -> Row:
    """A command's own notification as the controller shows it (its URL masked past the origin)."""
    n = c.notification_config
    return {"url": n.url, "events": list(n.events), "type": n.type}


def step_row(v: pb.StepView) -> Row:
    s = v.result
    detail = wire.detail_from_pb(s.detail)
    return {"name": s.step_name, "action": s.action, "status": detail.status.value, "status_detail": detail.value,
            "exit_code": s.exit_code, "duration": duration(s.started_at_ms, s.ended_at_ms), "error": s.error,
            "changed": s.changed, "stdout": v.stdout, "stderr": v.stderr, "stdout_truncated": v.stdout_truncated,
            "stderr_truncated": v.stderr_truncated}


def invocation_row(i: pb.Invocation) -> Row:
    return {"node_id": i.node_id, "status": wire.status_from_pb(i.status).value,
            "status_detail": wire.detail_from_pb(i.detail).value,
            "exit_code": i.exit_code, "started": iso(i.started_at_ms), "ended": iso(i.ended_at_ms),
            "duration": duration(i.started_at_ms, i.ended_at_ms), "steps": [step_row(s) for s in i.steps]}


def response_code(detail: Detail, started_ms: int, exit_code: int) -> int:
    """SSM's ResponseCode: the exit code once the node ran it to its end; -1 before (or never started)."""
    return exit_code if started_ms and detail.terminal else -1


def step_view_row(v: pb.StepView) -> Row:
    """A step as ``command invocations --details`` and ``command get`` show it: step_row's, with its
    response code and times."""
    s = v.result
    return {**step_row(v), "response_code": response_code(wire.detail_from_pb(s.detail), s.started_at_ms, s.exit_code),
            "started": iso(s.started_at_ms), "ended": iso(s.ended_at_ms)}


def invocation_view_row(i: pb.Invocation, details: bool = False) -> Row:
    """One invocation, SSM's ListCommandInvocations' way; its steps (``CommandPlugins``) with ``details``."""
    detail = wire.detail_from_pb(i.detail)
    row: Row = {"command_id": i.command_id, "node_id": i.node_id, "status": wire.status_from_pb(i.status).value,
                "status_detail": detail.value, "response_code": response_code(detail, i.started_at_ms, i.exit_code),
                "started": iso(i.started_at_ms), "ended": iso(i.ended_at_ms),
                "duration": duration(i.started_at_ms, i.ended_at_ms)}
    if details:
        row["steps"] = [step_view_row(v) for v in i.steps]
    return row


def content_row(f: pb.ContentFile) -> Row:
    return {"name": f.name, "size": f.size, "sha256": f.sha256, "stored": iso(f.stored_at_ms),
            "stored_by": f.stored_by}


HIDDEN_VALUE = "(SecureString: not shown; --with-decryption shows it)"


def parameter_row(p: pb.Parameter, *, value: bool = False) -> Row:
    """A parameter; its value only where asked (get), a SecureString's only where the controller sent it."""
    row: Row = {"name": p.name, "type": p.type, "version": p.version, "last_modified": iso(p.last_modified_at_ms),
                "last_modified_by": p.last_modified_by, "description": p.description}
    if value:
        row["value"] = p.value if p.value or p.type != "SecureString" else HIDDEN_VALUE
    return row


def release_row(r: pb.AgentRelease) -> Row:
    return {"version": r.version, "filename": r.filename, "size": r.size, "sha256": r.sha256,
            "published": iso(r.published_at_ms), "published_by": r.published_by,
            "signing_key_id": r.signing_key_id, "signature": r.signature.hex()}


def baseline_row(b: pb.Baseline) -> Row:
    """A baseline; its content only where the controller sent it (GetBaseline, PutBaseline)."""
    row: Row = {"name": b.name, "operating_system": b.operating_system, "description": b.description,
                "sha256": b.sha256, "created": iso(b.created_at_ms), "updated": iso(b.updated_at_ms),
                "updated_by": b.updated_by}
    if b.content:
        row["content"] = b.content
    return row


def _summary(c: pb.NodeCompliance) -> dict:
    try:
        value = json.loads(c.summary)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def compliance_row(c: pb.NodeCompliance) -> Row:
    """A node's latest patch compliance: the count of each state (installed, installed_other, ...)
    and, when the controller sent them (GetCompliance), the records."""
    summary = _summary(c)
    counts = summary.get("counts") if isinstance(summary.get("counts"), dict) else {}
    row: Row = {"node_id": c.node_id, "compliant": c.compliant, "baseline": c.baseline_id, "operation": c.operation,
                "snapshot_id": summary.get("snapshot_id", ""), "reboot_option": summary.get("reboot_option", ""),
                "command_id": c.command_id, "started": iso(c.started_at_ms), "ended": iso(c.ended_at_ms)}
    row.update({s.name.lower(): counts.get(s.value, 0) for s in PatchState})
    for key in ("critical_non_compliant", "security_non_compliant", "other_non_compliant"):
        row[key] = summary.get(key, 0)
    if "records" in summary:
        records = summary["records"] if isinstance(summary["records"], list) else []
        row["records"] = [r for r in records if isinstance(r, dict)]
        row["records_omitted"] = summary.get("records_omitted", 0)
    return row


def activation_row(a: pb.Activation) -> Row:
    return {"activation_id": a.activation_id, "tags": {t.key: t.value for t in a.tags},
            "registrations": f"{a.registrations_count}/{a.registration_limit}", "expires": iso(a.expires_at_ms),
            "description": a.description}


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _cell(value: object) -> Text:
    if isinstance(value, dict):
        return cell(",".join(f"{k}={v}" for k, v in value.items()))
    if isinstance(value, list):
        return cell(",".join(str(v) for v in value))
    return cell(str(value))


def make_console() -> Console:
    """A console for stdout; when it is not a terminal, wide enough that ids are never folded."""
    return Console() if sys.stdout.isatty() else Console(width=250)


def print_table(rows: Sequence[Row], columns: Sequence[str], title: str | None = None,
                console: Console | None = None) -> None:
    table = Table(title=title, show_lines=False, title_justify="left")
    for col in columns:
        table.add_column(col.replace("_", " "), overflow="fold", no_wrap=col.endswith("_id"))
    for row in rows:
        table.add_row(*(_cell(row.get(c, "")) for c in columns))
    (console or make_console()).print(table)


STATUS_STYLE = {"Success": "green", "Failed": "red", "TimedOut": "red", "Cancelled": "yellow",
                "Cancelling": "yellow", "InProgress": "cyan", "Delayed": "magenta", "Pending": "dim"}

PLATFORMS = tuple(p.value for p in Platform)


def output_row(s: pb.StepOutput) -> Row:
    return {"step": s.step_name, "stdout": s.stdout.decode(errors="replace"),
            "stderr": s.stderr.decode(errors="replace"), "stdout_truncated": s.stdout_truncated,
            "stderr_truncated": s.stderr_truncated}


def status_event_row(e: pb.StatusEvent) -> Row:
    row: Row = {"seq": e.seq, "time": iso(e.at_ms), "kind": e.kind, "commandId": e.command_id, "nodeId": e.node_id}
    if e.detail:  # a node event has none, but a note
        row.update(status=wire.status_from_pb(e.status).value, statusDetails=wire.detail_from_pb(e.detail).value)
    if e.note:
        row["note"] = e.note
    return row


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


def document_row(d: pb.DocumentInfo) -> Row:
    return {"name": d.name, "version": d.version, "default_version": d.default_version,
            "latest_version": d.latest_version, "format": d.format, "builtin": d.builtin,
            "description": d.description, "parameters": list(d.parameters), "sha256": d.sha256,
            "created_by": d.created_by, "created": iso(d.created_at_ms), "version_name": d.version_name}


class LinePrinter:
    """Prints each node's output as whole lines, prefixed by the node id. After ``rewind`` (a watch
    opened again, which replays each output from its first byte) what was fed before is skipped:
    no line is printed twice (controller/cli/follow.py)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._partial: dict[tuple[str, str, int], str] = {}
        self._fed: dict[tuple[str, str, int], int] = {}  # bytes fed of each output
        self._skip: dict[tuple[str, str, int], int] = {}  # bytes of each still to skip after a rewind

    def rewind(self) -> None:
        self._skip = dict(self._fed)

    def feed(self, node_id: str, chunk: pb.OutputChunk) -> None:
        key = (node_id, chunk.step_name, chunk.stream)
        data = chunk.data
        if skip := self._skip.get(key, 0):
            self._skip[key] = max(0, skip - len(data))
            data = data[skip:]
        if not data:
            return
        self._fed[key] = self._fed.get(key, 0) + len(data)
        text = self._partial.pop(key, "") + data.decode("utf-8", errors="replace")
        *lines, rest = text.split("\n")
        for line in lines:
            self._emit(node_id, chunk.stream, line)
        if rest:
            self._partial[key] = rest

    def flush(self) -> None:
        for (node_id, _step, stream), rest in sorted(self._partial.items()):
            self._emit(node_id, stream, rest)
        self._partial.clear()

    def _emit(self, node_id: str, stream: int, line: str) -> None:
        style = "red" if stream == pb.OUTPUT_STREAM_STDERR else None
        self._console.print(Text(terminal_text(node_id), style="bold"), Text(" | "), sep="", end="", highlight=False)
        self._console.print(Text(terminal_text(line), style=style or ""), highlight=False)


def operator_row(o: pb.Operator) -> Row:
    return {"name": o.name, "policies": list(o.policies), "created": iso(o.created_at_ms), "created_by": o.created_by,
            "revoked": iso(o.revoked_at_ms) if o.revoked_at_ms else "",
            "certificates": [{"serial": c.serial, "issued": iso(c.issued_at_ms), "not_after": iso(c.not_after_ms),
                              "revoked": iso(c.revoked_at_ms) if c.revoked_at_ms else ""} for c in o.certificates]}


def policy_row(p: pb.Policy) -> Row:
    return {"name": p.name, "builtin": p.builtin, "attached_to": list(p.attached_to), "created": iso(p.created_at_ms),
            "updated": iso(p.updated_at_ms), "created_by": p.created_by, "document": p.document}


# ---- records for ``outpost ssm`` (controller/cli/ssm/shapes.py turns them into the AWS CLI's shapes)

def targets_pairs(t: pb.Targets) -> list[list]:
    """Targets as SSM's (Key, Values) pairs."""
    pairs: list[list] = [[f"{TAG_PREFIX}{f.key}", list(f.values)] for f in t.tags]
    if t.node_ids:
        pairs.append([KEY_NODE_IDS, list(t.node_ids)])
    if t.group:
        pairs.append([KEY_GROUP, [t.group]])
    if t.all:
        pairs.append([KEY_NODE_IDS, ["*"]])
    return pairs


def ssm_command_record(c: pb.CommandInfo) -> Row:
    return {**command_row(c), "targets": targets_pairs(c.targets), "target_count": c.target_count,
            "created_ms": c.created_at_ms, "expires_ms": c.expires_at_ms}


def ssm_invocation_record(i: pb.Invocation) -> Row:
    return {"command_id": i.command_id, "node_id": i.node_id, "status": wire.status_from_pb(i.status).value,
            "status_detail": wire.detail_from_pb(i.detail).value, "exit_code": i.exit_code,
            "started_ms": i.started_at_ms, "ended_ms": i.ended_at_ms,
            "steps": [{"name": v.result.step_name, "action": v.result.action,
                       "status": wire.detail_from_pb(v.result.detail).status.value,
                       "status_detail": wire.detail_from_pb(v.result.detail).value, "exit_code": v.result.exit_code,
                       "started_ms": v.result.started_at_ms, "ended_ms": v.result.ended_at_ms,
                       "stdout": v.stdout, "stderr": v.stderr, "error": v.result.error} for v in i.steps]}


def ssm_node_record(n: pb.Node) -> Row:
    return {**node_row(n), "last_seen_ms": n.last_seen_at_ms, "registered_ms": n.registered_at_ms,
            "activation_id": n.activation_id}


def ssm_document_record(d: pb.DocumentInfo) -> Row:
    return {**document_row(d), "created_ms": d.created_at_ms}


class CommandRecorder:
    """A command's events as RunCommand streams them, kept so that its end can be shown as it is
    without reading the command back: each invocation's latest state, and the output it streamed."""

    def __init__(self) -> None:
        self._invocations: dict[str, pb.Invocation] = {}
        self._output: dict[tuple[str, str, int], dict[int, bytes]] = {}  # (node, step, stream) -> seq: data

    def feed(self, event: pb.CommandEvent) -> None:
        kind = event.WhichOneof("body")
        if kind == "invocation":
            self._invocations[event.node_id] = event.invocation
        elif kind == "output":  # a chunk an agent sent again (after a reconnect) comes again: by seq
            chunk = event.output
            self._output.setdefault((event.node_id, chunk.step_name, chunk.stream), {})[chunk.seq] = chunk.data

    def ended(self, end: pb.CommandEvent) -> pb.GetCommandResponse | None:
        """The command as it ended (``end``, its last event), with every invocation and its output
        previews as GetCommand shows them; None when the stream lost events (a watcher that fell
        behind) or lacks an invocation's end: then read the command back."""
        cmd = end.command
        invocations = self._invocations
        if not end.complete or len(invocations) != cmd.target_count or \
                not all(wire.detail_from_pb(i.detail).terminal for i in invocations.values()):
            return None
        return pb.GetCommandResponse(command=cmd, invocations=[self._with_output(invocations[n])
                                                                for n in sorted(invocations)])

    def _with_output(self, inv: pb.Invocation) -> pb.Invocation:
        out = pb.Invocation()
        out.CopyFrom(inv)
        for view in out.steps:
            name = view.result.step_name
            for stream, kind in ((pb.OUTPUT_STREAM_STDOUT, "stdout"), (pb.OUTPUT_STREAM_STDERR, "stderr")):
                chunks = self._output.get((inv.node_id, name, stream), {})
                text, cut = output_view(b"".join(chunks[seq] for seq in sorted(chunks)), kind)
                setattr(view, kind, text)
                setattr(view, f"{kind}_truncated", cut)
        return out
