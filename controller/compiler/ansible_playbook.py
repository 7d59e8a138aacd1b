"""An Ansible playbook as its author wrote it: plays and tasks read, checked and kept unrendered.

Ansible templates a task for each host as it reaches it (facts, inventory variables and what
earlier tasks registered differ between hosts), so this module only reads and checks the shape:
every keyword is known or refused here with file:line and its name, every module is one Outpost
runs (its argument names checked against the action's schema), and values stay as written, to be
rendered host by host by the play runner (controller/cli/ansible_run.py).

Supported play keywords: ``name hosts become become_user become_method remote_user gather_facts
vars vars_files serial max_fail_percentage any_errors_fatal ignore_errors environment tags
pre_tasks tasks post_tasks handlers``. Task keywords: ``name args when loop with_items with_list
loop_control register changed_when failed_when notify ignore_errors tags become become_user vars
environment timeout check_mode no_log`` (and ``listen`` on handlers). Everything else Ansible has
(roles, blocks, includes, delegation, retries, other strategies and connections) is refused by
name, never ignored.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from controller.compiler.ansible_keywords import (
    BECOME_METHODS,
    HANDLER_KEYS,
    LOOP_CONTROL_KEYS,
    PLAY_KEYS,
    REFUSED_PLAY_KEYS,
    REFUSED_TASK_KEYS,
    TASK_KEYS,
)
from controller.compiler.ansible_modules import CONTROLLER_MODULES, accepted_args, module_problem, normalize_module
from controller.compiler.errors import PlaybookError
from controller.compiler.yamlnodes import YEntry, YMap, YNode, YScalar, YSeq, kind, load, to_plain
from plugins.sdk.host.registry import PluginRegistry


@dataclass(frozen=True)
class Where:
    """Where a value was written: ``site.yml:14``."""
    filename: str
    line: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}"


@dataclass(frozen=True)
class LoopControl:
    loop_var: str = "item"
    index_var: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class AnsibleTask:
    name: str  # as written (a template, rendered per host); "" when the task has none
    module: str  # normalized: "shell", "copy", a third-party Outpost action
    args: Any  # as written: a free-form string, a mapping, or None
    where: Where
    when: tuple[Any, ...] = ()  # every condition must hold
    loop: Any = None  # as written (a list or a template naming one); None = no loop
    loop_control: LoopControl = LoopControl()
    register: str | None = None
    changed_when: Any = None
    failed_when: Any = None
    notify: tuple[str, ...] = ()
    ignore_errors: bool = False
    tags: frozenset[str] = frozenset()
    become: bool | None = None
    become_user: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    timeout: int | None = None
    check_mode: bool | None = None
    no_log: bool = False
    listen: tuple[str, ...] = ()

    def shown_name(self) -> str:
        return self.name or self.module


@dataclass(frozen=True)
class AnsiblePlay:
    name: str
    hosts: str  # a pattern, as written (templated with extra vars at run time)
    where: Where
    tasks: tuple[AnsibleTask, ...]
    pre_tasks: tuple[AnsibleTask, ...] = ()
    post_tasks: tuple[AnsibleTask, ...] = ()
    handlers: tuple[AnsibleTask, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)  # vars_files' values first, then vars
    become: bool = False
    become_user: str = "root"
    remote_user: str | None = None
    gather_facts: bool = True
    serial: tuple[int | str, ...] = ()  # counts or "N%"; () = all hosts at once
    max_fail_percentage: float | None = None
    ignore_errors: bool = False
    environment: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AnsiblePlaybook:
    path: str
    plays: tuple[AnsiblePlay, ...]


def is_ansible_playbook(root: YNode | None) -> bool:
    """Ansible's form (plays with ``hosts:``) rather than Outpost's own (plays with ``targets:``)."""
    return isinstance(root, YSeq) and any(isinstance(p, YMap) and p.get("hosts") is not None for p in root.items)


def read_ansible_playbook(path: str, text: str, registry: PluginRegistry) -> AnsiblePlaybook:
    root = load(text, path)
    return _Reader(path, registry).playbook(root)


@dataclass(frozen=True)
class _Reader:
    filename: str
    registry: PluginRegistry

    def fail(self, line: int, where: str, message: str) -> NoReturn:
        raise PlaybookError(message, filename=self.filename, line=line, where=where)

    def playbook(self, root: YNode | None) -> AnsiblePlaybook:
        if not isinstance(root, YSeq) or not root.items:
            self.fail(root.line if root is not None else 1, "", "expected a list of plays")
        return AnsiblePlaybook(self.filename, tuple(self.play(p, i) for i, p in enumerate(root.items)))

    def play(self, node: YNode, index: int) -> AnsiblePlay:
        where = f"plays[{index}]"
        if not isinstance(node, YMap):
            self.fail(node.line, where, f"expected a mapping (a play), got {kind(node)}")
        for entry in node.entries:
            if entry.key in REFUSED_PLAY_KEYS:
                self.fail(entry.key_line, entry.key, REFUSED_PLAY_KEYS[entry.key])
            if entry.key not in PLAY_KEYS:
                self.fail(entry.key_line, entry.key, f"unknown play keyword {entry.key!r} "
                          f"(supported: {', '.join(sorted(PLAY_KEYS))})")
        hosts = node.get("hosts")
        if hosts is None:
            self.fail(node.line, where, "missing `hosts:` (a host pattern: a group, `all`, `web:&prod`...)")
        pattern = to_plain(hosts.value)
        if isinstance(pattern, list) and all(isinstance(p, str) for p in pattern):
            pattern = ",".join(pattern)
        if not isinstance(pattern, str) or not pattern.strip():
            self.fail(hosts.key_line, "hosts", f"expected a host pattern, got {kind(hosts.value)}")
        play_vars: dict[str, Any] = {}
        for path, line in self.strings(node.get("vars_files"), "vars_files"):
            play_vars.update(self.vars_file(path, line))
        play_vars.update(self.mapping(node.get("vars"), "vars"))
        become_method = self.string(node.get("become_method"), "become_method")
        if become_method is not None and become_method not in BECOME_METHODS:
            self.fail(node.get("become_method").key_line, "become_method",
                      f"{become_method!r} is not supported (supported: {', '.join(sorted(BECOME_METHODS))})")
        any_fatal = self.boolean(node.get("any_errors_fatal"), "any_errors_fatal")
        max_fail = self.number(node.get("max_fail_percentage"), "max_fail_percentage", 0, 100)
        return AnsiblePlay(
            name=self.string(node.get("name"), "name") or pattern, hosts=pattern,
            where=Where(self.filename, node.line),
            pre_tasks=self.tasks(node.get("pre_tasks"), "pre_tasks", TASK_KEYS),
            tasks=self.tasks(node.get("tasks"), "tasks", TASK_KEYS),
            post_tasks=self.tasks(node.get("post_tasks"), "post_tasks", TASK_KEYS),
            handlers=self.tasks(node.get("handlers"), "handlers", HANDLER_KEYS),
            vars=play_vars, become=bool(self.boolean(node.get("become"), "become")),
            become_user=self.string(node.get("become_user"), "become_user") or "root",
            remote_user=self.string(node.get("remote_user"), "remote_user"),
            gather_facts=self.boolean(node.get("gather_facts"), "gather_facts") is not False,
            serial=self.serial(node.get("serial")),
            max_fail_percentage=0.0 if any_fatal else max_fail,
            ignore_errors=bool(self.boolean(node.get("ignore_errors"), "ignore_errors")),
            environment=self.mapping(node.get("environment"), "environment"),
            tags=self.tags(node.get("tags"), "tags"))

    # -- tasks ------------------------------------------------------------------------------

    def tasks(self, entry: YEntry | None, where: str, keys: frozenset[str]) -> tuple[AnsibleTask, ...]:
        if entry is None or (isinstance(entry.value, YScalar) and entry.value.value is None):
            return ()
        if not isinstance(entry.value, YSeq):
            self.fail(entry.key_line, where, f"expected a list of tasks, got {kind(entry.value)}")
        return tuple(self.task(t, f"{where}[{i}]", keys) for i, t in enumerate(entry.value.items))

    def task(self, node: YNode, where: str, keys: frozenset[str]) -> AnsibleTask:
        if not isinstance(node, YMap):
            self.fail(node.line, where, f"expected a mapping (a task), got {kind(node)}")
        modules: list[YEntry] = []
        for entry in node.entries:
            if entry.key in REFUSED_TASK_KEYS:
                self.fail(entry.key_line, f"{where}.{entry.key}", REFUSED_TASK_KEYS[entry.key])
            if entry.key in keys:
                continue
            if entry.key.startswith("with_"):
                self.fail(entry.key_line, f"{where}.{entry.key}",
                          f"{entry.key} is not supported; use loop (with_items and with_list are)")
            modules.append(entry)
        if not modules:
            self.fail(node.line, where, "no module: a task needs one (shell, command, copy, ...)")
        if len(modules) > 1:
            self.fail(modules[1].key_line, f"{where}.{modules[1].key}",
                      f"more than one module or unknown keyword ({', '.join(m.key for m in modules)}); "
                      "a task runs exactly one module")
        entry = modules[0]
        module = normalize_module(entry.key)
        if (problem := module_problem(module, self.registry)) is not None:
            self.fail(entry.key_line, f"{where}.{entry.key}", problem)
        args = to_plain(entry.value)
        extra = node.get("args")
        if extra is not None:
            if not isinstance(extra.value, YMap):
                self.fail(extra.key_line, f"{where}.args", f"expected a mapping, got {kind(extra.value)}")
            args = {**({"_raw_params": args} if isinstance(args, str) else (args or {})), **to_plain(extra.value)}
        if not isinstance(args, (str, dict)) and args is not None:
            self.fail(entry.key_line, f"{where}.{entry.key}", f"expected a string or a mapping, got {kind(args)}")
        if module not in CONTROLLER_MODULES and isinstance(args, dict) and "_raw_params" not in args:
            self.check_arg_names(module, args, entry, where)
        loop_entries = [e for e in (node.get("loop"), node.get("with_items"), node.get("with_list")) if e is not None]
        if len(loop_entries) > 1:
            self.fail(loop_entries[1].key_line, f"{where}.{loop_entries[1].key}", "a task has one loop")
        loop = None
        if loop_entries:
            loop = to_plain(loop_entries[0].value)
            if loop_entries[0].key == "with_items" and isinstance(loop, list):  # with_items flattens one level
                loop = [x for item in loop for x in (item if isinstance(item, list) else [item])]
            if not isinstance(loop, (list, str)):
                self.fail(loop_entries[0].key_line, f"{where}.{loop_entries[0].key}",
                          f"expected a list or a template naming one, got {kind(loop)}")
        timeout = self.number(node.get("timeout"), f"{where}.timeout", 1, 30 * 86400)
        return AnsibleTask(
            name=self.string(node.get("name"), f"{where}.name") or "", module=module, args=args,
            where=Where(self.filename, node.line), when=self.conditions(node.get("when")), loop=loop,
            loop_control=self.loop_control(node.get("loop_control"), where),
            register=self.identifier(node.get("register"), f"{where}.register"),
            changed_when=self.condition_value(node.get("changed_when")),
            failed_when=self.condition_value(node.get("failed_when")),
            notify=tuple(v for v, _ in self.strings(node.get("notify"), f"{where}.notify")),
            ignore_errors=bool(self.boolean(node.get("ignore_errors"), f"{where}.ignore_errors")),
            tags=self.tags(node.get("tags"), f"{where}.tags"),
            become=self.boolean(node.get("become"), f"{where}.become"),
            become_user=self.string(node.get("become_user"), f"{where}.become_user"),
            vars=self.mapping(node.get("vars"), f"{where}.vars"),
            environment=self.mapping(node.get("environment"), f"{where}.environment"),
            timeout=int(timeout) if timeout is not None else None,
            check_mode=self.boolean(node.get("check_mode"), f"{where}.check_mode"),
            no_log=bool(self.boolean(node.get("no_log"), f"{where}.no_log")),
            listen=tuple(v for v, _ in self.strings(node.get("listen"), f"{where}.listen")))

    def check_arg_names(self, module: str, args: dict[str, Any], entry: YEntry, where: str) -> None:
        """An argument the action does not take is refused now, before any host runs anything."""
        allowed = accepted_args(module, self.registry)
        for key in args:
            if allowed is not None and key not in allowed:
                line = next((e.key_line for e in entry.value.entries if e.key == key), entry.key_line) \
                    if isinstance(entry.value, YMap) else entry.key_line
                self.fail(line, f"{where}.{entry.key}.{key}",
                          f"{module} takes no argument {key!r} here (it takes: {', '.join(sorted(allowed))})")

    def loop_control(self, entry: YEntry | None, where: str) -> LoopControl:
        values = self.mapping(entry, f"{where}.loop_control")
        for key in values:
            if key not in LOOP_CONTROL_KEYS:
                self.fail(entry.key_line, f"{where}.loop_control.{key}",
                          f"unsupported loop_control key (supported: {', '.join(sorted(LOOP_CONTROL_KEYS))})")
        out = LoopControl(loop_var=values.get("loop_var", "item"), index_var=values.get("index_var"),
                          label=values.get("label"))
        for name in (out.loop_var, out.index_var):
            if name is not None and not (isinstance(name, str) and name.isidentifier()):
                self.fail(entry.key_line, f"{where}.loop_control", f"not a variable name: {name!r}")
        return out

    # -- values -----------------------------------------------------------------------------

    def vars_file(self, path: str, line: int) -> dict[str, Any]:
        if "{{" in path:
            self.fail(line, "vars_files", "a templated vars_files path is not supported; name the file")
        full = path if os.path.isabs(path) else os.path.join(os.path.dirname(self.filename) or ".", path)
        try:
            with open(full, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(line, "vars_files", f"cannot read {path!r}: {getattr(exc, 'strerror', None) or exc}")
        root = load(text, full)
        if root is None:
            return {}
        if not isinstance(root, YMap):
            raise PlaybookError(f"expected a mapping of variables, got {kind(root)}", filename=full, line=root.line)
        return self.checked_vars(to_plain(root), full, root.line)

    def checked_vars(self, values: dict[str, Any], filename: str, line: int) -> dict[str, Any]:
        for key in values:
            if not key.isidentifier():
                raise PlaybookError(f"not a valid variable name: {key!r}", filename=filename, line=line)
        return values

    def mapping(self, entry: YEntry | None, where: str) -> dict[str, Any]:
        if entry is None or (isinstance(entry.value, YScalar) and entry.value.value is None):
            return {}
        if not isinstance(entry.value, YMap):
            self.fail(entry.key_line, where, f"expected a mapping, got {kind(entry.value)}")
        if where.endswith("vars"):
            for e in entry.value.entries:
                if not e.key.isidentifier():
                    self.fail(e.key_line, f"{where}.{e.key}", "not a valid variable name "
                                                            "(letters, digits and _, not starting with a digit)")
        return to_plain(entry.value)

    def string(self, entry: YEntry | None, where: str) -> str | None:
        if entry is None:
            return None
        value = entry.value.value if isinstance(entry.value, YScalar) else None
        if not isinstance(value, str) or not value.strip():
            self.fail(entry.key_line, where, f"expected a non-empty string, got {kind(entry.value)}")
        return value

    def identifier(self, entry: YEntry | None, where: str) -> str | None:
        value = self.string(entry, where)
        if value is not None and not value.isidentifier():
            self.fail(entry.key_line, where, f"not a valid variable name: {value!r}")
        return value

    def boolean(self, entry: YEntry | None, where: str) -> bool | None:
        if entry is None:
            return None
        value = entry.value.value if isinstance(entry.value, YScalar) else None
        if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false", "on", "off"):
            return value.lower() in ("yes", "true", "on")
        if not isinstance(value, bool):
            self.fail(entry.key_line, where, f"expected a boolean (true or false), got {kind(entry.value)}")
        return value

    def number(self, entry: YEntry | None, where: str, low: float, high: float) -> float | None:
        if entry is None:
            return None
        value = entry.value.value if isinstance(entry.value, YScalar) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            self.fail(entry.key_line, where, f"expected a number from {low:g} to {high:g}, got {kind(entry.value)}"
                      + (f" {value!r}" if isinstance(value, (int, float)) else ""))
        return value

    def strings(self, entry: YEntry | None, where: str) -> list[tuple[str, int]]:
        if entry is None:
            return []
        node = entry.value
        items = node.items if isinstance(node, YSeq) else (node,)
        out = []
        for item in items:
            if not isinstance(item, YScalar) or not isinstance(item.value, str) or not item.value.strip():
                self.fail(getattr(item, "line", entry.key_line), where,
                          f"expected a string or a list of strings, got {kind(item)}")
            out.append((item.value, item.line))
        return out

    def tags(self, entry: YEntry | None, where: str) -> frozenset[str]:
        if entry is None:
            return frozenset()
        node = entry.value
        if isinstance(node, YScalar) and isinstance(node.value, str):  # "a,b" as Ansible splits it
            return frozenset(t.strip() for t in node.value.split(",") if t.strip())
        return frozenset(str(v) for v, _ in self.strings(entry, where))

    def conditions(self, entry: YEntry | None) -> tuple[Any, ...]:
        if entry is None:
            return ()
        value = to_plain(entry.value)
        return tuple(value) if isinstance(value, list) else (value,)

    def condition_value(self, entry: YEntry | None) -> Any:
        return None if entry is None else to_plain(entry.value)

    def serial(self, entry: YEntry | None) -> tuple[int | str, ...]:
        if entry is None:
            return ()
        value = to_plain(entry.value)
        out: list[int | str] = []
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not isinstance(item, bool) and item >= 1:
                out.append(item)
            elif isinstance(item, str) and item.endswith("%") and item[:-1].strip().replace(".", "", 1).isdigit() \
                    and 0 < float(item[:-1]) <= 100:
                out.append(item.strip())
            else:
                self.fail(entry.key_line, "serial", f"expected a count, a percentage such as 30%, or a list of "
                                                    f"them, got {item!r}")
        return tuple(out)
