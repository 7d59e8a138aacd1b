"""What a task did on a host, as Ansible registers it, counts it and prints it.

A step's end (status, exit code, output, ``changed``) becomes Ansible's result mapping (``rc``,
``stdout``, ``stdout_lines``, ``stderr``, ``changed``, ``failed``, ``msg``, ``skipped``; a loop's
``results`` list), which ``register`` keeps and ``changed_when``/``failed_when`` read. The
printer writes Ansible's familiar ``TASK [...]``, ``ok:/changed:/failed:/skipping:`` lines and
the ``PLAY RECAP`` (or, with ``--output json``, one JSON document at the end). Everything a node
sent is escaped before it reaches the terminal.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from controller.cli.render import print_json
from controller.cli.terminal import in_markup, terminal_text
from controller.compiler.ansible_playbook import AnsibleTask
from controller.compiler.template import Templar
from controller.sdk import StepResult
from plugins.sdk.status import Detail

STAT_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
NOT_RUN = frozenset({Detail.UNDELIVERABLE, Detail.DELIVERY_TIMED_OUT, Detail.TERMINATED})

Result = dict[str, Any]  # Ansible's registered result: user data, as Ansible shapes it


def step_result(s: StepResult) -> Result:
    """A step's end, as the SDK reads it, as Ansible registers it."""
    stdout, stderr = s.stdout.removesuffix("\n"), s.stderr.removesuffix("\n")
    failed = s.detail is not Detail.SUCCESS
    out: Result = {"rc": s.exit_code, "stdout": stdout, "stdout_lines": stdout.splitlines(), "stderr": stderr,
                   "stderr_lines": stderr.splitlines(), "changed": s.changed and not failed,
                   "failed": failed, "skipped": False, "status": s.detail.value}
    if failed:
        out["msg"] = s.error or (f"non-zero return code {s.exit_code}" if s.exit_code else s.detail.value)
    return out


def unreachable_result(detail: Detail | None, why: str) -> Result:
    return {"unreachable": True, "failed": True, "changed": False, "skipped": False,
            "msg": why or f"the node did not run it ({detail.value if detail else 'no answer'})"}


def skipped_result(reason: str) -> Result:
    return {"changed": False, "skipped": True, "skip_reason": reason, "failed": False}


def failed_result(msg: str) -> Result:
    return {"changed": False, "failed": True, "skipped": False, "msg": msg}


def loop_result(items: list[Result]) -> Result:
    """A loop's registered value: its items under ``results``, failed/changed if any item was."""
    ran = [r for r in items if not r.get("skipped")]
    out: Result = {"results": items, "changed": any(r.get("changed") for r in items),
                   "failed": any(r.get("failed") for r in items), "skipped": not ran and bool(items),
                   "msg": "All items completed" if ran else "All items skipped"}
    if out["failed"]:
        out["msg"] = "One or more items failed"
    if any(r.get("unreachable") for r in items):
        out["unreachable"] = True
    return out


def apply_result_conditions(task: AnsibleTask, result: Result, templar: Templar) -> Result:
    """``changed_when``/``failed_when`` over a result (the registered name bound to it)."""
    if result.get("skipped") or result.get("unreachable"):
        return result
    scope = templar.child({task.register: result}) if task.register else templar
    out = dict(result)
    if task.changed_when is not None:
        out["changed"] = scope.condition(task.changed_when)
    if task.failed_when is not None:
        out["failed"] = scope.condition(task.failed_when)
        if out["failed"]:
            out.setdefault("msg", f"failed_when held: {task.failed_when}")
        elif result.get("failed"):
            out.pop("msg", None)
    return out


@dataclass
class HostStats:
    counts: Counter[str] = field(default_factory=Counter)

    def row(self) -> dict[str, int]:
        return {k: self.counts[k] for k in STAT_KEYS}


def outcome(result: Result, ignored: bool) -> str:
    """Ansible's word for a result: ok, changed, failed, skipping, unreachable, ignored."""
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "ignored" if ignored else "failed"
    if result.get("skipped"):
        return "skipping"
    return "changed" if result.get("changed") else "ok"


def count(stats: HostStats, word: str) -> None:
    if word == "ignored":
        stats.counts["ignored"] += 1
    elif word == "skipping":
        stats.counts["skipped"] += 1
    elif word == "changed":
        stats.counts["changed"] += 1
        stats.counts["ok"] += 1
    else:
        stats.counts[word] += 1


_COLOURS = {"ok": "green", "changed": "yellow", "failed": "red", "unreachable": "red", "skipping": "cyan",
            "ignored": "cyan"}
_SHOWN = ("msg", "rc", "stdout", "stderr")


@dataclass
class Printer:
    """Ansible-style lines as the playbook runs, or one JSON document at its end."""
    console: Console
    as_json: bool
    verbose: bool = False
    plays: list[dict[str, Any]] = field(default_factory=list)

    def play(self, name: str, source: str) -> None:
        self.plays.append({"play": name, "source": source, "tasks": []})
        if not self.as_json:
            self.console.print(f"\n[bold]PLAY {in_markup(f'[{name}]')}[/bold] ({in_markup(source)})")

    def task(self, name: str, source: str, handler: bool = False) -> None:
        self.plays[-1]["tasks"].append({"task": name, "source": source, "handler": handler, "hosts": {}})
        if not self.as_json:
            kind = "RUNNING HANDLER" if handler else "TASK"
            self.console.print(f"\n[bold]{kind} {in_markup(f'[{name}]')}[/bold]")

    def note(self, text: str) -> None:
        if not self.as_json:
            self.console.print(terminal_text(text), markup=False)

    def result(self, host: str, word: str, result: Result, no_log: bool = False, command_id: str = "") -> None:
        shown = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified"} \
            if no_log else result
        entry = {"status": word, "result": shown}
        if command_id:
            entry["command_id"] = command_id
        self.plays[-1]["tasks"][-1]["hosts"][host] = entry
        if self.as_json:
            return
        if not no_log:
            for item in result.get("results", ()):  # a loop: a line per item first, as Ansible prints them
                item_word = outcome(item, word == "ignored")
                label = item.get("_ansible_item_label", item.get(item.get("ansible_loop_var", "item")))
                detail = self._detail(item_word, item, False)
                self._line(item_word, host, f" => (item={json.dumps(label, default=str)})"
                                             + (f" => {detail}" if detail else ""))
        detail = self._detail(word, shown, no_log)
        self._line(word, host, f" => {detail}" if detail else "")

    def _line(self, word: str, host: str, rest: str) -> None:
        colour = _COLOURS.get(word, "white")
        label = "fatal" if word == "failed" else ("...ignoring" if word == "ignored" else word)
        self.console.print(f"[{colour}]{label}: {in_markup(f'[{host}]')}[/{colour}]{in_markup(rest)}")

    def _detail(self, word: str, result: Result, no_log: bool) -> str:
        if no_log:
            return json.dumps(result)
        if "debug" in result:
            return json.dumps(result["debug"], indent=4, default=str)
        if word in ("failed", "ignored", "unreachable") or self.verbose:
            return json.dumps({k: result[k] for k in _SHOWN if result.get(k) not in (None, "")}, default=str)
        return ""

    def recap(self, stats: Mapping[str, HostStats]) -> None:
        rows = {h: s.row() for h, s in stats.items()}
        if self.as_json:
            print_json({"plays": self.plays, "stats": rows})
            return
        self.console.print("\n[bold]PLAY RECAP[/bold]")
        width = max((len(h) for h in rows), default=0)
        for host, row in rows.items():
            colour = "red" if row["failed"] or row["unreachable"] else ("yellow" if row["changed"] else "green")
            counts = "  ".join(f"{k}={v}" for k, v in row.items())
            self.console.print(f"[{colour}]{in_markup(host.ljust(width))}[/{colour}] : {counts}")
