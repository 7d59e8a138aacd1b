"""What agents say about their commands, stored: acceptances, refusals, output, step and
invocation results, cancel acknowledgements, heartbeats. Identity is the stream's verified node
id, so an agent can only ever report on its own invocations."""
from __future__ import annotations

import logging

from controller.db import Db
from controller.dispatch import Dispatcher, now_ms
from controller.events import EventBus, OutputArrived
from controller.hub import Hub
from controller.model import PingStatus, StepRecord
from controller.store import NotFound, Store
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.facts import Facts
from plugins.sdk.results import InvocationReport, OutputChunk, Refusal, StepReport
from plugins.sdk.status import Detail

log = logging.getLogger(__name__)


def _step_record(node_id: str, s: StepReport) -> StepRecord:
    return StepRecord(s.command_id, node_id, s.step_index, s.step_name, s.action, s.detail, s.exit_code,
                      s.started_at_ms, s.ended_at_ms, s.error)


def _store_result(store: Store, node_id: str, report: InvocationReport) -> bool:
    """Steps and the final detail in one database job; False for an invocation this node does not have."""
    try:
        store.get_invocation(report.command_id, node_id)
    except NotFound:
        return False
    for s in report.steps:
        store.upsert_step(_step_record(node_id, s))
    store.update_invocation(report.command_id, node_id, report.detail, exit_code=report.exit_code,
                            started_at_ms=report.started_at_ms, ended_at_ms=report.ended_at_ms)
    store.compact_output(report.command_id, node_id)  # the output is complete: keep it whole, compressed
    return True


def _store_refusal(store: Store, node_id: str, refusal: Refusal) -> bool:
    """A refusal settles only an invocation the agent had not accepted yet."""
    try:
        inv = store.get_invocation(refusal.command_id, node_id)
    except NotFound:
        return False
    if inv.started_at_ms or inv.detail.terminal:
        return False
    store.upsert_step(StepRecord(refusal.command_id, node_id, 0, "(refused)", "", Detail.FAILED, -1, now_ms(),
                                 now_ms(), f"refused by the agent: {refusal.code}: {refusal.detail}"))
    return store.update_invocation(refusal.command_id, node_id, Detail.FAILED, ended_at_ms=now_ms())


class Reports:
    def __init__(self, db: Db, hub: Hub, events: EventBus, dispatcher: Dispatcher) -> None:
        self._db = db
        self._hub = hub
        self._events = events
        self._dispatcher = dispatcher

    async def on_hello(self, node_id: str, facts: Facts) -> None:
        await self._db.run(self._db.store.update_node_seen, node_id, facts, PingStatus.ONLINE, now_ms())
        await self._dispatcher.on_hello(node_id)

    async def on_heartbeat(self, node_id: str) -> None:
        await self._db.run(self._db.store.update_node_seen, node_id, None, PingStatus.ONLINE, now_ms())

    async def on_disconnect(self, node_id: str) -> None:
        await self._db.run(self._db.store.update_node_seen, node_id, None, PingStatus.CONNECTION_LOST, now_ms())

    async def on_accepted(self, node_id: str, command_id: str) -> None:
        try:
            changed = await self._db.run(self._db.store.update_invocation, command_id, node_id, Detail.IN_PROGRESS,
                                         started_at_ms=now_ms())
        except NotFound:
            log.warning("node %s accepted unknown command %r", node_id, command_id)
            return
        if changed:
            await self._dispatcher.settled(command_id, [], changed=[node_id])

    async def on_refused(self, node_id: str, refusal: Refusal) -> None:
        log.warning("node %s refused command %r: %s: %s", node_id, refusal.command_id, refusal.code, refusal.detail)
        if await self._db.run(_store_refusal, self._db.store, node_id, refusal):
            await self._dispatcher.settled(refusal.command_id, [(node_id, Detail.FAILED)])
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
        try:
            await self._db.run(self._db.store.upsert_step, _step_record(node_id, step))
        except NotFound:
            log.warning("node %s reported a step of unknown command %r", node_id, step.command_id)

    async def on_result(self, node_id: str, report: InvocationReport) -> None:
        if await self._db.run(_store_result, self._db.store, node_id, report):
            inv = await self._db.run(self._db.store.get_invocation, report.command_id, node_id)
            await self._dispatcher.settled(report.command_id, [(node_id, inv.detail)] if inv.detail.terminal else [])
        else:
            log.warning("node %s reported a result for unknown command %r", node_id, report.command_id)
        self._ack(node_id, report.command_id)

    async def on_cancel_ack(self, node_id: str, ack: pb.CancelAck) -> None:
        log.info("node %s: cancel of %s %s", node_id, ack.command_id,
                 "under way" if ack.running else "found nothing running")

    def _ack(self, node_id: str, command_id: str) -> None:
        session = self._hub.get(node_id)
        if session is not None and command_id:
            session.send(pb.ControllerMessage(result_ack=pb.ResultAck(command_id=command_id)))
