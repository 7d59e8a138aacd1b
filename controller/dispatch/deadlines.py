"""The ends the controller gives invocations their agents cannot end (docs/statuses.md, "When an
agent goes"), so that every invocation ends in bounded time whatever dies:

- not accepted by the command's delivery deadline: DeliveryTimedOut;
- accepted, then its agent went and is still away past the document's execution time (the sum of
  its steps' timeouts) plus ``lost_grace_seconds``, the node itself away that grace at least:
  AgentLost;
- Cancelling, or cancelled by the operator, while its agent is away: Cancelled at once, and the
  cancel is owed to that agent (stored: ``owed_cancels``), sent when it is back (it may have run on,
  cut off from this controller) until it answers;
- its node deregistered: at once, Undeliverable if never sent, AgentLost if sent, Cancelled if
  stopping.

A real report that comes later still replaces DeliveryTimedOut or AgentLost (plugins/sdk/status.py).
What these end goes to the dispatcher's ``settle`` like any report's."""
from __future__ import annotations

import asyncio
import logging

from controller.dispatch.active import ActiveCommands, Settlement
from controller.dispatch.reports import Settle
from controller.fleet.sessions import Hub
from controller.store.db import Db
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.clock import Clock, now_ms
from plugins.sdk.status import Detail

log = logging.getLogger(__name__)

LOST_GRACE_SECONDS = 120.0  # past an invocation's execution time, how long its agent may stay away
# how a deregistered node's invocations end, by where they stood
_DEREGISTERED_ENDS = ((Detail.UNDELIVERABLE, (Detail.PENDING, Detail.DELAYED)),
                      (Detail.AGENT_LOST, (Detail.IN_PROGRESS,)),
                      (Detail.CANCELLED, (Detail.CANCELLING,)))
_OPEN = tuple(d for _, sources in _DEREGISTERED_ENDS for d in sources)


class Deadlines:
    def __init__(self, db: Db, hub: Hub, active: ActiveCommands, settle: Settle, clock: Clock = now_ms,
                 lost_grace_seconds: float = LOST_GRACE_SECONDS) -> None:
        self._db = db
        self._hub = hub
        self._active = active
        self._settle = settle
        self._clock = clock
        self._lost_grace_ms = int(lost_grace_seconds * 1000)
        self._owed: set[str] = set()  # nodes owed a cancel (some may be paid by now: read on their Hello)

    # ------------------------------------------------------------------ owed cancels

    async def load(self) -> None:
        """After a restart: which nodes are owed cancels."""
        self._owed = {n for _, n in await self._db.run(self._db.store.owed_cancels)}

    async def end_cancelled(self, command_id: str, away: list[str]) -> list[str]:
        """End Cancelled the sent invocations of agents that are away, and owe each agent the cancel
        (it may still run the command, cut off from this controller); returns the nodes that moved."""
        store = self._db.store
        moved = await self._db.run(store.transition_invocations, command_id, away, Detail.CANCELLED,
                                   ended_at_ms=self._clock())
        if moved:
            await self._db.run(store.owe_cancels, command_id, moved, self._clock())
            self._owed.update(moved)
        return moved

    async def answered(self, node_id: str, command_id: str) -> None:
        """The node's agent answered a cancel of ``command_id``: a cancel owed for it is paid."""
        if node_id in self._owed:
            await self._db.run(self._db.store.cancel_delivered, command_id, node_id)

    async def owed_to(self, node_id: str) -> list[str]:
        """The commands whose cancel ``node_id`` is owed (its agent answers each: Reports pays them).
        Reads the database only for a node owed one since this controller started."""
        if node_id not in self._owed:
            return []
        owed = [c for c, n in await self._db.run(self._db.store.owed_cancels) if n == node_id]
        if not owed:
            self._owed.discard(node_id)
        return owed

    # ------------------------------------------------------------------ deadlines

    async def expire_undelivered(self) -> int:
        """Invocations not accepted by their command's delivery deadline end DeliveryTimedOut."""
        expired = await self._db.run(self._db.store.expire_undelivered, self._clock())
        by_command: dict[str, list[str]] = {}
        for cid, nid in expired:
            by_command.setdefault(cid, []).append(nid)
        for cid, nids in by_command.items():
            active = self._active.get(cid)
            if active is not None:
                for n in nids:
                    if n in active.run.queue:
                        active.run.queue.remove(n)
                        active.run.in_flight.add(n)  # so that settle() frees it like any other
            await self._settle(Settlement(cid, tuple((n, Detail.DELIVERY_TIMED_OUT) for n in nids)))
        return len(expired)

    async def expire_lost(self) -> int:
        """Invocations whose agent went and stays away end: a Cancelling one at once (Cancelled, the
        cancel owed), an accepted one by its deadline (AgentLost). Returns how many ended."""
        now, grace = self._clock(), self._lost_grace_ms
        ended = 0
        for active in list(self._active):
            run = active.run
            away = {n: since for n in run.in_flight if (since := self._hub.away_since_ms(n)) is not None}
            if not away:
                continue
            stopping = [n for n in away if run.details.get(n) is Detail.CANCELLING]
            cancelled = await self.end_cancelled(active.command_id, stopping)
            accepted_before = now - active.execution_seconds * 1000 - grace
            lost: list[str] = []
            if active.record.created_at_ms <= accepted_before:  # else none can be overdue: no database job
                long_gone = [n for n, since in away.items()
                             if run.details.get(n) is Detail.IN_PROGRESS and now - since >= grace]
                lost = await self._db.run(self._db.store.lose_invocations, active.command_id, long_gone,
                                          accepted_before, now)
            if lost:
                log.warning("command %s: %d invocation(s) AgentLost: their agents went and did not come back by "
                            "the deadline (the steps' %d s and a grace of %d s)", active.command_id, len(lost),
                            active.execution_seconds, grace // 1000)
            if cancelled or lost:
                ended += len(cancelled) + len(lost)
                await self._settle(Settlement(active.command_id, tuple(
                    [(n, Detail.CANCELLED) for n in cancelled] + [(n, Detail.AGENT_LOST) for n in lost])))
        return ended

    async def end_deregistered(self, node_id: str) -> int:
        """A deregistered node's invocations that have not ended end now, since its agent can report
        none of them any more: never sent Undeliverable, sent AgentLost, stopping Cancelled. Returns
        how many ended. (A controller that dies before this leaves them to the deadlines above.)"""
        store, now = self._db.store, self._clock()
        open_ = await self._db.run(store.node_invocations, node_id, _OPEN)
        ended = 0
        for inv in open_:
            active = self._active.get(inv.command_id)
            if active is not None and node_id in active.run.queue:
                active.run.queue.remove(node_id)
                active.run.in_flight.add(node_id)  # so that settle() frees it like any other
            for detail, sources in _DEREGISTERED_ENDS:
                moved = await self._db.run(store.transition_invocations, inv.command_id, [node_id], detail,
                                           ended_at_ms=now, only_from=sources)
                if moved:
                    ended += 1
                    await self._settle(Settlement(inv.command_id, ((node_id, detail),)))
                    break
        return ended

    async def sweep_forever(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                if n := await self.expire_undelivered():
                    log.info("%d invocation(s) passed their delivery deadline", n)
                await self.expire_lost()
            except OutpostError:
                log.exception("deadline sweep failed")
