"""Dispatch: from an accepted command to signed envelopes on agents' streams, under SSM's rate
control (controller/dispatch/ratecontrol.py), and the operator's cancels. controller/dispatch/reports.py takes the
agents' answers; both end in ``settled``, which frees slots, applies max-errors and recounts."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence, Set
from dataclasses import replace

from controller.clock import now_ms
from controller.dispatch.delivery import Delivery
from controller.dispatch.jobs import Forecast, dispatch_batch, recount_and_read, store_counts
from controller.dispatch.ratecontrol import CommandRun
from controller.dispatch.request import CheckedDocuments, CommandRejected, CommandRequest, check_request
from controller.events.feed import KIND_COMMAND, KIND_INVOCATION, StatusFeed
from controller.events.watch import CommandChanged, EventBus, InvocationChanged
from controller.fleet.sessions import Hub
from controller.model import CommandRecord, InvocationRecord, Targets, new_command_id, parse_limit
from controller.store import NotFound, UnknownNodes
from controller.store.db import Db
from controller.trust.signing import DocumentSigner
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail

log = logging.getLogger(__name__)

ENDED_MEMORY = 10_000  # ended commands remembered, so a late report announces nothing twice


def _with_counts(cmd: CommandRecord, run: CommandRun) -> CommandRecord:
    """The command's record with its detail and counters as its run has them in memory."""
    return cmd.with_counts(run.command_detail(), run.counts())


def _unknown_node(targets: Targets, unknown: Set[str]) -> CommandRejected:
    """The refusal of targets naming nodes that are not registered: the first in the request's order."""
    return CommandRejected(f"targets.node_ids: unknown node {next(n for n in targets.node_ids if n in unknown)}")


class Dispatcher:
    def __init__(self, db: Db, signer: DocumentSigner, hub: Hub, events: EventBus,
                 registry: PluginRegistry, feed: StatusFeed) -> None:
        self._db = db
        self._delivery = Delivery(signer, hub)
        self._hub = hub
        self._events = events
        self._checked = CheckedDocuments(registry)
        self._feed = feed
        self._published: dict[str, dict[str, Detail]] = {}  # last detail announced, per active command
        self._changes: dict[str, set[str]] = {}  # per command: nodes changed since its last announcement
        self._announcing: set[str] = set()
        self._ended: dict[str, Detail] = {}  # recently ended commands and their end (bounded)
        self._runs: dict[str, CommandRun] = {}
        self._records: dict[str, CommandRecord] = {}  # active commands as last stored
        self._documents: dict[str, bytes] = {}  # command id -> document, while it is active
        self._fresh: dict[str, dict[str, InvocationRecord]] = {}  # invocations as just stored, to announce

    # ------------------------------------------------------------------ sending

    async def send(self, req: CommandRequest, command_id: str | None = None
                   ) -> tuple[CommandRecord, list[InvocationRecord]]:
        """Store the command and its first dispatch round, then send that round. ``command_id``: the
        id to give it (one a watcher subscribed to beforehand: RunCommand); by default a new one."""
        checked, timeout = check_request(req, self._checked)
        named = req.targets.named_nodes  # checked as the command is stored: one database job, not two
        matched = named if named is not None else await self.resolve(req.targets)
        try:
            concurrency = parse_limit(req.max_concurrency, len(matched), where="max_concurrency", minimum=1)
            max_errors = parse_limit(req.max_errors, len(matched), where="max_errors", minimum=0)
        except InputError as exc:
            raise CommandRejected(str(exc)) from None
        created = now_ms()
        cmd = CommandRecord(
            command_id=command_id or new_command_id(),
            document_name=req.document_name or checked.document.description or "inline",
            document_sha256=checked.sha256, targets=req.targets, comment=req.comment,
            requested_by=req.requested_by, created_at_ms=created, expires_at_ms=created + timeout * 1000,
            target_count=len(matched), max_concurrency=req.max_concurrency, max_errors=req.max_errors,
            document_version=req.document_version, parameters=req.parameters or {},
            detail=Detail.PENDING if matched else Detail.NO_INSTANCES_IN_TAG)
        invocations = [InvocationRecord(cmd.command_id, n) for n in matched]
        run = CommandRun(cmd.command_id, concurrency, max_errors)
        run.queue.extend(matched)
        for node_id in matched:
            run.track(node_id, Detail.PENDING)
        # the first dispatch round is stored with the command itself: one database job per command
        first, offline = self._split(run.next_batch())
        self._dispatched(run, first, offline)
        stored = _with_counts(cmd, run) if matched else cmd
        rows = [replace(i, detail=run.details[i.node_id]) for i in invocations]
        try:
            await self._db.run(self._db.store.create_command, stored, checked.canonical, rows,
                               check_nodes=named is not None)
        except UnknownNodes as exc:
            raise _unknown_node(req.targets, exc.node_ids) from None
        log.info("command %s from %s: %d targets, concurrency %d, max errors %d", cmd.command_id,
                 req.requested_by, len(matched), concurrency, max_errors)
        self._events.publish(cmd.command_id, CommandChanged(cmd))  # SSM's answer: the command Pending
        self._feed.publish(KIND_COMMAND, cmd.command_id, "", cmd.status.value, cmd.detail.value)
        if matched:
            self._published[cmd.command_id] = {"": cmd.detail}
            self._runs[cmd.command_id] = run
            self._records[cmd.command_id] = stored
            self._documents[cmd.command_id] = checked.canonical
            await self._delivery.send(stored, checked.canonical, first)
            if self._events.watched(cmd.command_id) and cmd.command_id in self._runs \
                    and cmd.command_id not in self._announcing:  # once one has begun, it knows what is newest
                # a watcher since before the command existed (RunCommand) is told of the first round as
                # just stored, not read back; a result stored meanwhile (counted()) is newer and stays
                fresh = self._fresh.setdefault(cmd.command_id, {})
                for row in (r for r in rows if r.detail is not Detail.PENDING):
                    fresh.setdefault(row.node_id, row)
            await self._after_change(cmd.command_id, [*first, *offline])
        return cmd, invocations

    async def resolve(self, targets: Targets) -> list[str]:
        """Node ids that ``targets`` selects now, in node id order."""
        store = self._db.store
        group = None
        if targets.group:
            try:
                group = (await self._db.run(store.get_group, targets.group)).targets
            except NotFound:
                raise CommandRejected(f"targets: no group named {targets.group!r}") from None
        nodes = await self._db.run(store.tagged_nodes)
        known = {n for n, _ in nodes}
        if unknown := {n for n in targets.node_ids if n not in known}:
            raise _unknown_node(targets, unknown)
        return [n for n, tags in nodes if targets.matches(n, tags, group)]

    async def _pump(self, run: CommandRun) -> None:
        """Dispatch as many queued invocations as the limits allow: online nodes get the envelope
        (InProgress), offline ones wait for their agent (Delayed)."""
        batch = run.next_batch()
        if not batch:
            return
        online, offline = self._split(batch)
        sent, delayed = await self._db.run(dispatch_batch, self._db.store, run.command_id, online, offline)
        self._dispatched(run, sent, delayed)
        document = self._documents.get(run.command_id)
        if document is not None:
            await self._delivery.send(self._records[run.command_id], document, sent)
        await self._after_change(run.command_id, batch)

    def _split(self, batch: list[str]) -> tuple[list[str], list[str]]:
        """A dispatch round's nodes: those whose agent has a stream now, and the others."""
        online = [n for n in batch if self._hub.get(n) is not None]
        return online, [n for n in batch if self._hub.get(n) is None]

    @staticmethod
    def _dispatched(run: CommandRun, sent: list[str], delayed: list[str]) -> None:
        """Track a stored round: sent invocations InProgress, those held for offline agents Delayed."""
        run.delayed.update(delayed)
        for node_id in delayed:
            run.track(node_id, Detail.DELAYED)
        for node_id in sent:
            run.track(node_id, Detail.IN_PROGRESS)

    # ------------------------------------------------------------------ cancel

    async def cancel(self, command_id: str, node_ids: tuple[str, ...] = ()) -> CommandRecord:
        """SSM's CancelCommand: never-sent invocations end Cancelled at once; sent ones go Cancelling
        and their agents are told to stop them (SIGTERM, then SIGKILL after a grace)."""
        store = self._db.store
        await self._db.run(store.get_command, command_id)  # NotFound for an unknown command
        await self._delivery.until_sent(command_id)  # its Cancels go after its Commands
        invs = await self._db.run(store.list_invocations, command_id)
        chosen = [i for i in invs if not node_ids or i.node_id in node_ids]
        missing = set(node_ids) - {i.node_id for i in invs}
        if missing:
            raise CommandRejected(f"command {command_id} has no invocation on {sorted(missing)[0]}")
        run = self._runs.get(command_id)
        if not node_ids:
            await self._db.run(store.request_cancel, command_id)
            if run is not None:
                run.cancelling = True
            if command_id in self._records:
                self._records[command_id] = replace(self._records[command_id], cancel_requested=True)
        never_sent = [i.node_id for i in chosen if i.detail in (Detail.PENDING, Detail.DELAYED)]
        if run is not None:
            for n in never_sent:
                if n in run.queue:
                    run.queue.remove(n)
        done = await self._db.run(store.transition_invocations, command_id, never_sent, Detail.CANCELLED,
                                  ended_at_ms=now_ms())
        sent = [i.node_id for i in chosen if i.detail is Detail.IN_PROGRESS]
        stopping = await self._db.run(store.transition_invocations, command_id, sent, Detail.CANCELLING)
        for node_id in stopping:
            self._send_cancel(node_id, command_id)
        log.info("command %s: cancel by operator (%d not started, %d stopping)", command_id, len(done),
                 len(stopping))
        await self.settled(command_id, [(n, Detail.CANCELLED) for n in done],
                           changed=[(n, Detail.CANCELLING) for n in stopping])
        return await self._db.run(store.get_command, command_id)

    def _send_cancel(self, node_id: str, command_id: str) -> None:
        session = self._hub.get(node_id)
        if session is not None:
            session.send(pb.ControllerMessage(cancel=pb.Cancel(command_id=command_id)))

    # ------------------------------------------------------------------ after every change

    def forecast(self, results: Sequence[tuple[str, str, Detail]]) -> list[Forecast]:
        """For each active command among ``results`` (command id, node id, detail reported): its record
        once they are stored, so that the job storing them stores its counters too (controller/dispatch/reports.py:
        one database job per batch of results, not two)."""
        reported: dict[str, list[tuple[str, Detail]]] = {}
        for command_id, node_id, detail in results:
            reported.setdefault(command_id, []).append((node_id, detail))
        out = []
        for command_id, items in reported.items():
            run, record = self._runs.get(command_id), self._records.get(command_id)
            if run is not None and record is not None:
                moved, detail, counts = run.forecast(items)
                out.append(Forecast(record, record.with_counts(detail, counts), tuple(moved.items())))
        return out

    def counted(self, forecasts: Sequence[Forecast], stored: Sequence[InvocationRecord]) -> None:
        """These forecasts' counters and these invocations were just stored: the next announcement of
        their commands neither stores nor reads them again. A forecast whose command had other counters
        stored meanwhile is not taken: its next announcement stores the counters as they are then."""
        for f in forecasts:
            if self._records.get(f.record.command_id) is f.base:
                self._records[f.record.command_id] = f.record
        for inv in stored:
            if inv.command_id in self._records:
                self._fresh.setdefault(inv.command_id, {})[inv.node_id] = inv

    async def settled(self, command_id: str, finished: list[tuple[str, Detail]],
                      changed: Sequence[tuple[str, Detail | None]] = ()) -> None:
        """Invocations reached terminal details: free their slots, apply max-errors (the never-started
        end Terminated), dispatch what the limits now allow, publish and recount. ``changed``: other
        invocations stored meanwhile, with their detail now (None: the detail stayed, as on acceptance)."""
        run = self._runs.get(command_id)
        touched = [n for n, _ in finished] + [n for n, _ in changed]
        if run is not None:
            for node_id, detail in [*finished, *changed]:
                if detail is not None:
                    run.track(node_id, detail)
            for node_id, detail in finished:
                if node_id in run.in_flight:
                    run.finished(node_id, detail)
            never = run.never_to_start()  # queued and Delayed ones, after max-errors or a cancel
            if never:
                detail = Detail.CANCELLED if run.cancelling else Detail.TERMINATED
                moved = await self._db.run(self._db.store.transition_invocations, command_id, never, detail,
                                           ended_at_ms=now_ms())
                if run.stopped:
                    log.info("command %s passed max errors (%d): %d invocation(s) terminated", command_id,
                             run.max_errors, len(moved))
                for node_id in moved:
                    run.track(node_id, detail)
                touched += moved
            await self._pump(run)
        await self._after_change(command_id, touched)

    async def _after_change(self, command_id: str, node_ids: list[str]) -> None:
        """Recount and announce. One announcer per command at a time: changes that arrive meanwhile
        are folded into its next round (so a fan-out's thousands of reports cost a few rounds), its
        invocations' ends are always published before its own end, and its end exactly once."""
        self._changes.setdefault(command_id, set()).update(node_ids)
        if command_id in self._announcing:
            return
        self._announcing.add(command_id)
        try:
            while (nodes := self._changes.pop(command_id, None)) is not None:
                if command_id not in self._ended:
                    await self._announce(command_id, sorted(nodes))
                else:
                    await self._late_change(command_id, sorted(nodes))
        finally:
            self._announcing.discard(command_id)

    async def _late_change(self, command_id: str, node_ids: list[str]) -> None:
        """A report after the command ended (an agent's real result after DeliveryTimedOut) may still
        change its counters; announce only what changes its end."""
        cmd, invs = await self._db.run(recount_and_read, self._db.store, command_id, None, node_ids)
        if cmd.detail is not self._ended[command_id]:
            self._ended[command_id] = cmd.detail
            for inv in invs:
                self._feed.publish(KIND_INVOCATION, command_id, inv.node_id, inv.status.value, inv.detail.value)
            self._feed.publish(KIND_COMMAND, command_id, "", cmd.status.value, cmd.detail.value)

    async def _announce(self, command_id: str, node_ids: list[str]) -> None:
        run, record = self._runs.get(command_id), self._records.get(command_id)
        nodes = list(dict.fromkeys(node_ids))
        if run is None or record is None:  # not dispatching (restored late, nothing to run): from the database
            cmd, invs = await self._db.run(recount_and_read, self._db.store, command_id, None, nodes)
            now = [(inv.node_id, inv.detail) for inv in invs]
        else:  # counted in memory, as every change was tracked when stored: O(changes), not O(targets)
            counted = _with_counts(record, run)
            changed = counted.counters != record.counters
            cmd = self._records[command_id] = counted if changed else record  # same record: counted() can match it
            watched = nodes if self._events.watched(command_id) else None
            fresh = self._fresh.pop(command_id, {})  # invocations stored with their results just now
            wanted: list[str] | None = watched or []  # at the end a watcher is told of every invocation
            if watched is not None and cmd.detail.terminal:
                wanted = list(fresh) if len(fresh) == cmd.target_count else None
            if not changed and wanted is not None and all(n in fresh for n in wanted):
                invs = [fresh[n] for n in wanted]  # nothing to store or read (counted with the results)
            else:
                invs = await self._db.run(store_counts, self._db.store, cmd, watched, changed)
            now = [(n, run.details[n]) for n in nodes if n in run.details]
        for inv in invs:
            self._events.publish(command_id, InvocationChanged(inv))
        seen = self._published.setdefault(command_id, {})
        for node_id, detail in now:
            if seen.get(node_id) is not detail:
                seen[node_id] = detail
                self._feed.publish(KIND_INVOCATION, command_id, node_id, detail.status.value, detail.value)
        self._events.publish(command_id, CommandChanged(cmd))
        if seen.get("") is not cmd.detail:
            seen[""] = cmd.detail
            self._feed.publish(KIND_COMMAND, command_id, "", cmd.status.value, cmd.detail.value)
        if cmd.detail.terminal:
            self._runs.pop(command_id, None)
            self._records.pop(command_id, None)
            self._documents.pop(command_id, None)
            self._published.pop(command_id, None)
            self._fresh.pop(command_id, None)
            self._ended[command_id] = cmd.detail
            while len(self._ended) > ENDED_MEMORY:
                del self._ended[next(iter(self._ended))]

    # ------------------------------------------------------------------ nodes coming and going

    async def on_hello(self, node_id: str) -> None:
        """A node connected: send what waited for it, and the cancels it missed. Only an active
        command can have either, and every active command has its run here (resume() after a restart),
        so a node none of them has in flight costs nothing: a fleet reconnecting reads nothing."""
        if not any(node_id in run.in_flight for run in self._runs.values()):
            return
        store = self._db.store
        for inv in await self._db.run(store.undelivered_invocations, node_id, now_ms()):
            run = self._runs.get(inv.command_id)
            if run is not None and (run.stopped or run.cancelling):
                continue  # never started, and never will: settled() terminates it
            if inv.detail is Detail.DELAYED:
                moved = await self._db.run(store.transition_invocations, inv.command_id, [node_id],
                                           Detail.IN_PROGRESS)
                if not moved:
                    continue
                if run is not None:
                    run.delivered(node_id)
                    run.track(node_id, Detail.IN_PROGRESS)
                await self._after_change(inv.command_id, [node_id])
            cmd = self._records.get(inv.command_id) or await self._db.run(store.get_command, inv.command_id)
            if inv.command_id not in self._documents:
                self._documents[inv.command_id] = await self._db.run(store.get_document, cmd.document_sha256)
            await self._delivery.send(cmd, self._documents[inv.command_id], [node_id])
        for inv in await self._db.run(store.node_invocations, node_id, [Detail.CANCELLING]):
            self._send_cancel(node_id, inv.command_id)

    async def resume(self) -> int:
        """After a restart: rebuild the dispatch state of every active command and go on with it."""
        store = self._db.store
        active = await self._db.run(store.active_commands)
        for cmd in active:
            invs = await self._db.run(store.list_invocations, cmd.command_id)
            run = CommandRun.resume(
                cmd.command_id, parse_limit(cmd.max_concurrency, cmd.target_count, where="max_concurrency", minimum=1),
                parse_limit(cmd.max_errors, cmd.target_count, where="max_errors", minimum=0), cmd.cancel_requested,
                [(i.node_id, i.detail) for i in invs])
            self._runs[cmd.command_id] = run
            self._records[cmd.command_id] = cmd
            self._documents[cmd.command_id] = await self._db.run(store.get_document, cmd.document_sha256)
            await self.settled(cmd.command_id, [])
        return len(active)

    async def expire_undelivered(self) -> int:
        """Invocations not accepted by their command's delivery deadline end DeliveryTimedOut."""
        expired = await self._db.run(self._db.store.expire_undelivered, now_ms())
        by_command: dict[str, list[str]] = {}
        for cid, nid in expired:
            by_command.setdefault(cid, []).append(nid)
        for cid, nids in by_command.items():
            run = self._runs.get(cid)
            if run is not None:
                for n in nids:
                    if n in run.queue:
                        run.queue.remove(n)
                        run.in_flight.add(n)  # so that settled() frees it like any other
            await self.settled(cid, [(n, Detail.DELIVERY_TIMED_OUT) for n in nids])
        return len(expired)

    async def sweep_forever(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                n = await self.expire_undelivered()
                if n:
                    log.info("%d invocation(s) passed their delivery deadline", n)
            except OutpostError:
                log.exception("delivery sweep failed")
