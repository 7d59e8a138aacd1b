"""What the event bus tells the audit trail: every status change of a command (its invocations'
are in the store, by node, and would be tens of thousands of records a fan-out)."""
from __future__ import annotations

from collections.abc import Callable

from controller.events.bus import EventKind, StatusEvent
from controller.model import AuditEntry, AuditOutcome
from controller.trust.audit_trail import AuditTrail

COMMAND_STATUS = "command:Status"


def command_status_sink(trail: AuditTrail) -> Callable[[StatusEvent], None]:
    def sink(event: StatusEvent) -> None:
        if event.kind is not EventKind.COMMAND or event.detail is None:
            return
        trail.submit(AuditEntry(at_ms=event.at_ms, actor="controller", source_ip="", action=COMMAND_STATUS,
                                outcome=AuditOutcome.SUCCEEDED, request_id="", resource=f"command/{event.command_id}",
                                detail=f"{event.detail.status.value}: {event.detail.value}"))
    return sink
