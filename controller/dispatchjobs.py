"""The dispatcher's database jobs: each runs whole on the database thread (controller/db.py), so one
round of dispatch or one announcement costs one hop off the event loop."""
from __future__ import annotations

from dataclasses import replace

from controller.model import CommandRecord, InvocationRecord
from controller.ratecontrol import command_detail, counts, parse_limit
from controller.store import Store
from plugins.sdk.status import Detail


def recount(store: Store, command_id: str, max_errors: int) -> CommandRecord:
    """Store a command's counters and detail as its invocations now stand."""
    cmd = store.get_command(command_id)
    details = [i.detail for i in store.list_invocations(command_id)]
    if cmd.detail is Detail.NO_INSTANCES_IN_TAG:
        return cmd
    c = counts(details)
    detail = command_detail(details, max_errors=max_errors, cancel_requested=cmd.cancel_requested)
    store.update_command(command_id, detail, c.completed, c.errors, c.delivery_timed_out)
    return replace(cmd, detail=detail, completed_count=c.completed, error_count=c.errors,
                   delivery_timed_out_count=c.delivery_timed_out)


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
        store.update_command(cmd.command_id, cmd.detail, cmd.completed_count, cmd.error_count,
                             cmd.delivery_timed_out_count)
    if watched is None:
        return []
    return store.list_invocations(cmd.command_id) if cmd.detail.terminal else \
        store.get_invocations(cmd.command_id, watched)
