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

from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.facts import Platform
from plugins.sdk.wire import convert as wire

Row = dict[str, object]
OUTPUT = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)


def iso(ms: int) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def duration(start_ms: int, end_ms: int) -> str:
    if not start_ms or not end_ms:
        return ""
    return f"{(end_ms - start_ms) / 1000:.2f}s"


def tags_text(tags: Sequence[pb.Tag]) -> str:
    return ",".join(f"{t.key}={t.value}" for t in tags)


def node_row(n: pb.Node) -> Row:
    facts = wire.facts_from_pb(n.facts)
    return {"node_id": n.node_id, "hostname": facts.hostname, "platform": facts.platform.value,
            "os": f"{facts.os_name} {facts.os_version}".strip(), "ip_addresses": list(facts.ip_addresses),
            "ping_status": n.ping_status, "tags": {t.key: t.value for t in n.tags},
            "agent_version": facts.agent_version, "last_seen": iso(n.last_seen_at_ms),
            "registered": iso(n.registered_at_ms)}


def command_row(c: pb.CommandInfo) -> Row:
    return {"command_id": c.command_id, "document": c.document_name,
            "document_version": c.document_version or None,
            "status": wire.status_from_pb(c.status).value, "status_detail": wire.detail_from_pb(c.detail).value,
            "targets": c.target_count, "completed": c.completed_count, "errors": c.error_count,
            "delivery_timed_out": c.delivery_timed_out_count, "max_concurrency": c.max_concurrency,
            "max_errors": c.max_errors, "parameters": {k: list(v.values) for k, v in sorted(c.parameters.items())},
            "requested_by": c.requested_by, "created": iso(c.created_at_ms), "comment": c.comment}


def step_row(v: pb.StepView) -> Row:
    s = v.result
    detail = wire.detail_from_pb(s.detail)
    return {"name": s.step_name, "action": s.action, "status": detail.status.value, "status_detail": detail.value,
            "exit_code": s.exit_code, "duration": duration(s.started_at_ms, s.ended_at_ms), "error": s.error,
            "stdout": v.stdout, "stderr": v.stderr, "stdout_truncated": v.stdout_truncated,
            "stderr_truncated": v.stderr_truncated}


def invocation_row(i: pb.Invocation) -> Row:
    return {"node_id": i.node_id, "status": wire.status_from_pb(i.status).value,
            "status_detail": wire.detail_from_pb(i.detail).value,
            "exit_code": i.exit_code, "started": iso(i.started_at_ms), "ended": iso(i.ended_at_ms),
            "duration": duration(i.started_at_ms, i.ended_at_ms), "steps": [step_row(s) for s in i.steps]}


def activation_row(a: pb.Activation) -> Row:
    return {"activation_id": a.activation_id, "tags": {t.key: t.value for t in a.tags},
            "registrations": f"{a.registrations_count}/{a.registration_limit}", "expires": iso(a.expires_at_ms),
            "description": a.description}


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


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
