"""Dispatch: from an accepted command to signed envelopes on agents' streams, and from agents'
reports to stored results. Every state change goes through the store's state machine, so a late
or repeated report never moves a status backwards."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, replace

from controller.db import Db
from controller.events import CommandChanged, EventBus, InvocationChanged, OutputArrived
from controller.hub import Hub
from controller.model import CommandRecord, InvocationRecord, PingStatus, StepRecord, Targets
from controller.signing import DocumentSigner
from controller.store import NotFound, Store
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk import wire
from plugins.sdk.document import Document, document_from_bytes
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.facts import Facts
from plugins.sdk.registry import PluginRegistry
from plugins.sdk.results import InvocationReport, OutputChunk, Refusal, StepReport
from plugins.sdk.status import Status

log = logging.getLogger(__name__)

DEFAULT_DELIVERY_TIMEOUT_SECONDS = 600  # SSM's console default
MAX_DELIVERY_TIMEOUT_SECONDS = 2_592_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class CommandRejected(OutpostError):
    """A command was refused before anything was stored or sent."""


@dataclass(frozen=True)
class CommandRequest:
    document: bytes
    targets: Targets
    comment: str
    requested_by: str
    document_name: str
    timeout_seconds: int


def validate_document(document: bytes, registry: PluginRegistry) -> Document:
    """Structure and every step's inputs, against the same schemas the agent checks."""
    doc = document_from_bytes(document)
    if not doc.steps:
        raise CommandRejected("document.mainSteps: a document needs at least one step")
    for i, step in enumerate(doc.steps):
        registry.bind(step.action, step.inputs, f"document.mainSteps[{i}].inputs")
    return doc


def command_status(invocations: list[InvocationRecord]) -> tuple[Status, str, int, int]:
    """(status, detail, completed, errors) of a command from its invocations."""
    completed = sum(1 for i in invocations if i.status.terminal)
    errors = sum(1 for i in invocations if i.status.is_error)
    if not invocations:
        return Status.FAILED, "NoInstancesInTag", 0, 0
    if completed < len(invocations):
        started = any(i.status is not Status.PENDING for i in invocations)
        return (Status.IN_PROGRESS, "InProgress", completed, errors) if started else \
            (Status.PENDING, "Pending", completed, errors)
    if errors:
        return Status.FAILED, "Failed", completed, errors
    if any(i.status is Status.CANCELLED for i in invocations):
        return Status.CANCELLED, "Cancelled", completed, errors
    return Status.SUCCESS, "Success", completed, errors


def _recount(store: Store, command_id: str) -> CommandRecord:
    status, detail, completed, errors = command_status(store.list_invocations(command_id))
    store.update_command(command_id, status, detail, completed, errors)
    return store.get_command(command_id)


def _settle_invocation(store: Store, node_id: str, report: InvocationReport) -> tuple[bool, CommandRecord | None,
                                                                                    InvocationRecord | None]:
    """Store an invocation's final report in one database job; (known, command, invocation)."""
    try:
        store.get_invocation(report.command_id, node_id)
    except NotFound:
        return False, None, None
    for s in report.steps:
        store.upsert_step(StepRecord(report.command_id, node_id, s.step_index, s.step_name, s.action, s.status,
                                     s.exit_code, s.started_at_ms, s.ended_at_ms, s.error))
    store.update_invocation(report.command_id, node_id, Status.IN_PROGRESS, "InProgress",
                            started_at_ms=report.started_at_ms)
    store.update_invocation(report.command_id, node_id, report.status, report.status.value,
                            exit_code=report.exit_code, started_at_ms=report.started_at_ms,
                            ended_at_ms=report.ended_at_ms)
    return True, _recount(store, report.command_id), store.get_invocation(report.command_id, node_id)


def _change_invocation(store: Store, command_id: str, node_id: str, status: Status, detail: str,
                       started_at_ms: int | None, ended_at_ms: int | None
                       ) -> tuple[CommandRecord | None, InvocationRecord | None]:
    try:
        changed = store.update_invocation(command_id, node_id, status, detail, started_at_ms=started_at_ms,
                                          ended_at_ms=ended_at_ms)
    except NotFound:
        return None, None
    if not changed:
        return None, None
    return _recount(store, command_id), store.get_invocation(command_id, node_id)


def _refuse_invocation(store: Store, refusal: Refusal, node_id: str
                       ) -> tuple[CommandRecord | None, InvocationRecord | None]:
    try:
        inv = store.get_invocation(refusal.command_id, node_id)
    except NotFound:
        return None, None
    if inv.status is not Status.PENDING:
        return None, None
    return _change_invocation(store, refusal.command_id, node_id, Status.FAILED,
                              f"Refused ({refusal.code}): {refusal.detail}", None, now_ms())


def _expire_undelivered(store: Store, at_ms: int) -> list[tuple[CommandRecord, list[InvocationRecord]]]:
    expired = store.expire_undelivered(at_ms, "DeliveryTimedOut")
    by_command: dict[str, list[str]] = {}
    for cid, nid in expired:
        by_command.setdefault(cid, []).append(nid)
    return [(_recount(store, cid), [store.get_invocation(cid, n) for n in nids]) for cid, nids in by_command.items()]


class Dispatcher:
    def __init__(self, db: Db, signer: DocumentSigner, hub: Hub, events: EventBus,
                 registry: PluginRegistry) -> None:
        self._db = db
        self._signer = signer
        self._hub = hub
        self._events = events
        self._registry = registry

    # ------------------------------------------------------------------ operator side

    async def send(self, req: CommandRequest) -> tuple[CommandRecord, list[InvocationRecord]]:
        try:
            doc = validate_document(req.document, self._registry)
        except InputError as exc:
            raise CommandRejected(str(exc)) from None
        if req.targets.empty:
            raise CommandRejected("targets: give node ids or tags")
        timeout = req.timeout_seconds or DEFAULT_DELIVERY_TIMEOUT_SECONDS
        if not 30 <= timeout <= MAX_DELIVERY_TIMEOUT_SECONDS:
            raise CommandRejected(f"timeout_seconds: must be 30..{MAX_DELIVERY_TIMEOUT_SECONDS}, got {timeout}")
        nodes = await self._db.run(self._db.store.list_nodes)
        known = {n.node_id for n in nodes}
        unknown = [n for n in req.targets.node_ids if n not in known]
        if unknown:
            raise CommandRejected(f"targets.node_ids: unknown node {unknown[0]}")
        matched = [n.node_id for n in nodes if req.targets.matches(n.node_id, n.tags)]
        created = now_ms()
        cmd = CommandRecord(
            command_id=str(uuid.uuid4()), document_name=req.document_name or doc.description or "playbook",
            document_sha256=doc.sha256(), targets=req.targets, comment=req.comment,
            requested_by=req.requested_by, created_at_ms=created, expires_at_ms=created + timeout * 1000,
            target_count=len(matched))
        if not matched:
            cmd = replace(cmd, status=Status.FAILED, status_detail="NoInstancesInTag")
        invocations = [InvocationRecord(cmd.command_id, n) for n in matched]
        await self._db.run(self._db.store.create_command, cmd, req.document, invocations)
        log.info("command %s from %s: %d targets", cmd.command_id, req.requested_by, len(matched))
        for inv in invocations:
            self._deliver(cmd, inv.node_id, req.document)
        return cmd, invocations

    def _deliver(self, cmd: CommandRecord, node_id: str, document: bytes) -> None:
        session = self._hub.get(node_id)
        if session is None:
            return  # stays Pending; delivered when the node connects, until the command expires
        signed = self._signer.sign_command(cmd.command_id, node_id, document, now_ms(), cmd.expires_at_ms)
        session.send(pb.ControllerMessage(command=wire.command_to_pb(signed)))

    async def expire_undelivered(self) -> int:
        """Invocations not delivered by their command's deadline end TimedOut (DeliveryTimedOut)."""
        expired = await self._db.run(_expire_undelivered, self._db.store, now_ms())
        for cmd, invs in expired:
            for inv in invs:
                self._events.publish(inv.command_id, InvocationChanged(inv))
            self._events.publish(cmd.command_id, CommandChanged(cmd))
        return sum(len(invs) for _cmd, invs in expired)

    async def sweep_forever(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                n = await self.expire_undelivered()
                if n:
                    log.info("%d invocation(s) passed their delivery deadline", n)
            except OutpostError:
                log.exception("delivery sweep failed")

    # ------------------------------------------------------------------ agent side

    async def on_hello(self, node_id: str, facts: Facts) -> None:
        store = self._db.store
        await self._db.run(store.update_node_seen, node_id, facts, PingStatus.ONLINE, now_ms())
        pending = await self._db.run(store.pending_invocations, node_id, now_ms())
        for inv in pending:
            cmd = await self._db.run(store.get_command, inv.command_id)
            document = await self._db.run(store.get_document, cmd.document_sha256)
            self._deliver(cmd, node_id, document)

    async def on_heartbeat(self, node_id: str) -> None:
        await self._db.run(self._db.store.update_node_seen, node_id, None, PingStatus.ONLINE, now_ms())

    async def on_disconnect(self, node_id: str) -> None:
        await self._db.run(self._db.store.update_node_seen, node_id, None, PingStatus.CONNECTION_LOST, now_ms())

    async def on_accepted(self, node_id: str, command_id: str) -> None:
        await self._changed(node_id, command_id, Status.IN_PROGRESS, "InProgress", now_ms(), None)

    async def on_refused(self, node_id: str, refusal: Refusal) -> None:
        """A refusal settles only an invocation still waiting for its answer (Pending)."""
        log.warning("node %s refused command %r: %s: %s", node_id, refusal.command_id, refusal.code, refusal.detail)
        cmd, inv = await self._db.run(_refuse_invocation, self._db.store, refusal, node_id)
        self._publish(cmd, inv)
        self._ack(node_id, refusal.command_id)

    async def on_output(self, node_id: str, chunk: OutputChunk) -> None:
        try:
            await self._db.run(self._db.store.append_output, chunk.command_id, node_id, chunk.step_name,
                               chunk.stream.value, chunk.seq, chunk.data)
        except NotFound:
            log.warning("node %s sent output of unknown command %r", node_id, chunk.command_id)
            return
        self._events.publish(chunk.command_id, OutputArrived(node_id, chunk))

    async def on_step(self, node_id: str, step: StepReport) -> None:
        rec = StepRecord(step.command_id, node_id, step.step_index, step.step_name, step.action, step.status,
                         step.exit_code, step.started_at_ms, step.ended_at_ms, step.error)
        try:
            await self._db.run(self._db.store.get_invocation, step.command_id, node_id)
        except NotFound:
            log.warning("node %s reported a step of unknown command %s", node_id, step.command_id)
            return
        await self._db.run(self._db.store.upsert_step, rec)

    async def on_result(self, node_id: str, report: InvocationReport) -> None:
        known, cmd, inv = await self._db.run(_settle_invocation, self._db.store, node_id, report)
        if not known:
            log.warning("node %s reported a result for unknown command %s", node_id, report.command_id)
        else:
            self._publish(cmd, inv)
        self._ack(node_id, report.command_id)

    def _ack(self, node_id: str, command_id: str) -> None:
        session = self._hub.get(node_id)
        if session is not None and command_id:
            session.send(pb.ControllerMessage(result_ack=pb.ResultAck(command_id=command_id)))

    async def _changed(self, node_id: str, command_id: str, status: Status, detail: str,
                       started_at_ms: int | None, ended_at_ms: int | None) -> None:
        cmd, inv = await self._db.run(_change_invocation, self._db.store, command_id, node_id, status, detail,
                                      started_at_ms, ended_at_ms)
        self._publish(cmd, inv)

    def _publish(self, cmd: CommandRecord | None, inv: InvocationRecord | None) -> None:
        if inv is not None:
            self._events.publish(inv.command_id, InvocationChanged(inv))
        if cmd is not None:
            self._events.publish(cmd.command_id, CommandChanged(cmd))
