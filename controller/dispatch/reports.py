"""What agents say about their commands, stored: acceptances, refusals, output, step and
invocation results (and the patch compliance they carry: controller/dispatch/compliance.py), cancel
acknowledgements. Identity is the stream's verified node id, so an agent can only ever report on its
own invocations.

What a batch of reports settles goes out as ``Settlement``s to ``settle`` (the dispatcher's): this
module reads the active commands (to forecast their counters) and never calls the dispatcher."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from controller.dispatch.active import ActiveCommands, Settlement
from controller.dispatch.compliance import Reported, checked, reported
from controller.dispatch.jobs import Forecast, settle_forecast
from controller.events.bus import EventBus, OutputArrived
from controller.fleet.sessions import Hub
from controller.model import InvocationRecord, StepRecord
from controller.store import NotFound, Store
from controller.store.db import Db
from plugins.sdk.host.clock import Clock, now_ms
from plugins.sdk.status import Detail
from plugins.sdk.wire.messages import CancelAck
from plugins.sdk.wire.results import InvocationReport, OutputChunk, Refusal, StepReport

log = logging.getLogger(__name__)

SETTLE_BATCH = 500  # results stored per transaction at most
NOT_RUN_STEP = "(not run)"  # the step under which an invocation that ran none keeps its agent's reason


def _store_refusal(store: Store, node_id: str, refusal: Refusal, at_ms: int) -> bool:
    """A refusal settles only an invocation the agent had not accepted yet."""
    try:
        inv = store.get_invocation(refusal.command_id, node_id)
    except NotFound:
        return False
    if inv.started_at_ms or inv.detail.terminal:
        return False
    store.upsert_step(StepRecord(node_id, StepReport(refusal.command_id, 0, "(refused)", "", Detail.FAILED, -1,
                                                     at_ms, at_ms,
                                                     f"refused by the agent: {refusal.code}: {refusal.detail}")))
    return store.update_invocation(refusal.command_id, node_id, Detail.FAILED, ended_at_ms=at_ms)


def _write_reports(store: Store, accepted: list[tuple[str, str, int]], steps: list[StepRecord],
                   results: list[InvocationRecord], forecasts: list[Forecast], compliance: list[Reported]
                   ) -> tuple[list[Detail | None], list[Forecast]]:
    """One database job for a batch of reports, the counters of the commands they end included, and
    the patch compliance they carry (checked here, off the event loop)."""
    store.accept_many(accepted)
    store.upsert_steps(steps)
    if compliance:
        store.put_compliance(checked(compliance))
    return settle_forecast(store, results, forecasts)


def _group(accepted: list[tuple[str, str, int]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for command_id, node_id, _ in accepted:
        out.setdefault(command_id, []).append(node_id)
    return out


Settle = Callable[[Settlement], Awaitable[None]]
CancelAnswered = Callable[[str, str], Awaitable[None]]  # (node id, command id): the agent answered a cancel


async def _nothing_owed(_node_id: str, _command_id: str) -> None:
    return None


class Reports:
    def __init__(self, db: Db, hub: Hub, events: EventBus, active: ActiveCommands, settle: Settle,
                 clock: Clock = now_ms, cancel_answered: CancelAnswered = _nothing_owed) -> None:
        """``cancel_answered``: told of each agent's answer to a cancel (the cancels owed to agents that
        were away: controller/dispatch/deadlines.py)."""
        self._db = db
        self._cancel_answered = cancel_answered
        self._hub = hub
        self._events = events
        self._active = active
        self._settle = settle
        self._clock = clock
        self._accepted: list[tuple[str, str, int]] = []
        self._steps: list[StepRecord] = []
        self._results: list[InvocationRecord] = []
        self._writer: asyncio.Task[None] | None = None

    async def on_accepted(self, node_id: str, command_id: str) -> None:
        self._accepted.append((command_id, node_id, self._clock()))
        self._kick()

    async def on_refused(self, node_id: str, refusal: Refusal) -> None:
        log.warning("node %s refused command %r: %s: %s", node_id, refusal.command_id, refusal.code, refusal.detail)
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)  # what the agent said before must be stored first
        if await self._db.run(_store_refusal, self._db.store, node_id, refusal, self._clock()):
            await self._settle(Settlement(refusal.command_id, ((node_id, Detail.FAILED),)))
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
        self._steps.append(StepRecord(node_id, step))
        self._kick()

    async def on_result(self, node_id: str, report: InvocationReport) -> None:
        """Queued: while one batch is being stored, the results that arrive meanwhile gather into the
        next, so thousands of results cost a few transactions (controller/store/settle.py)."""
        steps = report.steps
        if report.error and not steps:  # ended before any step (a document it cannot run): kept as a step says it
            steps = (StepReport(report.command_id, 0, NOT_RUN_STEP, "", report.detail, report.exit_code,
                                report.started_at_ms, report.ended_at_ms, report.error),)
        self._results.append(InvocationRecord(report.command_id, node_id, report.detail, report.exit_code,
                                              report.started_at_ms, report.ended_at_ms,
                                              tuple(StepRecord(node_id, s) for s in steps)))
        self._kick()

    async def flushed(self) -> None:
        """Until every report queued so far is stored and settled."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        """Store what queued up, in arrival order per kind: acceptances, then finished steps, then results
        (an invocation's acceptance and steps always reach the database before its result)."""
        while self._accepted or self._steps or self._results:
            accepted, self._accepted = self._accepted, []
            steps, self._steps = self._steps, []
            batch, self._results = self._results[:SETTLE_BATCH], self._results[SETTLE_BATCH:]
            try:
                await self._store(accepted, steps, batch)
            except Exception:  # noqa: BLE001 - whatever it was, the agents must send it again
                log.exception("storing %d acceptance(s), %d step(s), %d result(s) failed", len(accepted),
                              len(steps), len(batch))
                self._send_again({n for _, n, _ in accepted} | {s.node_id for s in steps} | {b.node_id for b in batch})

    def _send_again(self, node_ids: set[str]) -> None:
        """Nothing of a batch that failed is acknowledged, so its agents still hold what they sent;
        but an agent sends it again only on a new stream, and a healthy stream never ends: these
        agents' streams are closed, so that each comes back and resends (as often as storing fails,
        a full disk for instance, and no more once it works). Found by `make chaos`: results left
        unstored by a full disk kept their invocations InProgress for good."""
        for node_id in sorted(node_ids):
            session = self._hub.get(node_id)
            if session is not None:
                log.warning("node %s: closing its stream so that it sends again what could not be stored", node_id)
                session.close()

    async def _store(self, accepted: list[tuple[str, str, int]], steps: list[StepRecord],
                     batch: list[InvocationRecord]) -> None:
        # an acceptance whose result is in the same batch need not be stored: the result carries its start
        settling = {(b.command_id, b.node_id) for b in batch}
        accepted = [a for a in accepted if (a[0], a[1]) not in settling]
        forecasts = self._active.forecast([(b.command_id, b.node_id, b.detail) for b in batch])
        details, counted = await self._db.run(_write_reports, self._db.store, accepted, steps, batch, forecasts,
                                              reported(steps, batch))
        for command_id, nodes in _group(accepted).items():
            await self._settle(Settlement(command_id, changed=tuple((n, None) for n in nodes)))
        # an invocation whose reported detail the store took is now stored exactly as reported
        self._active.counted(counted, [b for b, d in zip(batch, details, strict=True) if d is b.detail])
        by_command: dict[str, tuple[list[tuple[str, Detail]], list[tuple[str, Detail | None]]]] = {}
        for item, detail in zip(batch, details, strict=True):
            if detail is None:
                log.warning("node %s reported a result for unknown command %r", item.node_id, item.command_id)
            else:
                finished, changed = by_command.setdefault(item.command_id, ([], []))
                if detail.terminal:
                    finished.append((item.node_id, detail))
                else:
                    changed.append((item.node_id, detail))
            self._ack(item.node_id, item.command_id)
        for command_id, (finished, changed) in by_command.items():
            await self._settle(Settlement(command_id, tuple(finished), tuple(changed)))

    async def on_cancel_ack(self, node_id: str, ack: CancelAck) -> None:
        """The agent's answer to a cancel. A cancel owed to it is paid. When it found nothing running,
        the command had ended there: its result came before this answer on the same stream, so once
        the reports queued so far are stored, an invocation still Cancelling has no result to wait
        for (it never reached the agent, or the agent lost it): it ends Cancelled."""
        log.info("node %s: cancel of %s %s", node_id, ack.command_id,
                 "under way" if ack.running else "found nothing running")
        store = self._db.store
        await self._cancel_answered(node_id, ack.command_id)
        if ack.running:
            return
        await self.flushed()
        ended = await self._db.run(store.transition_invocations, ack.command_id, [node_id], Detail.CANCELLED,
                                   ended_at_ms=self._clock(), only_from=[Detail.CANCELLING])
        if ended:
            await self._settle(Settlement(ack.command_id, ((node_id, Detail.CANCELLED),)))

    def _ack(self, node_id: str, command_id: str) -> None:
        session = self._hub.get(node_id)
        if session is not None and command_id:
            session.acknowledge(command_id)
