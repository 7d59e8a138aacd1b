"""Database rows to controller.model records and back (the column-by-column half of the store)."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping

from controller.model import (
    ActivationRecord,
    CommandRecord,
    InvocationRecord,
    NodeRecord,
    PingStatus,
    StepRecord,
    Tag,
)
from controller.store import codec
from controller.store.errors import StoreError
from plugins.sdk.status import Detail
from plugins.sdk.wire.results import StepReport


def detail(value: object) -> Detail:
    try:
        return Detail(value)
    except ValueError as e:
        raise StoreError(f"corrupt row: unknown status detail {value!r}") from e


def ping_status(value: object) -> PingStatus:
    try:
        return PingStatus(value)
    except ValueError as e:
        raise StoreError(f"corrupt row: unknown ping status {value!r}") from e


def activation_from_row(r: RowMapping) -> ActivationRecord:
    return ActivationRecord(
        activation_id=str(r["activation_id"]),
        code_hash=bytes(r["code_hash"]),
        tags=codec.decode_tags(str(r["tags"])),
        registration_limit=int(r["registration_limit"]),
        registrations_count=int(r["registrations_count"]),
        created_at_ms=int(r["created_at_ms"]),
        expires_at_ms=int(r["expires_at_ms"]),
        description=str(r["description"]),
    )


def node_from_row(r: RowMapping, tag_rows: Sequence[RowMapping]) -> NodeRecord:
    """``tag_rows`` are the node's node_tags rows, already in position order."""
    return NodeRecord(
        node_id=str(r["node_id"]),
        facts=codec.decode_facts(str(r["facts"])),
        tags=tuple(Tag(key=str(t["key"]), value=str(t["value"])) for t in tag_rows),
        activation_id=str(r["activation_id"]),
        certificate_serial=str(r["certificate_serial"]),
        registered_at_ms=int(r["registered_at_ms"]),
        last_seen_at_ms=int(r["last_seen_at_ms"]),
        ping_status=ping_status(r["ping_status"]),
    )


def command_from_row(r: RowMapping) -> CommandRecord:
    return CommandRecord(
        command_id=str(r["command_id"]),
        document_name=str(r["document_name"]),
        document_sha256=bytes(r["document_sha256"]),
        targets=codec.decode_targets(str(r["targets"])),
        comment=str(r["comment"]),
        requested_by=str(r["requested_by"]),
        created_at_ms=int(r["created_at_ms"]),
        expires_at_ms=int(r["expires_at_ms"]),
        detail=detail(r["status_detail"]),
        target_count=int(r["target_count"]),
        completed_count=int(r["completed_count"]),
        error_count=int(r["error_count"]),
        delivery_timed_out_count=int(r["delivery_timed_out_count"]),
        max_concurrency=str(r["max_concurrency"]),
        max_errors=str(r["max_errors"]),
        document_version=int(r["document_version"]),
        parameters=codec.decode_parameters(str(r["parameters"])),
        cancel_requested=bool(r["cancel_requested"]),
    )


def step_from_row(r: RowMapping) -> StepRecord:
    return StepRecord(str(r["node_id"]), StepReport(
        command_id=str(r["command_id"]),
        step_index=int(r["step_index"]),
        step_name=str(r["step_name"]),
        action=str(r["action"]),
        detail=detail(r["status"]),
        exit_code=int(r["exit_code"]),
        started_at_ms=int(r["started_at_ms"]),
        ended_at_ms=int(r["ended_at_ms"]),
        error=str(r["error"]),
        changed=bool(r["changed"]),
    ))


def step_values(rec: StepRecord) -> dict[str, str | int | bool]:
    """A step_results row's column values."""
    s = rec.report
    return {
        "command_id": s.command_id, "node_id": rec.node_id, "step_index": s.step_index,
        "step_name": s.step_name, "action": s.action, "status": s.detail.value,
        "exit_code": s.exit_code, "started_at_ms": s.started_at_ms, "ended_at_ms": s.ended_at_ms,
        "error": s.error, "changed": s.changed,
    }


def invocation_from_row(r: RowMapping, steps: Sequence[StepRecord]) -> InvocationRecord:
    return InvocationRecord(
        command_id=str(r["command_id"]),
        node_id=str(r["node_id"]),
        detail=detail(r["status_detail"]),
        exit_code=int(r["exit_code"]),
        started_at_ms=int(r["started_at_ms"]),
        ended_at_ms=int(r["ended_at_ms"]),
        steps=tuple(steps),
    )
