"""Controller records to and from protobuf: the one place they meet on the controller side."""
from __future__ import annotations

from collections.abc import Mapping

from controller.events.bus import CommandChanged, CommandEvent, InvocationChanged, OutputArrived
from controller.fleet.capacity import CapacityState
from controller.model import (
    ActivationRecord,
    CommandRecord,
    InvocationRecord,
    NodeRecord,
    OutputPiece,
    StatusEvent,
    StepOutput,
    StepOutputView,
)
from controller.notification import NotificationConfig, notification_config
from controller.wire import tags_to_pb, targets_to_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire import convert as wire


def parameters_to_pb(params: Mapping[str, tuple[str, ...]]) -> dict[str, pb.ParameterValues]:
    return {k: pb.ParameterValues(values=list(v)) for k, v in params.items()}


def parameters_from_pb(params: Mapping[str, pb.ParameterValues]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v.values) for k, v in params.items()}


def activation_to_pb(a: ActivationRecord) -> pb.Activation:
    return pb.Activation(activation_id=a.activation_id, tags=tags_to_pb(a.tags),
                         registration_limit=a.registration_limit, registrations_count=a.registrations_count,
                         created_at_ms=a.created_at_ms, expires_at_ms=a.expires_at_ms, description=a.description)


def node_to_pb(n: NodeRecord, connection_note: str = "") -> pb.Node:
    return pb.Node(node_id=n.node_id, facts=wire.facts_to_pb(n.facts), tags=tags_to_pb(n.tags),
                   ping_status=n.ping_status.value, registered_at_ms=n.registered_at_ms,
                   last_seen_at_ms=n.last_seen_at_ms, activation_id=n.activation_id,
                   connection_note=connection_note)


def capacity_to_pb(c: CapacityState) -> pb.StreamCapacity:
    return pb.StreamCapacity(open_streams=c.open_streams, max_streams=c.max_streams, open_file_limit=c.open_file_limit,
                             refused=c.refused, first_refused_at_ms=c.first_refused_at_ms,
                             last_refused_at_ms=c.last_refused_at_ms)


def command_to_pb(c: CommandRecord) -> pb.CommandInfo:
    return pb.CommandInfo(
        command_id=c.command_id, document_name=c.document_name, document_sha256=c.document_sha256,
        status=wire.status_to_pb(c.status), status_detail=c.detail.value, detail=wire.detail_to_pb(c.detail),
        comment=c.comment, requested_by=c.requested_by, created_at_ms=c.created_at_ms,
        expires_at_ms=c.expires_at_ms, target_count=c.target_count, completed_count=c.completed_count,
        error_count=c.error_count, delivery_timed_out_count=c.delivery_timed_out_count,
        targets=targets_to_pb(c.targets), max_concurrency=c.max_concurrency, max_errors=c.max_errors,
        document_version=c.document_version, parameters=parameters_to_pb(c.parameters),
        notification_config=None if c.notification is None else notification_to_pb(c.notification, shown=True))


def notification_to_pb(n: NotificationConfig, *, shown: bool) -> pb.NotificationConfig:
    """``shown``: the URL masked to its origin (what a command's readers get)."""
    return pb.NotificationConfig(url=n.shown if shown else n.url, events=n.event_names, type=n.type.value)


def notification_from_pb(request: pb.SendCommandRequest) -> NotificationConfig | None:
    """The send's notification, checked (InputError names the field), or None."""
    if not request.HasField("notification_config"):
        return None
    n = request.notification_config
    return notification_config(n.url, n.events, n.type, "notification_config")


def invocation_to_pb(i: InvocationRecord, views: Mapping[str, StepOutputView] | None = None) -> pb.Invocation:
    """``views``: the steps' output previews by step name (GetCommand), when wanted."""
    steps = []
    for s in (rec.report for rec in i.steps):
        v = (views or {}).get(s.step_name)
        steps.append(pb.StepView(result=wire.step_to_pb(s)) if v is None else pb.StepView(
            result=wire.step_to_pb(s), stdout=v.stdout, stderr=v.stderr, stdout_truncated=v.stdout_truncated,
            stderr_truncated=v.stderr_truncated))
    return pb.Invocation(command_id=i.command_id, node_id=i.node_id, status=wire.status_to_pb(i.status),
                         detail=wire.detail_to_pb(i.detail), exit_code=i.exit_code, started_at_ms=i.started_at_ms,
                         ended_at_ms=i.ended_at_ms, steps=steps)


def output_to_pb(o: StepOutput, stdout_truncated: bool = False, stderr_truncated: bool = False) -> pb.StepOutput:
    return pb.StepOutput(step_name=o.step_name, stdout=o.stdout, stderr=o.stderr, stdout_truncated=stdout_truncated,
                         stderr_truncated=stderr_truncated)


def piece_to_pb(p: OutputPiece) -> pb.OutputPiece:
    return pb.OutputPiece(step_name=p.step_name, stream=wire.stream_to_pb(p.stream), data=p.data, last=p.last,
                          truncated=p.truncated)


def event_to_pb(e: CommandEvent) -> pb.CommandEvent:
    if isinstance(e, OutputArrived):
        return pb.CommandEvent(output=wire.chunk_to_pb(e.chunk), node_id=e.node_id)
    if isinstance(e, InvocationChanged):
        return pb.CommandEvent(invocation=invocation_to_pb(e.invocation), node_id=e.invocation.node_id)
    if isinstance(e, CommandChanged):
        return pb.CommandEvent(command=command_to_pb(e.command))
    raise TypeError(f"unknown event {e!r}")


def status_event_to_pb(event: StatusEvent) -> pb.StatusEvent:
    out = pb.StatusEvent(kind=event.kind.value, command_id=event.command_id, node_id=event.node_id,
                         at_ms=event.at_ms, seq=event.seq, note=event.note)
    if event.detail is not None:
        out.status, out.detail = wire.status_to_pb(event.detail.status), wire.detail_to_pb(event.detail)
    return out
