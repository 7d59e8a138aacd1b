"""Each admin call in the audit trail (controller/trust/audit_trail.py), as the gate decides it:

- refused: one record, AccessDenied, with the refusal's line;
- a read (``Get``, ``List``, ``Read``, ``Simulate``; unless the controller records no reads): one
  record, Allowed, with the trail's next batch (not awaited: it changes nothing, and neither a slow
  nor a full disk may blind the operators);
- a send: one record, Succeeded, stored in the same transaction as its command (a command is on
  record or not stored at all), with its document version and sha256, its targets and how many
  nodes they resolved to, its parameters with secret values as keyed hashes; a send that fails
  before it is stored is recorded Failed (AccessDenied when refused on its nodes) when the call ends;
- any other change: Allowed, stored before the call acts (a trail that cannot be written refuses the
  call: nothing is done unaudited), then its outcome when the call ends, Succeeded or Failed with the
  status the caller got, and what the call added (``annotate``: serials, ...).

A call's request id is the caller's ``x-request-id`` metadata when it gives a usable one, otherwise a
new one; both records of a call carry it.
"""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc

from controller.model import AuditEntry, AuditOutcome, Targets
from controller.store.errors import DatabaseFailed
from controller.trust.audit_trail import AuditTrail, AuditUnavailable
from controller.trust.policy import Action
from controller.trust.policy_eval import ResourceRef
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

READ_VERBS = ("Get", "List", "Read", "Simulate")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
RESOURCE_CHARS = 2048  # of the resources a record names (a send names its nodes in the detail, counted)
DETAIL_CHARS = 2048


def is_read(action: Action) -> bool:
    return action.value.partition(":")[2].startswith(READ_VERBS)


def request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and REQUEST_ID.fullmatch(value):
            return value
    return str(uuid.uuid4())


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def targets_text(targets: Targets) -> str:
    """A send's targets as the operator wrote them, in SSM's words, bounded."""
    parts = []
    if targets.node_ids:
        parts.append("InstanceIds=" + ",".join(targets.node_ids))
    parts += [f"tag:{f.key}=" + ",".join(f.values) for f in targets.tags]
    if targets.group:
        parts.append(f"resource-groups:Name={targets.group}")
    if targets.all:
        parts.append("all")
    return _bounded(" ".join(parts), RESOURCE_CHARS)


@dataclass(frozen=True)
class Caller:
    """Who calls: the operator its verified certificate names, from which address (``role``: what the
    certificate is when it is not an operator's, for a refusal's record)."""
    operator: str
    source_ip: str | None
    role: str = "operator"


class CallAudit:
    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        # a change under way, by id(context): its entry, and whether its success is stored with its command
        self._open: dict[int, tuple[AuditEntry, bool]] = {}

    def _entry(self, context: grpc.aio.ServicerContext, party: Caller, action: str,
               resources: Sequence[ResourceRef], outcome: AuditOutcome, detail: str = "") -> AuditEntry:
        return AuditEntry(at_ms=now_ms(), actor=f"{party.role}/{party.operator}", source_ip=party.source_ip or "",
                          action=action, outcome=outcome, request_id=request_id(context),
                          resource=_bounded(",".join(r.name for r in resources), RESOURCE_CHARS),
                          detail=_bounded(detail, DETAIL_CHARS))

    async def denied(self, context: grpc.aio.ServicerContext, party: Caller, action: str,
                     resources: Sequence[ResourceRef], why: str) -> None:
        """Record a refusal (the caller is refused whether or not the trail takes it)."""
        try:
            await self.trail.record(self._entry(context, party, action, resources, AuditOutcome.DENIED, why))
        except (AuditUnavailable, DatabaseFailed) as exc:
            log.error("a refusal went unrecorded (%s): %s", exc, why)

    async def admitted(self, context: grpc.aio.ServicerContext, party: Caller, action: Action,
                       resources: Sequence[ResourceRef]) -> None:
        """Record an allowed call before it runs; a change's outcome follows when the call ends."""
        if is_read(action):
            if self.trail.record_reads:  # a read changes nothing: stored with the next batch, not awaited
                self.trail.submit(self._entry(context, party, action.value, resources, AuditOutcome.ALLOWED))
            return
        entry = self._entry(context, party, action.value, resources, AuditOutcome.ALLOWED)
        key = id(context)
        self._open[key] = (entry, False)
        context.add_done_callback(lambda ctx: self._ended(key, ctx))
        if action is Action.COMMAND_SEND:
            return  # its record is stored with the command, in one transaction (with_command)
        try:
            await self.trail.record(entry)
        except (AuditUnavailable, DatabaseFailed) as exc:
            self._open.pop(key, None)
            if isinstance(exc, DatabaseFailed):
                raise  # answered UNAVAILABLE in one line, as every failed database is (server/failures.py)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc}; nothing was done")

    def with_command(self, context: grpc.aio.ServicerContext) -> AuditEntry | None:
        """A send's record, to be stored with its command (the dispatcher fills in what it decides);
        the call's end then records only a failure."""
        key = id(context)
        if key not in self._open:
            return None
        entry = self._open[key][0]
        self._open[key] = (entry, True)
        return replace(entry, outcome=AuditOutcome.SUCCEEDED)

    def parameters(self, given: Mapping[str, Sequence[str]], secret: Collection[str]) -> tuple[tuple[str, str], ...]:
        """A send's parameters as the trail keeps them: a secret one's value as its keyed hash."""
        return tuple((name, self.trail.secret("\0".join(values)) if name in secret
                      else _bounded(",".join(values), DETAIL_CHARS)) for name, values in sorted(given.items()))

    def annotate(self, context: grpc.aio.ServicerContext, **fields: Any) -> None:
        """What the change under way adds to its outcome's record (AuditEntry's fields)."""
        key = id(context)
        if key in self._open:
            entry, with_command = self._open[key]
            self._open[key] = (replace(entry, **fields), with_command)

    def _ended(self, key: int, context: grpc.aio.ServicerContext) -> None:
        if key not in self._open:
            return
        entry, with_command = self._open.pop(key)
        code = context.code()
        if code is None or code == grpc.StatusCode.OK or code == 0:
            outcome, detail = AuditOutcome.SUCCEEDED, entry.detail
        elif code == grpc.StatusCode.PERMISSION_DENIED:  # found once the call knew more (a send's nodes)
            outcome, detail = AuditOutcome.DENIED, _bounded(context.details() or "", DETAIL_CHARS)
        else:
            name = code.name if isinstance(code, grpc.StatusCode) else str(code)
            outcome, detail = AuditOutcome.FAILED, _bounded(f"{name}: {context.details() or ''}", DETAIL_CHARS)
        if outcome is AuditOutcome.SUCCEEDED and with_command:
            return  # on record with the command since it was stored
        if context.cancelled() and outcome is AuditOutcome.SUCCEEDED:
            detail = detail or "the caller went away before the answer"
        self.trail.submit(replace(entry, at_ms=now_ms(), outcome=outcome, detail=detail))
