"""``outpost playbook apply`` for a playbook written for Ansible: its plays, host by host, task by task.

Ansible's linear strategy, over Outpost's signed commands: each task is rendered for every host
of the batch (inventory variables, facts, play and task vars, what earlier tasks registered,
extra vars last), its ``when`` evaluated there, and the hosts whose steps came out identical share
one command (a task that renders the same everywhere is one command to all of them). The runner
waits for every host before the next task, registers each result, applies ``changed_when`` /
``failed_when``, notifies handlers (run at the end of each section, or at ``meta:
flush_handlers``), and drops a failed host from the rest of the play unless ``ignore_errors``.
``serial`` batches the hosts; ``max_fail_percentage`` (and ``any_errors_fatal``) ends the play
when too many of a batch failed, as Ansible does.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.cli.ansible_results import (
    HostStats,
    Printer,
    Result,
    count,
    outcome,
    unreachable_result,
)
from controller.cli.ansible_state import HostState
from controller.cli.ansible_tasks import TaskRunner
from controller.compiler.ansible_playbook import AnsiblePlay, AnsiblePlaybook, AnsibleTask
from controller.compiler.errors import PlaybookError, TemplateError
from controller.compiler.template import Templar

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class TagFilter:
    only: frozenset[str] = frozenset()  # --tags; empty = all
    skip: frozenset[str] = frozenset()  # --skip-tags

    def runs(self, tags: frozenset[str]) -> bool:
        if "always" in tags and "always" not in self.skip:
            return not (tags & self.skip - {"always"})
        if tags & self.skip:
            return False
        if "never" in tags and not (tags & self.only):
            return False
        if not self.only or "all" in self.only:
            return True
        return bool(tags & self.only) or ("tagged" in self.only and bool(tags)) or \
            ("untagged" in self.only and not tags)


def batches(hosts: Sequence[HostState], serial: Sequence[int | str]) -> list[list[HostState]]:
    """``serial: [1, 5, "50%"]``: the sizes of successive batches, the last repeating."""
    if not serial:
        return [list(hosts)] if hosts else []
    out, i, n = [], 0, 0
    while i < len(hosts):
        size = serial[min(n, len(serial) - 1)]
        count_ = max(1, int(len(hosts) * float(size[:-1]) / 100)) if isinstance(size, str) else int(size)
        out.append(list(hosts[i:i + count_]))
        i, n = i + count_, n + 1
    return out


class PlaybookRun:
    def __init__(self, book: AnsiblePlaybook, tasks: TaskRunner, printer: Printer, extra_vars: Mapping[str, Any],
                 tag_filter: TagFilter) -> None:
        self.book = book
        self.tasks = tasks
        self.out = printer
        self.extra_vars = dict(extra_vars)
        self.tag_filter = tag_filter
        self.stats: dict[str, HostStats] = {}

    def run(self, hosts_of: Any) -> int:
        """``hosts_of(pattern) -> [PlayHost]``; the exit status: 0 when no host failed or was unreachable."""
        for play in self.book.plays:
            try:
                pattern = Templar(self.extra_vars, lists_in_text=True).render(play.hosts)
            except TemplateError as exc:
                raise PlaybookError(str(exc), filename=play.where.filename, line=play.where.line,
                                    where="hosts") from None
            hosts = [HostState(h) for h in hosts_of(str(pattern))]
            self.out.play(play.name, str(play.where))
            if not hosts:
                self.out.note("skipping: no hosts matched")
                continue
            for state in hosts:
                self.stats.setdefault(state.host.name, HostStats())
                if state.host.node_id is None:
                    self._record(state, unreachable_result(None, state.host.why_unreachable), "unreachable")
                    state.unreachable = True
            if not self._play(play, [h for h in hosts if h.active]):
                break
        self.out.recap(self.stats)
        bad = any(s.counts["failed"] or s.counts["unreachable"] for s in self.stats.values())
        return EXIT_FAILED if bad else EXIT_OK

    def _play(self, play: AnsiblePlay, hosts: list[HostState]) -> bool:
        """Run the play batch by batch; False when it ended the playbook (every host failed, or
        max_fail_percentage was passed)."""
        everyone = hosts  # every host of the play, for hostvars and ansible_play_hosts
        for batch in batches(hosts, play.serial):
            for section in (play.pre_tasks, play.tasks, play.post_tasks):
                for task in section:
                    if not self._run_task(play, task, batch, everyone):
                        return False
                    if not any(h.active for h in batch) or self._too_many_failed(play, batch):
                        break
                self._flush(play, batch, everyone)
            if self._too_many_failed(play, batch):
                self.out.note("NO MORE HOSTS LEFT: max_fail_percentage passed; the play ends here")
                return False
            if not any(h.active or h.ended for h in batch):
                self.out.note("NO MORE HOSTS LEFT")
                return False
        return True

    @staticmethod
    def _too_many_failed(play: AnsiblePlay, batch: list[HostState]) -> bool:
        if play.max_fail_percentage is None or not batch:
            return False
        failed = sum(1 for h in batch if h.failed or h.unreachable)
        return failed * 100 / len(batch) > play.max_fail_percentage

    def _flush(self, play: AnsiblePlay, batch: list[HostState], everyone: list[HostState]) -> None:
        for handler in play.handlers:
            names = {handler.name, *handler.listen}
            hosts = [h for h in batch if h.active and names & set(h.notified)]
            if hosts:
                self._run_task(play, handler, hosts, everyone, handler=True)
        for h in batch:
            h.notified.clear()

    def _run_task(self, play: AnsiblePlay, task: AnsibleTask, batch: list[HostState], everyone: list[HostState],
                  handler: bool = False) -> bool:
        """Run ``task`` on the batch's active hosts; False when it ended the play (meta: end_play)."""
        if not handler and not self.tag_filter.runs(task.tags | play.tags):
            return True
        active = [h for h in batch if h.active]
        if not active:
            return True
        self.out.task(self._task_name(play, task), str(task.where), handler)
        ended = False
        for state, result, command_id in self.tasks.run(play, task, active, everyone, self.variables):
            if result.get("meta") == "flush_handlers":
                self._flush(play, batch, everyone)
                continue
            if result.get("meta") == "end_play":
                ended = True
            if result.get("meta") == "end_host":
                state.ended = True
            if task.register is not None:
                state.registered[task.register] = result
            ignored = task.ignore_errors or play.ignore_errors
            word = outcome(result, ignored and not result.get("unreachable"))
            self._record(state, result, word, task.no_log, command_id)
            if word == "unreachable":
                state.unreachable = True
            elif word == "failed":
                state.failed = True
            elif result.get("changed") and task.notify:
                state.notified.extend(n for n in task.notify if n not in state.notified)
        return not ended

    def _record(self, state: HostState, result: Result, word: str, no_log: bool = False,
                command_id: str = "") -> None:
        count(self.stats.setdefault(state.host.name, HostStats()), word)
        self.out.result(state.host.name, word, result, no_log, command_id)

    def _task_name(self, play: AnsiblePlay, task: AnsibleTask) -> str:
        """The task's name rendered with the play's variables, as Ansible shows it (as written when
        it needs a host's)."""
        try:
            return str(Templar({**play.vars, **self.extra_vars}, lists_in_text=True).render(task.shown_name()))
        except TemplateError:
            return task.shown_name()

    def variables(self, play: AnsiblePlay, state: HostState, everyone: Iterable[HostState],
                  task: AnsibleTask) -> dict[str, Any]:
        """A host's variables for a task, lowest precedence first, as Ansible orders them."""
        host = state.host
        hostvars = {h.host.name: {**h.host.variables, **h.host.facts, **h.registered} for h in everyone}
        play_hosts = [h.host.name for h in everyone if h.active]
        return {**host.variables, **(host.facts if play.gather_facts else {}), **play.vars, **state.registered,
                **task.vars, "hostvars": hostvars, "ansible_play_hosts": play_hosts, "play_hosts": play_hosts,
                "ansible_check_mode": self.tasks.check, **self.extra_vars}
