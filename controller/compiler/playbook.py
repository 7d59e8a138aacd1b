"""Plays, targets and tasks: a playbook's YAML tree to a :class:`Plan` of command documents.

Each play compiles to one :class:`~plugins.sdk.wire.document.Document` whose steps are its tasks in
order. Inputs are templated first, then validated against the action's own schema (so an
``aws:runShellScript`` step stays an SSM-style step), then bound through the registry so the
alias conversion runs too. The first error raises; nothing partial is returned.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from controller.compiler.errors import PlaybookError, TemplateError
from controller.compiler.plan import DocumentTask, Plan, PlayPlan
from controller.compiler.template import Templar, is_identifier
from controller.compiler.yamlnodes import YEntry, YMap, YNode, YScalar, YSeq, kind, line_index, load, locate, plain
from controller.model import TagFilter, Targets, parse_limit
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.limits import NUL, NUL_PROBLEM, shown, timeout_problem
from plugins.sdk.schema import inputs_to_json
from plugins.sdk.wire.document import LONE_SURROGATE, MAX_DOCUMENT_BYTES, Document, OnFailure, Step, has_lone_surrogate
from plugins.sdk.wire.identity import is_node_id

PLAY_KEYS = ("name", "targets", "vars", "tasks", "max_concurrency", "max_errors")
TARGET_KEYS = ("node_ids", "tags", "group")
TASK_KEYWORDS = ("name", "timeout", "ignore_errors", "document")
DOCUMENT_TASK = "document"  # `- document: NAME[:VERSION]` with `parameters:`: a stored SSM document's steps


def compile_playbook(path: str | os.PathLike[str], registry: PluginRegistry,
                     extra_vars: Mapping[str, str] = {}) -> Plan:
    """Read and compile the playbook at ``path``; errors name ``path`` as given."""
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise PlaybookError(f"cannot read the playbook: {exc.strerror or exc}", filename=filename) from None
    except ValueError:  # a NUL in the path, which no file name can hold
        raise PlaybookError(f"cannot read the playbook: the path {NUL_PROBLEM}", filename=shown(filename)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PlaybookError("the playbook is not UTF-8 text", filename=filename, line=line) from None
    return compile_text(text, filename, registry, extra_vars)


def compile_text(text: str, filename: str, registry: PluginRegistry,
                 extra_vars: Mapping[str, str] = {}) -> Plan:
    """Compile playbook ``text``; ``filename`` is used in messages and in ``PlayPlan.source``."""
    for key, value in extra_vars.items():
        if not is_identifier(key):
            raise PlaybookError(f"extra var {key!r}: not a valid variable name "
                                "(letters, digits and _, not starting with a digit)")
        if not isinstance(value, str):
            raise PlaybookError(f"extra var {key!r}: expected a string value, got {kind(value)}")
        if NUL in value:
            raise PlaybookError(f"extra var {key!r}: {NUL_PROBLEM}")
        if has_lone_surrogate(value):  # -e bytes that are not UTF-8, as Python reads them from argv
            raise PlaybookError(f"extra var {key!r}: not UTF-8 text ({LONE_SURROGATE})")
    return _Compiler(filename, registry, dict(extra_vars)).playbook(text)


def parse_extra_vars(items: Iterable[str]) -> dict[str, str]:
    """``["env=prod", "msg=a=b"]`` -> ``{"env": "prod", "msg": "a=b"}``; the last one wins."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PlaybookError(f"extra var {item!r}: expected key=value")
        if not is_identifier(key):
            raise PlaybookError(f"extra var {item!r}: {key!r} is not a valid variable name "
                                "(letters, digits and _, not starting with a digit)")
        out[key] = value
    return out


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class _Compiler:
    filename: str
    registry: PluginRegistry
    extra_vars: Mapping[str, str]

    def fail(self, line: int, where: str, message: str) -> NoReturn:
        raise PlaybookError(message, filename=self.filename, line=line, where=where)

    # -- the playbook and its plays -------------------------------------------------------------

    def playbook(self, text: str) -> Plan:
        root = load(text, self.filename)
        if root is None:
            self.fail(1, "", "the playbook is empty; expected a list of plays")
        if not isinstance(root, YSeq):
            self.fail(root.line, "", f"expected a list of plays at the top level, got {kind(root)}")
        if not root.items:
            self.fail(root.line, "", "the playbook has no plays")
        return Plan(self.filename, tuple(self.play(node, i) for i, node in enumerate(root.items)))

    def play(self, node: YNode, index: int) -> PlayPlan:
        if not isinstance(node, YMap):
            self.fail(node.line, f"plays[{index}]", f"expected a mapping (a play), got {kind(node)}")
        for entry in node.entries:
            if entry.key not in PLAY_KEYS:
                hint = ("; a play selects nodes with targets (node_ids, tags and/or group)" if entry.key == "hosts"
                        else _unknown_key(entry.key, PLAY_KEYS))
                self.fail(entry.key_line, entry.key,
                          f"unknown play key (allowed: {', '.join(PLAY_KEYS)}){hint}")
        scope = Templar({**self.variables(node.get("vars")), **self.extra_vars})  # -e wins, as in Ansible
        name = self.name(node, f"plays[{index}]", "", scope)
        targets = self.targets(self.required(node, "targets", f"plays[{index}]"), scope)
        tasks = self.required(node, "tasks", f"plays[{index}]")
        if not isinstance(tasks.value, YSeq):
            self.fail(tasks.key_line, "tasks", f"expected a non-empty list of tasks, got {kind(tasks.value)}")
        if not tasks.value.items:
            self.fail(tasks.key_line, "tasks", "expected a non-empty list of tasks")
        steps: list[Step | DocumentTask] = []
        seen: dict[str, int] = {}
        for i, task in enumerate(tasks.value.items):
            step = self.task(task, i, scope)
            if step.name in seen:
                first = seen[step.name]
                self.fail(self.task_name_line(task), f"tasks[{i}].name",
                          f"duplicate task name {step.name!r} (tasks[{first}] has it too)")
            seen[step.name] = i
            steps.append(step)
        document = Document(tuple(s if isinstance(s, Step) else s.step() for s in steps), description=name)
        size = len(document.canonical_bytes())
        if size > MAX_DOCUMENT_BYTES:
            self.fail(node.line, f"plays[{index}]",
                      f"the play compiles to a {size}-byte document; the limit is {MAX_DOCUMENT_BYTES}")
        limits = [self.limit(node.get(key), key, minimum) for key, minimum in (("max_concurrency", 1),
                                                                                ("max_errors", 0))]
        return PlayPlan(name, targets, document, f"{self.filename}:{node.line}", limits[0] or "50",
                        limits[1] or "0", tuple(steps))

    def limit(self, entry: YEntry | None, key: str, minimum: int) -> str | None:
        """``max_concurrency`` / ``max_errors``: a count or a percentage, as SSM takes them."""
        if entry is None:
            return None
        value = entry.value.value if isinstance(entry.value, YScalar) else None
        text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
        if text is None:
            self.fail(entry.key_line, key, f"expected a number or a percentage such as 10%, got {kind(entry.value)}")
        try:
            parse_limit(text, 100, where=key, minimum=minimum)
        except InputError as exc:
            self.fail(entry.key_line, key, exc.message)
        return text

    def required(self, node: YMap, key: str, where: str) -> YEntry:
        entry = node.get(key)
        if entry is None:
            self.fail(node.line, where, f"missing required key {key!r}")
        return entry

    def name(self, node: YMap, where: str, prefix: str, scope: Templar) -> str:
        entry = self.required(node, "name", where)
        field = f"{prefix}name"
        if not isinstance(entry.value, YScalar) or not isinstance(entry.value.value, str):
            self.fail(entry.key_line, field, f"expected a string, got {kind(entry.value)}")
        name = self.render_str(entry.value, field, scope)
        if not name.strip():
            self.fail(entry.key_line, field, "must not be empty")
        return name

    def task_name_line(self, task: YNode) -> int:
        entry = task.get("name") if isinstance(task, YMap) else None
        return entry.key_line if entry is not None else task.line

    # -- vars and templating --------------------------------------------------------------------

    def variables(self, entry: YEntry | None) -> dict[str, object]:
        """A play's ``vars:``: names to values of any YAML shape; strings in them are templates,
        evaluated when used."""
        if entry is None or (isinstance(entry.value, YScalar) and entry.value.value is None):
            return {}
        if not isinstance(entry.value, YMap):
            self.fail(entry.key_line, "vars", f"expected a mapping of names to values, got {kind(entry.value)}")
        out: dict[str, object] = {}
        for var in entry.value.entries:
            if not is_identifier(var.key):
                self.fail(var.key_line, f"vars.{var.key}", "not a valid variable name "
                                                           "(letters, digits and _, not starting with a digit)")
            out[var.key] = plain(var.value)
        return out

    def render(self, node: YNode, where: str, scope: Templar) -> Any:
        """The plain value of ``node`` with every string templated (mapping keys are not)."""
        if isinstance(node, YScalar):
            if not isinstance(node.value, str):
                return node.value
            try:
                return scope.render(node.value)
            except TemplateError as exc:
                line = node.line
                if exc.line is not None and exc.line > 1:  # a line within a multi-line string
                    line += exc.line - (0 if node.literal else 1)
                elif node.literal:
                    line += 1
                self.fail(line, where, exc.message)
        if isinstance(node, YSeq):
            return [self.render(item, f"{where}[{i}]", scope) for i, item in enumerate(node.items)]
        return {e.key: self.render(e.value, f"{where}.{e.key}", scope) for e in node.entries}

    def render_str(self, node: YScalar, where: str, scope: Templar) -> str:
        """A string, as Ansible makes one: a lone ``{{ n }}`` giving a number or boolean is its text."""
        value = self.render(node, where, scope)
        if isinstance(value, (int, float)):  # bool included: str(True) is Jinja2's "True"
            return str(value)
        if not isinstance(value, str):
            self.fail(node.line, where, f"expected a string, got {kind(value)} (from {node.value!r})")
        return value

    def string_list(self, node: YNode, where: str, line: int, scope: Templar) -> list[tuple[str, int]]:
        """A list of strings, one string, or one template naming a list: each value with its line."""
        if isinstance(node, YMap) or (isinstance(node, YScalar) and not isinstance(node.value, str)):
            quote = " (quote it)" if isinstance(node, YScalar) and node.value is not None else ""
            self.fail(line, where, f"expected a string or a list of strings, got {kind(node)}{quote}")
        if isinstance(node, YScalar):
            value = self.render(node, where, scope)
            out = []
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, (int, float)):
                    v = str(v)
                if not isinstance(v, str):
                    self.fail(line, where, f"expected a string or a list of strings, got {kind(v)} "
                                           f"(from {node.value!r})")
                out.append((v, line))
            return out
        out: list[tuple[str, int]] = []
        for i, item in enumerate(node.items):
            at = f"{where}[{i}]"
            if not isinstance(item, YScalar) or not isinstance(item.value, str):
                quote = " (quote it)" if isinstance(item, YScalar) and item.value is not None else ""
                self.fail(item.line, at, f"expected a string, got {kind(item)}{quote}")
            out.append((self.render_str(item, at, scope), item.line))
        return out

    # -- targets --------------------------------------------------------------------------------

    def targets(self, entry: YEntry, scope: Templar) -> Targets:
        node = entry.value
        if not isinstance(node, YMap):
            self.fail(entry.key_line, "targets",
                      f"expected a mapping with node_ids and/or tags, got {kind(node)}")
        for key in node.entries:
            if key.key not in TARGET_KEYS:
                self.fail(key.key_line, f"targets.{key.key}", f"unknown targets key (allowed: "
                          f"{', '.join(TARGET_KEYS)}){_unknown_key(key.key, TARGET_KEYS)}")
        node_ids: dict[str, None] = {}
        ids = node.get("node_ids")
        if ids is not None:
            for j, (value, line) in enumerate(self.string_list(ids.value, "targets.node_ids", ids.key_line, scope)):
                where = f"targets.node_ids[{j}]"
                if not is_node_id(value):
                    self.fail(line, where, f"not a node id: {value!r} (expected mi- and 17 lowercase hex digits)")
                if value in node_ids:
                    self.fail(line, where, f"duplicate node id {value!r}")
                node_ids[value] = None
        filters: list[TagFilter] = []
        tags = node.get("tags")
        if tags is not None and not (isinstance(tags.value, YScalar) and tags.value.value is None):
            if not isinstance(tags.value, YMap):
                self.fail(tags.key_line, "targets.tags",
                          f"expected a mapping of tag keys to values, got {kind(tags.value)}")
            for tag in tags.value.entries:
                where = f"targets.tags.{tag.key}"
                if not tag.key.strip():
                    self.fail(tag.key_line, where, "a tag key must not be empty")
                values = self.string_list(tag.value, where, tag.key_line, scope)
                if not values:
                    self.fail(tag.key_line, where, "expected at least one value")
                filters.append(TagFilter(tag.key, tuple(dict.fromkeys(v for v, _ in values))))
        group = ""
        group_entry = node.get("group")
        if group_entry is not None:
            if not isinstance(group_entry.value, YScalar) or not isinstance(group_entry.value.value, str) \
                    or not group_entry.value.value.strip():
                self.fail(group_entry.key_line, "targets.group",
                          f"expected a group name, got {kind(group_entry.value)}")
            group = self.render_str(group_entry.value, "targets.group", scope)
        targets = Targets(tuple(node_ids), tuple(filters), group)
        if targets.empty:
            self.fail(entry.key_line, "targets", "selects nothing: give node_ids, tags and/or a group")
        return targets

    # -- tasks ----------------------------------------------------------------------------------

    def task(self, node: YNode, index: int, scope: Templar) -> Step | DocumentTask:
        where = f"tasks[{index}]"
        if not isinstance(node, YMap):
            self.fail(node.line, where, f"expected a mapping (a task), got {kind(node)}")
        if node.get(DOCUMENT_TASK) is not None:
            return self.document_task(node, where, scope)
        if node.get("parameters") is not None:
            self.fail(node.get("parameters").key_line, f"{where}.parameters",
                      "parameters go with a `document:` task")
        known = self.registry.actions()
        actions: list[YEntry] = []
        for entry in node.entries:
            if entry.key in TASK_KEYWORDS:
                continue
            if not self.registry.has_action(entry.key):
                self.fail(entry.key_line, f"{where}.{entry.key}",
                          f"unknown task key: neither a task keyword ({', '.join(TASK_KEYWORDS)}) nor a "
                          f"known action ({', '.join(known)})"
                          f"{_unknown_key(entry.key, (*TASK_KEYWORDS, *known))}")
            actions.append(entry)
        name = self.name(node, where, f"{where}.", scope)
        if not actions:
            self.fail(node.line, where, f"no action; a task needs exactly one of: {', '.join(known)}")
        if len(actions) > 1:
            self.fail(actions[1].key_line, where,
                      f"more than one action ({', '.join(a.key for a in actions)}); a task runs exactly one")
        action = actions[0]
        return Step(name=name, action=action.key, inputs=self.inputs(action, f"{where}.{action.key}", scope),
                    timeout_seconds=self.timeout(node.get("timeout"), f"{where}.timeout"),
                    ignore_errors=self.ignore_errors(node.get("ignore_errors"), f"{where}.ignore_errors"),
                    on_failure=OnFailure.EXIT)  # Ansible: a failed task ends the play on that node

    def document_task(self, node: YMap, where: str, scope: Templar) -> DocumentTask:
        """``- document: NAME[:VERSION]`` with optional ``parameters: {name: value | [values]}``."""
        allowed = ("name", DOCUMENT_TASK, "parameters", "ignore_errors")
        for entry in node.entries:
            if entry.key not in allowed:
                self.fail(entry.key_line, f"{where}.{entry.key}",
                          f"not allowed in a `document:` task (allowed: {', '.join(allowed)})")
        name = self.name(node, where, f"{where}.", scope)
        ref = node.get(DOCUMENT_TASK)
        if not isinstance(ref.value, YScalar) or not isinstance(ref.value.value, str) or not ref.value.value.strip():
            self.fail(ref.key_line, f"{where}.document", f"expected a document name, got {kind(ref.value)}")
        document, _, version = self.render_str(ref.value, f"{where}.document", scope).partition(":")
        params: dict[str, tuple[str, ...]] = {}
        entry = node.get("parameters")
        if entry is not None:
            if not isinstance(entry.value, YMap):
                self.fail(entry.key_line, f"{where}.parameters", f"expected a mapping, got {kind(entry.value)}")
            for p in entry.value.entries:
                params[p.key] = tuple(v for v, _ in self.string_list(p.value, f"{where}.parameters.{p.key}",
                                                                     p.key_line, scope))
        return DocumentTask(name, document, version, params,
                            self.ignore_errors(node.get("ignore_errors"), f"{where}.ignore_errors"),
                            f"{self.filename}:{node.line}")

    def timeout(self, entry: YEntry | None, where: str) -> int | None:
        if entry is None:
            return None
        value = entry.value.value if isinstance(entry.value, YScalar) else None
        if isinstance(value, int) and not isinstance(value, bool):
            if (problem := timeout_problem(value)) is None:
                return value
            self.fail(entry.key_line, where, problem)  # past 30 days is an error, never "no timeout"
        self.fail(entry.key_line, where, f"expected a positive integer (seconds), got {kind(entry.value)}")

    def ignore_errors(self, entry: YEntry | None, where: str) -> bool:
        if entry is None:
            return False
        if not isinstance(entry.value, YScalar) or not isinstance(entry.value.value, bool):
            self.fail(entry.key_line, where, f"expected a boolean (true or false), got {kind(entry.value)}")
        return entry.value.value

    def inputs(self, entry: YEntry, where: str, scope: Templar) -> dict[str, Any]:
        """Template, validate against the action's own schema, and bind (so conversion errors
        surface). Errors are located at the offending input's line."""
        raw = self.render(entry.value, where, scope)
        try:
            typed = self.registry.bind(entry.key, raw, where).given  # validated and converted, once
        except InputError as exc:  # a conversion's error may name its field without our prefix
            field = exc.where if exc.where.startswith(where) else ".".join(filter(None, (where, exc.where)))
            index = line_index(entry.value, where, entry.key_line)
            self.fail(locate(index, field, entry.key_line), field, exc.message)
        except OutpostError as exc:
            self.fail(entry.key_line, where, str(exc))
        return inputs_to_json(typed)
