"""Dispatch: from an accepted command to signed envelopes on agents' streams, under SSM's rate
control (controller/dispatch/ratecontrol.py), and the operator's cancels. Each command being
dispatched is one ``ActiveCommand`` (controller/dispatch/active.py). controller/dispatch/reports.py
stores the agents' answers and hands their ``Settlement``s here; cancels and deadlines make their
own. ``settle`` frees slots, applies max-errors, dispatches what the limits allow and announces.

Every invocation ends in bounded time, whatever dies: what agents cannot end, the controller's
deadlines do (controller/dispatch/deadlines.py); a cancel ends an invocation whose agent is away at
once, and the cancel is owed to that agent until it answers."""
from __future__ import annotations

import logging
from collections.abc import Set
from dataclasses import replace

from controller.dispatch.active import COMMAND, ActiveCommand, ActiveCommands, Settlement
from controller.dispatch.deadlines import LOST_GRACE_SECONDS, Deadlines
from controller.dispatch.delivery import Delivery
from controller.dispatch.jobs import dispatch_batch, recount_and_read, store_counts
from controller.dispatch.ratecontrol import CommandRun
from controller.dispatch.request import (
    CheckedDocument,
    CheckedDocuments,
    CommandRejected,
    CommandRequest,
    check_request,
    execution_seconds,
)
from controller.events.bus import CommandChanged, EventBus, EventKind, InvocationChanged
from controller.events.notices import NO_SECRET, CommandNotices
from controller.fleet.sessions import Hub
from controller.model import CommandRecord, EventFilter, InvocationRecord, Targets, new_command_id, parse_limit
from controller.store import NotFound, UnknownNodes
from controller.store.db import Db
from controller.trust.signing import CommandSigner
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.host.clock import Clock, now_ms
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import ScrubFilter
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import DEFAULT_EXECUTION_TIMEOUT_SECONDS, document_from_bytes
from plugins.sdk.wire.messages import Cancel

log = logging.getLogger(__name__)
# how far before the newest stored event a restarted controller looks for ends it had not told (the
# journal stores within 50 ms; a minute covers a clock step and a slow disk)
UNTOLD_END_WINDOW_MS = 60_000

def _with_counts(cmd: CommandRecord, run: CommandRun) -> CommandRecord:
    """The command's record with its detail and counters as its run has them in memory."""
    return cmd.with_counts(run.command_detail(), run.counts())


def _unknown_node(targets: Targets, unknown: Set[str]) -> CommandRejected:
    """The refusal of targets naming nodes that are not registered: the first in the request's order."""
    return CommandRejected(f"targets.node_ids: unknown node {next(n for n in targets.node_ids if n in unknown)}")


class Dispatcher:
    def __init__(self, db: Db, signer: CommandSigner, hub: Hub, events: EventBus,
                 registry: PluginRegistry, active: ActiveCommands | None = None,
                 clock: Clock = now_ms, scrubber: ScrubFilter | None = None,
                 lost_grace_seconds: float = LOST_GRACE_SECONDS, notices: CommandNotices | None = None) -> None:
        """``scrubber``: the process's log scrubber (plugins/sdk/host/logs.py), which holds a
        command's secret values while it is being sent. ``notices``: commands' own notifications
        (None: a send with one is refused)."""
        self._notices = notices
        self._scrubber = scrubber or ScrubFilter()
        self._registry = registry
        self._db = db
        self._delivery = Delivery(signer, hub, clock=clock)
        self._hub = hub
        self._events = events
        self._checked = CheckedDocuments(registry)
        self._clock = clock
        self.active = active or ActiveCommands()
        # per command being announced: None, or the nodes changed since its round began (a round is due)
        self._announcing: dict[str, set[str] | None] = {}
        self.deadlines = Deadlines(db, hub, self.active, self.settle, clock, lost_grace_seconds)

    # ------------------------------------------------------------------ sending

    async def send(self, req: CommandRequest, command_id: str | None = None
                   ) -> tuple[CommandRecord, list[InvocationRecord]]:
        """Store the command and its first dispatch round, then send that round. ``command_id``: the
        id to give it (one a watcher subscribed to beforehand: RunCommand); by default a new one."""
        checked, timeout = check_request(req, self._checked)
        if req.notification is not None and (self._notices is None or not self._notices.enabled):
            raise CommandRejected(NO_SECRET)
        secrets = checked.document.secret_values()
        self._scrubber.hold(secrets)
        try:
            return await self._send(req, checked, timeout, command_id)
        finally:
            self._scrubber.release(secrets)

    async def _send(self, req: CommandRequest, checked: CheckedDocument, timeout: int, command_id: str | None
                    ) -> tuple[CommandRecord, list[InvocationRecord]]:
        named = req.targets.named_nodes  # checked as the command is stored: one database job, not two
        matched = named if named is not None else await self.resolve(req.targets)
        if req.admit is not None:
            await req.admit(matched)  # AccessDenied: nothing stored, nothing sent
        try:
            concurrency = parse_limit(req.max_concurrency, len(matched), where="max_concurrency", minimum=1)
            max_errors = parse_limit(req.max_errors, len(matched), where="max_errors", minimum=0)
        except InputError as exc:
            raise CommandRejected(str(exc)) from None
        created = self._clock()
        cmd = CommandRecord(
            command_id=command_id or new_command_id(),
            document_name=req.document_name or checked.document.description or "inline",
            document_sha256=checked.sha256, targets=req.targets, comment=req.comment,
            requested_by=req.requested_by, created_at_ms=created, expires_at_ms=created + timeout * 1000,
            target_count=len(matched), max_concurrency=req.max_concurrency, max_errors=req.max_errors,
            document_version=req.document_version, parameters=req.parameters or {},
            detail=Detail.PENDING if matched else Detail.NO_INSTANCES_IN_TAG, notification=req.notification)
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
        audit = () if req.audit is None else (replace(
            req.audit, document_version=cmd.document_version, document_sha256=checked.sha256.hex(),
            resolved=len(matched), detail=f"command {cmd.command_id}"),)
        try:
            await self._db.run(self._db.store.create_command, stored, checked.canonical, rows,
                               check_nodes=named is not None, audit=audit)
        except UnknownNodes as exc:
            raise _unknown_node(req.targets, exc.node_ids) from None
        log.info("command %s from %s: %d targets, concurrency %d, max errors %d", cmd.command_id,
                 req.requested_by, len(matched), concurrency, max_errors)
        if cmd.notification is not None and self._notices is not None:
            self._notices.watch(cmd.command_id, cmd.notification)  # before its first change is announced
        self._events.publish(cmd.command_id, CommandChanged(cmd))  # SSM's answer: the command Pending
        self._events.announce(EventKind.COMMAND, cmd.command_id, "", cmd.detail)
        if matched:
            active = ActiveCommand(run, stored, checked.canonical, checked.execution_seconds,
                                   announced={COMMAND: cmd.detail})
            self.active.start(active)
            await self._delivery.send(stored, checked.canonical, first)
            if self._events.watched(cmd.command_id) and self.active.get(cmd.command_id) is active \
                    and cmd.command_id not in self._announcing:  # once one has begun, it knows what is newest
                # a watcher since before the command existed (RunCommand) is told of the first round as
                # just stored, not read back; a result stored meanwhile (counted()) is newer and stays
                for row in (r for r in rows if r.detail is not Detail.PENDING):
                    active.fresh.setdefault(row.node_id, row)
            await self._after_change(cmd.command_id, [*first, *offline])
        return cmd, invocations

    def check_document(self, document: bytes) -> bytes:
        """A document checked as a send checks it (every step against its plugin's schema), in
        canonical form; CommandRejected or DocumentError names what is wrong."""
        return self._checked.check(document).canonical

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

    async def _pump(self, active: ActiveCommand) -> None:
        """Dispatch as many queued invocations as the limits allow: online nodes get the envelope
        (InProgress), offline ones wait for their agent (Delayed)."""
        run = active.run
        batch = run.next_batch()
        if not batch:
            return
        online, offline = self._split(batch)
        sent, delayed = await self._db.run(dispatch_batch, self._db.store, run.command_id, online, offline)
        self._dispatched(run, sent, delayed)
        if self.active.get(run.command_id) is active:
            await self._delivery.send(active.record, active.document, sent)
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
        active = self.active.get(command_id)
        if not node_ids:
            await self._db.run(store.request_cancel, command_id)
            if active is not None:
                active.run.cancelling = True
                active.record = replace(active.record, cancel_requested=True)
        never_sent = [i.node_id for i in chosen if i.detail in (Detail.PENDING, Detail.DELAYED)]
        if active is not None:
            for n in never_sent:
                if n in active.run.queue:
                    active.run.queue.remove(n)
        done = await self._db.run(store.transition_invocations, command_id, never_sent, Detail.CANCELLED,
                                  ended_at_ms=self._clock())
        sent = [i.node_id for i in chosen if i.detail in (Detail.IN_PROGRESS, Detail.CANCELLING)]
        here = [n for n in sent if self._hub.get(n) is not None]
        stopping = await self._db.run(store.transition_invocations, command_id, here, Detail.CANCELLING)
        for node_id in here:
            self._send_cancel(node_id, command_id)
        # an agent that is away is not waited for: its invocation ends now, and the cancel waits for it
        away = await self.deadlines.end_cancelled(command_id, [n for n in sent if self._hub.get(n) is None])
        log.info("command %s: cancel by operator (%d not started, %d stopping, %d ended with their agent away)",
                 command_id, len(done), len(stopping), len(away))
        await self.settle(Settlement(command_id, tuple((n, Detail.CANCELLED) for n in [*done, *away]),
                                     tuple((n, Detail.CANCELLING) for n in stopping)))
        return await self._db.run(store.get_command, command_id)

    def _send_cancel(self, node_id: str, command_id: str) -> None:
        session = self._hub.get(node_id)
        if session is not None:
            session.send(Cancel(command_id))

    # ------------------------------------------------------------------ after every change

    async def settle(self, settlement: Settlement) -> None:
        """Invocations reached terminal details: free their slots, apply max-errors (the never-started
        end Terminated), dispatch what the limits now allow, publish and recount."""
        command_id, finished, changed = settlement.command_id, settlement.finished, settlement.changed
        active = self.active.get(command_id)
        touched = [n for n, _ in finished] + [n for n, _ in changed]
        if active is not None:
            run = active.run
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
                                           ended_at_ms=self._clock())
                if run.stopped:
                    log.info("command %s passed max errors (%d): %d invocation(s) terminated", command_id,
                             run.max_errors, len(moved))
                for node_id in moved:
                    run.track(node_id, detail)
                touched += moved
            await self._pump(active)
        await self._after_change(command_id, touched)

    async def _after_change(self, command_id: str, node_ids: list[str]) -> None:
        """Recount and announce. One announcer per command at a time: changes that arrive meanwhile
        are folded into its next round (so a fan-out's thousands of reports cost a few rounds), its
        invocations' ends are always published before its own end, and its end exactly once."""
        if command_id in self._announcing:
            self._announcing[command_id] = (self._announcing[command_id] or set()) | set(node_ids)
            return
        self._announcing[command_id] = None
        nodes: set[str] | None = set(node_ids)
        try:
            while nodes is not None:
                if self.active.ended(command_id) is None:
                    await self._announce(command_id, sorted(nodes))
                else:
                    await self._late_change(command_id, sorted(nodes))
                nodes, self._announcing[command_id] = self._announcing[command_id], None
        finally:
            del self._announcing[command_id]

    async def _late_change(self, command_id: str, node_ids: list[str]) -> None:
        """A report after the command ended (an agent's real result after DeliveryTimedOut) may still
        change its counters; announce only what changes its end."""
        cmd, invs = await self._db.run(recount_and_read, self._db.store, command_id, None, node_ids)
        if cmd.detail is not self.active.ended(command_id):
            self.active.remember_end(command_id, cmd.detail)
            for inv in invs:
                self._events.announce(EventKind.INVOCATION, command_id, inv.node_id, inv.detail)
            self._events.announce(EventKind.COMMAND, command_id, "", cmd.detail)

    async def _announce(self, command_id: str, node_ids: list[str]) -> None:
        active = self.active.get(command_id)
        nodes = list(dict.fromkeys(node_ids))
        if active is None:  # not dispatching (restored late, nothing to run): from the database
            cmd, invs = await self._db.run(recount_and_read, self._db.store, command_id, None, nodes)
            now = [(inv.node_id, inv.detail) for inv in invs]
            seen: dict[str, Detail] = {}
        else:  # counted in memory, as every change was tracked when stored: O(changes), not O(targets)
            run, record, seen = active.run, active.record, active.announced
            counted = _with_counts(record, run)
            changed = counted.counters != record.counters
            cmd = active.record = counted if changed else record  # same record: counted() can match it
            watched = nodes if self._events.watched(command_id) else None
            fresh, active.fresh = active.fresh, {}  # invocations stored with their results just now
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
        for node_id, detail in now:
            if seen.get(node_id) is not detail:
                seen[node_id] = detail
                self._events.announce(EventKind.INVOCATION, command_id, node_id, detail)
        self._events.publish(command_id, CommandChanged(cmd))
        if seen.get(COMMAND) is not cmd.detail:
            seen[COMMAND] = cmd.detail
            self._events.announce(EventKind.COMMAND, command_id, "", cmd.detail)
        if cmd.detail.terminal:
            self.active.end(command_id, cmd.detail)

    # ------------------------------------------------------------------ nodes coming and going

    async def on_hello(self, node_id: str) -> None:
        """A node connected: send what waited for it, and the cancels it missed. Only an active
        command can have either, and every active command has its run here (resume() after a restart),
        so a node none of them has in flight costs nothing: a fleet reconnecting reads nothing."""
        store = self._db.store
        for command_id in await self.deadlines.owed_to(node_id):  # ended while it was away: it may run them still
            self._send_cancel(node_id, command_id)
        if not any(node_id in a.run.in_flight for a in self.active):
            return
        for inv in await self._db.run(store.undelivered_invocations, node_id, self._clock()):
            active = self.active.get(inv.command_id)
            run = active.run if active is not None else None
            if run is not None and (run.stopped or run.cancelling):
                continue  # never started, and never will: settle() terminates it
            if inv.detail is Detail.DELAYED:
                moved = await self._db.run(store.transition_invocations, inv.command_id, [node_id],
                                           Detail.IN_PROGRESS)
                if not moved:
                    continue
                if run is not None:
                    run.delivered(node_id)
                    run.track(node_id, Detail.IN_PROGRESS)
                await self._after_change(inv.command_id, [node_id])
            active = self.active.get(inv.command_id)  # again: it may have ended during the awaits above
            if active is not None:
                cmd, document = active.record, active.document
            else:
                cmd = await self._db.run(store.get_command, inv.command_id)
                document = await self._db.run(store.get_document, cmd.document_sha256)
            await self._delivery.send(cmd, document, [node_id])
        for inv in await self._db.run(store.node_invocations, node_id, [Detail.CANCELLING]):
            self._send_cancel(node_id, inv.command_id)

    async def resume(self) -> int:
        """After a restart: rebuild the dispatch state of every active command and go on with it."""
        store = self._db.store
        active = await self._db.run(store.active_commands)
        for cmd in active:
            if cmd.notification is not None and self._notices is not None:
                self._notices.watch(cmd.command_id, cmd.notification)  # still in force after the restart
            invs = await self._db.run(store.list_invocations, cmd.command_id)
            run = CommandRun.resume(
                cmd.command_id, parse_limit(cmd.max_concurrency, cmd.target_count, where="max_concurrency", minimum=1),
                parse_limit(cmd.max_errors, cmd.target_count, where="max_errors", minimum=0), cmd.cancel_requested,
                [(i.node_id, i.detail) for i in invs])
            document = await self._db.run(store.get_document, cmd.document_sha256)
            # what the fleet was told before the restart (the stored events) is not told again: a
            # follower resuming from its last seq would see it twice; what was stored but not yet
            # told (the process died between the two writes) is told now
            told = await self._db.run(store.announced_details, cmd.command_id)
            self.active.start(ActiveCommand(run, cmd, document, self._execution_seconds(document), announced=told))
            untold = tuple((n, None) for n, d in run.details.items()
                           if d is not Detail.PENDING and told.get(n) is not d)
            await self.settle(Settlement(cmd.command_id, changed=untold))
        await self._tell_untold_ends({c.command_id for c in active})
        await self.deadlines.load()
        return len(active)

    async def _tell_untold_ends(self, running: set[str]) -> None:
        """Commands that ended just before the restart, whose last changes the journal (it stores in
        batches) had not stored: told now, so a follower resuming from its last seq misses none."""
        store = self._db.store
        newest = await self._db.run(store.newest_events, EventFilter(), 1)
        if not newest:  # nothing was ever told (a database from before the journal): nothing to go on from
            return
        for command_id in await self._db.run(store.commands_ended_since, newest[-1].at_ms - UNTOLD_END_WINDOW_MS):
            if command_id in running:  # resumed above
                continue
            told = await self._db.run(store.announced_details, command_id)
            cmd = await self._db.run(store.get_command, command_id)
            if not cmd.detail.terminal or told.get(COMMAND) is cmd.detail:
                continue
            for inv in await self._db.run(store.list_invocations, command_id):
                if inv.detail is not Detail.PENDING and told.get(inv.node_id) is not inv.detail:
                    self._events.announce(EventKind.INVOCATION, command_id, inv.node_id, inv.detail)
            self._events.announce(EventKind.COMMAND, command_id, "", cmd.detail)

    def _execution_seconds(self, document: bytes) -> int:
        """A stored document's execution time (as checked when it was sent; the default per step when
        it no longer parses here)."""
        try:
            return execution_seconds(document_from_bytes(document), self._registry)
        except OutpostError:
            return DEFAULT_EXECUTION_TIMEOUT_SECONDS
