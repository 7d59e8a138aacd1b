"""One Ansible task on a batch of hosts: rendered per host, sent as few commands as it can be, awaited.

Hosts whose rendered steps are byte-for-byte the same share a command (at most 50 nodes each, as
a command's node-id list takes); every command of the task is sent before any is awaited, so the
hosts run it at once. A loop's items are the steps of one document, in order, each run whatever
the one before it did (Ansible runs every item). ``debug``, ``set_fact``, ``fail``, ``assert`` and
``meta`` are evaluated here and send nothing.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from controller.cli.ansible_results import (
    NOT_RUN,
    Result,
    apply_result_conditions,
    failed_result,
    loop_result,
    skipped_result,
    step_result,
    unreachable_result,
)
from controller.cli.ansible_state import HostState
from controller.compiler.ansible_modules import CONTROLLER_MODULES, META_ACTIONS, ModuleError, StepContext, step_for
from controller.compiler.ansible_playbook import AnsiblePlay, AnsibleTask
from controller.compiler.errors import TemplateError
from controller.compiler.template import Templar
from controller.model import Targets
from controller.sdk import ApiError, Command, Invocation, Outpost
from controller.sdk.transport import AdminClient, CommandSpec, rpc_error_message
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Document, Step

MAX_NODES_PER_COMMAND = 50
STEP_NAME_CHARS = 100


@dataclass(frozen=True)
class _Item:
    index: int
    item: Any
    templar: Templar
    step: Step | None = None  # None: settled here (result set)
    result: Result | None = None


@dataclass
class _Sent:
    """What one host's commands of a task came back with."""
    command_ids: list[str] = field(default_factory=list)
    invocations: dict[str, Invocation] = field(default_factory=dict)  # step name -> the invocation that ran it
    refused: str = ""

    def took(self, command_id: str, invocation: Invocation | None) -> None:
        self.command_ids.append(command_id)
        for step in invocation.steps if invocation is not None else ():
            self.invocations[step.name] = invocation
        if invocation is None:
            self.refused = f"command {command_id} came back without this node"


def _rounds(steps: tuple[Step, ...], description: str) -> list[bytes]:
    """``steps`` as documents that each fit (a loop of thousands of items runs as several)."""
    if not steps:
        return []
    whole = Document(steps, description=description).canonical_bytes()
    if len(whole) <= MAX_DOCUMENT_BYTES or len(steps) == 1:
        return [whole]  # one step too large on its own: the controller says so
    half = len(steps) // 2
    return _rounds(steps[:half], description) + _rounds(steps[half:], description)


@dataclass
class TaskRunner:
    client: AdminClient
    registry: PluginRegistry
    playbook_dir: str
    check: bool
    timeout_seconds: int
    comment: str

    def run(self, play: AnsiblePlay, task: AnsibleTask, hosts: Sequence[HostState], everyone: Sequence[HostState],
            variables: Callable[..., dict[str, Any]]) -> Iterator[tuple[HostState, Result, str]]:
        looped = task.loop is not None
        planned: dict[int, list[_Item]] = {}
        for n, state in enumerate(hosts):
            templar = Templar(variables(play, state, everyone, task), lists_in_text=True)
            try:
                planned[n] = self._items(play, task, state, templar, looped)
            except (TemplateError, ModuleError) as exc:
                planned[n] = [_Item(0, None, templar, result=failed_result(f"{task.where}: {exc}"))]
        sent = self._send(play, task, hosts, planned)
        for n, state in enumerate(hosts):
            items = planned[n]
            results = [self._settle(task, it, sent[n]) for it in items]
            command_ids = ",".join(sent[n].command_ids)
            yield state, loop_result(results) if looped else results[0], command_ids

    # -- planning ---------------------------------------------------------------------------

    def _items(self, play: AnsiblePlay, task: AnsibleTask, state: HostState, templar: Templar,
               looped: bool) -> list[_Item]:
        if not looped:
            return [self._item(play, task, state, 0, None, templar, False)]
        values = templar.render(task.loop)
        if not isinstance(values, (list, tuple)):
            raise ModuleError(f"loop: expected a list, got {type(values).__name__}")
        out = []
        for i, value in enumerate(values):
            scope = {task.loop_control.loop_var: value, "ansible_loop_var": task.loop_control.loop_var}
            if task.loop_control.index_var:
                scope[task.loop_control.index_var] = i
            out.append(self._item(play, task, state, i, value, templar.child(scope), True))
        return out

    def _item(self, play: AnsiblePlay, task: AnsibleTask, state: HostState, index: int, value: Any,
              templar: Templar, looped: bool) -> _Item:
        try:
            for condition in task.when:
                if not templar.condition(condition):
                    result = skipped_result("Conditional result was False")
                    result["false_condition"] = condition
                    return _Item(index, value, templar, result=result)
            if task.module in CONTROLLER_MODULES:
                return _Item(index, value, templar, result=self._local(task, templar, state))
            args = templar.render(task.args)
            environment = templar.render({**play.environment, **task.environment})
            become = play.become if task.become is None else task.become
            run_as = (task.become_user or play.become_user) if become else play.remote_user
            name = (str(templar.render(task.name)) if task.name else task.module)[:STEP_NAME_CHARS]
            ctx = StepContext(name=f"{name} #{index}" if looped else name, playbook_dir=self.playbook_dir,
                              run_as=run_as, environment={str(k): _text(v) for k, v in environment.items()},
                              timeout=task.timeout, check=self.check if task.check_mode is None else task.check_mode,
                              render_template=lambda path: _render_file(templar, path),
                              store_content=self._store)
            step = step_for(task.module, args, ctx, self.registry, f"{task.where}: {task.module}")
        except (TemplateError, ModuleError) as exc:
            return _Item(index, value, templar, result=failed_result(f"{task.where}: {task.module}: {exc}"))
        if step is None:
            return _Item(index, value, templar, result=skipped_result("this module does not run in check mode"))
        return _Item(index, value, templar, step=step)

    def _store(self, name: str, data: bytes) -> str:
        self.client.put_content(name, data)
        return name

    def _local(self, task: AnsibleTask, templar: Templar, state: HostState) -> Result:
        """debug, set_fact, fail, assert and meta, evaluated on the controller as Ansible's are."""
        args = task.args if isinstance(task.args, dict) else ({"msg": task.args} if task.args is not None else {})
        if task.module == "debug":
            if "var" in args:
                name = str(args["var"])
                return {"changed": False, "failed": False, "debug": {name: templar.render("{{ " + name + " }}")}}
            msg = templar.render(args.get("msg", "Hello world!"))
            return {"changed": False, "failed": False, "debug": {"msg": msg}}
        if task.module == "set_fact":
            values = templar.render({k: v for k, v in args.items() if k != "cacheable"})
            for key in values:
                if not str(key).isidentifier():
                    raise ModuleError(f"set_fact: not a valid variable name: {key!r}")
            state.registered.update(values)
            return {"changed": False, "failed": False, "ansible_facts": values}
        if task.module == "fail":
            return failed_result(str(templar.render(args.get("msg", "Failed as requested from task"))))
        if task.module == "assert":
            that = args.get("that")
            conditions = that if isinstance(that, list) else [that]
            for condition in conditions:
                if not templar.condition(condition):
                    msg = args.get("fail_msg", args.get("msg", f"Assertion failed: {condition}"))
                    return {**failed_result(str(templar.render(msg))), "assertion": condition}
            msg = args.get("success_msg", "All assertions passed")
            return {"changed": False, "failed": False, "msg": str(templar.render(msg))}
        action = str(args.get("_raw_params", task.args if isinstance(task.args, str) else ""))
        if action not in META_ACTIONS:
            raise ModuleError(f"meta: {action!r} is not supported (supported: {', '.join(sorted(META_ACTIONS))})")
        if action == "clear_facts":
            state.registered.clear()
        return {"changed": False, "failed": False, "skipped": False, "meta": action}

    # -- sending and waiting ----------------------------------------------------------------

    def _send(self, play: AnsiblePlay, task: AnsibleTask, hosts: Sequence[HostState],
              planned: Mapping[int, list[_Item]]) -> dict[int, _Sent]:
        """Send each host its steps, the hosts whose documents are the same in one command; a loop too
        long for one document goes in rounds, each a document that fits, in order. What each host
        ran, by step name, or why the controller refused (those hosts fail with it; the others go on)."""
        rounds = {n: _rounds(tuple(it.step for it in items if it.step is not None), task.shown_name())
                  for n, items in planned.items()}
        out = {n: _Sent() for n in planned}
        for r in range(max((len(docs) for docs in rounds.values()), default=0)):
            groups: dict[bytes, list[int]] = {}
            for n, docs in rounds.items():
                if r < len(docs) and not out[n].refused:
                    groups.setdefault(docs[r], []).append(n)
            commands: list[tuple[str, list[int]]] = []
            for document, members in groups.items():
                for i in range(0, len(members), MAX_NODES_PER_COMMAND):
                    chunk = members[i:i + MAX_NODES_PER_COMMAND]
                    try:
                        sent = self.client.send_command(CommandSpec(
                            Targets(node_ids=tuple(hosts[n].host.node_id or "" for n in chunk)), document=document,
                            document_name=f"{play.name}: {task.shown_name()}", max_concurrency=str(len(chunk)),
                            max_errors=str(len(chunk)), timeout_seconds=self.timeout_seconds, comment=self.comment))
                    except grpc.RpcError as exc:
                        for n in chunk:
                            out[n].refused = f"the controller refused the command: {rpc_error_message(exc)}"
                        continue
                    commands.append((sent.command.command_id, chunk))
            for command_id, chunk in commands:
                try:
                    ended = self._wait(command_id)
                except ApiError as exc:
                    for n in chunk:
                        out[n].refused = f"lost the command {command_id}: {exc.message}"
                    continue
                by_node = {i.node_id: i for i in ended.invocations}
                for n in chunk:
                    out[n].took(command_id, by_node.get(hosts[n].host.node_id or ""))
        return out

    def _wait(self, command_id: str) -> Command:
        """The command at its end, every invocation with its steps (the SDK's wait, which reads the
        command again when the controller restarts under it)."""
        return Outpost.over(self.client).wait(command_id)

    def _settle(self, task: AnsibleTask, item: _Item, sent: _Sent) -> Result:
        if item.result is not None:
            result = item.result
        elif sent.refused:
            result = failed_result(sent.refused)
        else:
            assert item.step is not None
            invocation = sent.invocations.get(item.step.name)
            detail = invocation.detail if invocation is not None else None
            steps = {s.name: s for s in invocation.steps} if invocation is not None else {}
            step = steps.get(item.step.name)
            if step is not None and step.started_at is not None:
                result = step_result(step)
            elif detail is not None and detail not in NOT_RUN and steps:
                refusal = next(iter(steps.values())).error
                result = failed_result(refusal or f"the step did not run ({detail.value})")
            else:
                why = next((s.error for s in steps.values() if s.error), "")
                result = unreachable_result(detail, why or "no invocation came back for this node")
        try:
            if task.loop is not None:
                label = item.templar.render(task.loop_control.label) if task.loop_control.label else item.item
                result = {**result, task.loop_control.loop_var: item.item,
                          "ansible_loop_var": task.loop_control.loop_var, "_ansible_item_label": label}
            return apply_result_conditions(task, result, item.templar)
        except TemplateError as exc:
            return failed_result(f"{task.where}: {exc}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _render_file(templar: Templar, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModuleError(f"cannot read the template {os.path.basename(path)!r}: {exc}") from None
    try:
        value = templar.render(text)
    except TemplateError as exc:
        raise ModuleError(f"template {os.path.basename(path)!r}: {exc}") from None
    return value if isinstance(value, str) else json.dumps(value)
