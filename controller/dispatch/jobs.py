"""The dispatcher's database jobs: each runs whole on the database thread (controller/store/db.py), so one
round of dispatch or one announcement costs one hop off the event loop."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.dispatch.ratecontrol import command_detail, counts
from controller.model import CommandRecord, InvocationRecord, parse_limit
from controller.store import Store
from plugins.sdk.status import Detail


def _store_counters(store: Store, cmd: CommandRecord) -> None:
    store.update_command(cmd.command_id, cmd.detail, cmd.completed_count, cmd.error_count,
                         cmd.delivery_timed_out_count)


def recount(store: Store, command_id: str, max_errors: int) -> CommandRecord:
    """Store a command's counters and detail as its invocations now stand."""
    cmd = store.get_command(command_id)
    details = [i.detail for i in store.list_invocations(command_id)]
    if cmd.detail is Detail.NO_INSTANCES_IN_TAG:
        return cmd
    cmd = cmd.with_counts(command_detail(details, max_errors=max_errors, cancel_requested=cmd.cancel_requested),
                          counts(details))
    _store_counters(store, cmd)
    return cmd


def recount_and_read(store: Store, command_id: str, max_errors: int | None,
                     node_ids: list[str]) -> tuple[CommandRecord, list[InvocationRecord]]:
    """One database job after a change: the command's counters and detail, and the changed invocations."""
    if max_errors is None:
        cmd = store.get_command(command_id)
        max_errors = parse_limit(cmd.max_errors, cmd.target_count, where="max_errors", minimum=0)
    cmd = recount(store, command_id, max_errors)
    if cmd.detail.terminal:  # announce every invocation's end before the command's own
        return cmd, store.list_invocations(command_id)
    return cmd, store.get_invocations(command_id, node_ids)


def dispatch_batch(store: Store, command_id: str, online: list[str], offline: list[str]
                   ) -> tuple[list[str], list[str]]:
    """One database job per dispatch round: online nodes' invocations InProgress, offline ones Delayed."""
    return (store.transition_invocations(command_id, online, Detail.IN_PROGRESS),
            store.transition_invocations(command_id, offline, Detail.DELAYED))


def store_counts(store: Store, cmd: CommandRecord, watched: list[str] | None, changed: bool
                  ) -> list[InvocationRecord]:
    """Store the counters counted in memory (when they ``changed``); read the changed invocations
    only for watchers (at the end all of them: every invocation is announced before the command's own end)."""
    if changed:
        _store_counters(store, cmd)
    if watched is None:
        return []
    return store.list_invocations(cmd.command_id) if cmd.detail.terminal else \
        store.get_invocations(cmd.command_id, watched)


@dataclass(frozen=True)
class Forecast:
    """A command's record as it will stand once a batch of results is stored, if the store moves its
    invocations as the dispatcher's run expects (``moved``). ``base``: its record as last stored when
    forecast."""
    base: CommandRecord
    record: CommandRecord
    moved: tuple[tuple[str, Detail], ...]

    @property
    def counters_change(self) -> bool:
        return self.record.counters != self.base.counters


def settle_forecast(store: Store, results: Sequence[InvocationRecord], forecasts: Sequence[Forecast]
                    ) -> tuple[list[Detail | None], list[Forecast]]:
    """Store a batch of results and, in the same transaction, the counters of every command that
    came out as forecast. Returns each result's detail now (Store.settle) and those forecasts; a
    command that came out otherwise is left to the next announcement, which counts it."""
    kept: list[Forecast] = []

    def counted(details: list[Detail | None]) -> list[CommandRecord]:
        now = {(r.command_id, r.node_id): d for r, d in zip(results, details, strict=True)}
        kept.extend(f for f in forecasts
                    if all(now.get((f.record.command_id, n)) is d for n, d in f.moved))
        return [f.record for f in kept if f.counters_change]
    return store.settle(results, counted), kept
