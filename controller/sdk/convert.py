"""The controller's answers as the SDK's records: the one place the SDK reads protobuf."""
from __future__ import annotations

from controller.sdk.models import (
    Command,
    DocumentVersion,
    Event,
    Invocation,
    Node,
    NotificationSettings,
    StepResult,
    when,
)
from controller.wire import tags_from_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire import convert as wire


def step_from_pb(v: pb.StepView) -> StepResult:
    s = v.result
    detail = wire.detail_from_pb(s.detail)
    return StepResult(s.step_name, s.action, detail.status, detail, s.exit_code, s.changed, s.error,
                      when(s.started_at_ms), when(s.ended_at_ms), v.stdout, v.stderr, v.stdout_truncated,
                      v.stderr_truncated)


def invocation_from_pb(i: pb.Invocation) -> Invocation:
    return Invocation(i.command_id, i.node_id, wire.status_from_pb(i.status), wire.detail_from_pb(i.detail),
                      i.exit_code, when(i.started_at_ms), when(i.ended_at_ms),
                      tuple(step_from_pb(s) for s in i.steps))


def command_from_pb(c: pb.CommandInfo, invocations: tuple[pb.Invocation, ...] = ()) -> Command:
    notification = None
    if c.HasField("notification_config"):
        n = c.notification_config
        notification = NotificationSettings(n.url, tuple(n.events), n.type)
    return Command(
        command_id=c.command_id, document_name=c.document_name, document_version=c.document_version or None,
        status=wire.status_from_pb(c.status), detail=wire.detail_from_pb(c.detail), comment=c.comment,
        requested_by=c.requested_by, created_at=when(c.created_at_ms), target_count=c.target_count,
        completed_count=c.completed_count, error_count=c.error_count,
        delivery_timed_out_count=c.delivery_timed_out_count, max_concurrency=c.max_concurrency,
        max_errors=c.max_errors, parameters={k: tuple(v.values) for k, v in c.parameters.items()},
        notification=notification, invocations=tuple(invocation_from_pb(i) for i in invocations))


def node_from_pb(n: pb.Node) -> Node:
    return Node(n.node_id, n.ping_status, wire.facts_from_pb(n.facts), tags_from_pb(list(n.tags)),
                when(n.registered_at_ms), when(n.last_seen_at_ms))


def document_from_pb(d: pb.DocumentInfo) -> DocumentVersion:
    return DocumentVersion(d.name, d.version, d.version_name, d.latest_version, d.default_version, d.sha256,
                           d.description, d.format, when(d.created_at_ms), d.created_by, d.builtin,
                           tuple(d.parameters))


def event_from_pb(e: pb.StatusEvent) -> Event:
    node = e.kind == "node"
    return Event(e.kind, e.command_id, e.node_id, None if node else wire.status_from_pb(e.status),
                 None if node else wire.detail_from_pb(e.detail), when(e.at_ms), e.seq, e.note)
