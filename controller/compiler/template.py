"""Templating as Ansible's templar does it: Jinja2, sandboxed, undefined variables as errors.

    templar = Templar({"env": "prod", "cmds": ["a", "b c"], "greeting": "hello {{ env }}"})
    templar.render("{{ cmds }}")                 # ['a', 'b c']: a lone expression keeps its type
    templar.render("echo {{ cmds | quote }}")    # "echo a 'b c'": anything else is a string
    templar.condition("env == 'prod' and cmds | length > 1")   # True (a `when:`)
    templar.child({"item": 3}).render("{{ item + 1 }}")        # 4

Variables' values may themselves be templates, evaluated when first used in a render (a cycle is
an error naming the chain); values given to :meth:`Templar.child` are data (registered results,
facts, loop items) and never templated, as Ansible marks them unsafe.

Anything Outpost cannot honour is refused when the template is compiled, by name and with why:
``{% include %}``/``import``/``extends`` (no loader: a playbook's strings are the whole template),
``lookup()``/``query()`` (they would read the controller's environment and disk), and the filters
and tests listed in :mod:`~controller.compiler.jinja_filters` and :mod:`~controller.compiler.jinja_tests`.
The sandbox and its bounds are :mod:`~controller.compiler.jinja_sandbox`'s.
"""
from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.parser import Parser

from controller.compiler.errors import TemplateError
from controller.compiler.jinja_filters import REFUSED_FILTERS, refused
from controller.compiler.jinja_sandbox import (
    MAX_OUTPUT,
    REFUSED_CALLS,
    Budget,
    Environment,
    Undefined,
    count_loops,
    text_size,
    too_big,
)
from controller.compiler.jinja_tests import REFUSED_TESTS

MARKERS = ("{{", "{%", "{#")
_UNDEFINED = re.compile(r"'(\w+)' is undefined")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFUSED_TAGS: Mapping[type[nodes.Node], str] = {
    nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from ... import", nodes.Extends: "extends",
}
TRUE_WORDS = ("y", "yes", "on", "1", "true", "t")
FALSE_WORDS = ("n", "no", "off", "0", "false", "f", "")


def is_identifier(name: str) -> bool:
    return _IDENT.fullmatch(name) is not None


def is_template(value: object) -> bool:
    """Whether ``value`` (a string, or a list or mapping holding strings) has any Jinja2 markup."""
    if isinstance(value, str):
        return any(m in value for m in MARKERS)
    if isinstance(value, (list, tuple)):
        return any(is_template(v) for v in value)
    if isinstance(value, Mapping):
        return any(is_template(k) or is_template(v) for k, v in value.items())
    return False


def _literal_hint(message: str) -> str:
    """How to write a literal ``{#`` (a shell's ``${#var}``) or ``{%`` that Jinja2 took for its own."""
    marker = "{#" if "comment" in message else "{%" if "unknown tag" in message else None
    if marker is None:
        return ""
    return f" (a literal '{marker}' is written {{{{ '{marker}' }}}} or inside {{% raw %}}...{{% endraw %}})"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _snippet(text: str, line: int | None) -> str:
    lines = text.splitlines() or [""]
    shown = lines[min(max((line or 1) - 1, 0), len(lines) - 1)].strip()
    return shown if len(shown) <= 60 else shown[:57] + "..."


class UndefinedInTemplate(TemplateError):
    """A template used a variable or attribute that is not defined."""


@dataclass(frozen=True)
class _Compiled:
    template: object  # jinja2.Template
    lone: bool  # exactly one {{ expr }}: its value keeps its type


@dataclass(frozen=True)
class Templar:
    """The variables templates see, later sources already merged over earlier ones by the caller:
    ``Templar({**play_vars, **extra_vars})``."""
    variables: Mapping[str, object]
    data: frozenset[str] = frozenset()  # names whose values are data, never templated
    # Ansible's own leniency: a list or mapping inside a longer string prints as Python shows it
    # (a debug message of a registered result); Outpost's playbooks refuse it (see _text)
    lists_in_text: bool = False
    _env: Environment = field(default_factory=Environment, repr=False, compare=False)
    _compiled: dict[str, _Compiled] = field(default_factory=dict, repr=False, compare=False)

    def render(self, value: object) -> object:
        """``value`` with every string in it templated (mapping keys too); other values as they are."""
        return _Render(self, Budget()).value(value)

    def condition(self, expr: str | bool | list[str | bool]) -> bool:
        """A ``when:``/``changed_when:``/``failed_when:`` value: a bare expression, a list of them
        (all must hold, evaluated in order), or a boolean."""
        if isinstance(expr, bool):
            return expr
        if isinstance(expr, (list, tuple)):
            return all(self.condition(e) for e in expr)
        if not isinstance(expr, str):
            raise TemplateError(f"a condition is an expression, a list of them or a boolean, not "
                                f"{type(expr).__name__}")
        if any(m in expr for m in MARKERS):
            raise TemplateError(f"a condition is a bare expression, without {{{{ }}}} or {{% %}}: write "
                                f"{expr.strip().removeprefix('{{').removesuffix('}}').strip()!r}, not {expr.strip()!r}")
        if not expr.strip():
            raise TemplateError("a condition must not be empty")
        return _boolean(_Render(self, Budget()).expression(expr), expr)

    def child(self, extra: Mapping[str, object]) -> Templar:
        """A scope with ``extra`` over these variables: data (registered results, facts, ``item``)."""
        return Templar({**self.variables, **extra}, self.data | frozenset(extra), self.lists_in_text, self._env,
                       self._compiled)

    # -- compiling --------------------------------------------------------------------------------

    def compiled(self, source: str, *, expression: bool = False) -> _Compiled:
        key = ("\0expr:" if expression else "") + source
        if key not in self._compiled:
            self._compiled[key] = self._compile(source, expression)
        return self._compiled[key]

    def _compile(self, source: str, expression: bool) -> _Compiled:
        env = self._env
        try:
            if expression:
                parser = Parser(env, source, state="variable")
                expr = parser.parse_expression()
                if not parser.stream.eos:
                    token = parser.stream.current
                    raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", token.lineno)
                ast = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
                ast.set_environment(env)
            else:
                ast = env.parse(source)
        except TemplateSyntaxError as exc:
            message = (exc.message or "").rstrip(".")
            message += _literal_hint(message)
            raise TemplateError(f"template syntax error: {message} in {_snippet(source, exc.lineno)!r}",
                                line=exc.lineno) from None
        self._refuse_unsupported(ast, source)
        count_loops(ast)
        body = ast.body
        lone = (len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1
                and not isinstance(body[0].nodes[0], nodes.TemplateData))
        try:
            code = env.compile(ast, filename="<template>")
        except JinjaError as exc:  # pragma: no cover - _refuse_unsupported finds what Jinja2 would
            raise TemplateError(f"template error: {exc} in {_snippet(source, None)!r}") from None
        return _Compiled(env.template_class.from_code(env, code, env.make_globals(None), None), lone)

    def _refuse_unsupported(self, ast: nodes.Template, source: str) -> None:
        env = self._env
        for node in ast.find_all(nodes.Node):
            where = f" in {_snippet(source, node.lineno)!r}"
            line = node.lineno
            if type(node) in _REFUSED_TAGS:
                raise TemplateError(f"{{% {_REFUSED_TAGS[type(node)]} %}} is not supported{where}: a playbook's "
                                    "strings are templates on their own, with no files to load", line=line)
            if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) \
                    and node.node.name in REFUSED_CALLS and node.node.name not in self.variables:
                raise TemplateError(f"{node.node.name}() is not supported{where}: "
                                    f"{REFUSED_CALLS[node.node.name]}", line=line)
            if isinstance(node, (nodes.Filter, nodes.Test)) and node.name is not None:
                kind, known, table = (("filter", env.filters, REFUSED_FILTERS) if isinstance(node, nodes.Filter)
                                      else ("test", env.tests, REFUSED_TESTS))
                why = refused(node.name, table)
                if why is not None:
                    raise TemplateError(f"the {kind} '{node.name}' is not supported{where}: {why}", line=line)
                if node.name not in known:
                    close = difflib.get_close_matches(node.name, list(known), n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    raise TemplateError(f"no {kind} named '{node.name}'{where}{hint}", line=line)


class _Vars(Mapping[str, object]):
    """What a template's names resolve to: the templar's variables, each evaluated when first
    used (once per render), then Jinja2's globals (``range``, ``dict``, ``namespace`` ...)."""

    def __init__(self, render: _Render) -> None:
        self.render = render
        self.budget = render.budget  # read by the sandbox (jinja_sandbox.budget_of)

    def __getitem__(self, key: str) -> object:
        templar = self.render.templar
        if key in templar.variables:
            return self.render.variable(key)
        return templar._env.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.render.templar.variables or key in self.render.templar._env.globals

    def __iter__(self) -> Iterator[str]:
        yield from self.render.templar.variables
        yield from (k for k in self.render.templar._env.globals if k not in self.render.templar.variables)

    def __len__(self) -> int:
        return len(set(self.render.templar.variables) | set(self.render.templar._env.globals))


class _Render:
    """One top-level render: its budget, and the variables evaluated so far."""

    def __init__(self, templar: Templar, budget: Budget) -> None:
        self.templar = templar
        self.budget = budget
        self.done: dict[str, object] = {}

    def value(self, value: object) -> object:
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                rendered = self.value(key)
                if isinstance(rendered, (list, Mapping)):
                    raise TemplateError(f"the mapping key {key!r} renders to {type(rendered).__name__} "
                                        f"{_shown(rendered)}; a key must be a string, number or boolean")
                out[rendered] = self.value(item)
            return out
        return value

    def variable(self, name: str) -> object:
        if name in self.done:
            return self.done[name]
        templar, stack = self.templar, self.budget.stack
        raw = templar.variables[name]
        if name in templar.data or not is_template(raw):
            return raw
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name):], name))
            raise TemplateError(f"variable '{name}' refers to itself ({chain})")
        stack.append(name)
        try:
            self.done[name] = self.value(raw)
        except UndefinedInTemplate as exc:  # undefined itself, as Ansible's: `| default()` still works
            hint = exc.message if "(in variable '" in exc.message else f"{exc.message} (in variable '{name}')"
            self.done[name] = Undefined(hint=hint, name=name)
        except TemplateError as exc:
            if "(in variable '" in exc.message or "refers to itself" in exc.message:
                raise
            raise TemplateError(f"{exc.message} (in variable '{name}')") from None
        finally:
            stack.pop()
        return self.done[name]

    def string(self, text: str) -> object:
        if not any(m in text for m in MARKERS):
            return text
        return self._run(self.templar.compiled(text), text)

    def expression(self, expr: str) -> object:
        return self._run(self.templar.compiled(expr, expression=True), expr)

    def _run(self, compiled: _Compiled, source: str) -> object:
        template = compiled.template
        context = template.new_context(_Vars(self), shared=True)  # type: ignore[attr-defined]
        pieces: list[object] = []
        size = 0
        try:
            for piece in template.root_render_func(context):  # type: ignore[attr-defined]
                size += text_size(piece)
                if size > MAX_OUTPUT:
                    raise too_big(size, "the rendered text")
                pieces.append(_finalize(piece))
            if compiled.lone and len(pieces) == 1:
                return pieces[0]
            if self.templar.lists_in_text:
                return "".join(p if isinstance(p, str) else str(p) for p in pieces)
            return "".join(_text(p, source) for p in pieces)
        except TemplateError as exc:
            if exc.line is None and "(in variable '" not in exc.message:
                exc.line = _line_of(exc, template)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a filter raises becomes a one-line message
            message = str(exc).rstrip(".") if isinstance(exc, JinjaError) else f"{type(exc).__name__}: {exc}"
            line = _line_of(exc, template) or _guess_line(source, message)
            hint = ""
            if (undefined := _UNDEFINED.fullmatch(message)) is not None:
                close = difflib.get_close_matches(undefined.group(1), list(self.templar.variables), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
            error = UndefinedInTemplate if isinstance(exc, UndefinedError) else TemplateError
            if "(in variable '" in message:  # already says where
                raise error(message, line=line) from None
            raise error(f"{message} in {_snippet(source, line)!r}{hint}", line=line) from None


def _finalize(value: object) -> object:
    """A native value as data: generators and ranges as lists, tuples as lists, undefined an error."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, (types.GeneratorType, range, map, filter, Iterator)):
        value = list(value)
    if isinstance(value, (list, tuple)):
        return [_finalize(v) for v in value]
    if isinstance(value, Mapping):
        return {_finalize(k): _finalize(v) for k, v in value.items()}
    if value is not None and not isinstance(value, (str, int, float)):  # bool is an int
        raise TemplateError(f"the template gave {type(value).__name__!r}, which is not data (a string, number, "
                            "boolean, null, list or mapping)")
    return value


def _text(value: object, source: str) -> str:
    """A piece of a longer string. A list or mapping is refused there: Python's repr of it in a
    command (``apt-get install ['curl', 'jq']``) is never what was meant."""
    if isinstance(value, (list, Mapping)):
        what = "a list" if isinstance(value, list) else "a mapping"
        raise TemplateError(f"{what} ({_shown(value)}) inside a longer string in {_snippet(source, None)!r}: use it "
                            "as the whole value, or make it text with | join(' '), | quote or | to_json")
    return value if isinstance(value, str) else str(value)


def _line_of(exc: BaseException, template: object) -> int | None:
    """The line within the template string the error happened on, from the traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)  # type: ignore[attr-defined]
        tb = tb.tb_next
    return line


def _guess_line(source: str, message: str) -> int | None:
    """The first line of ``source`` holding a name the message quotes (an error raised outside the
    template's own code, such as an undefined value printed)."""
    lines = source.splitlines()
    for name in re.findall(r"'([^']+)'", message):
        for i, text in enumerate(lines, 1):
            if re.search(rf"\b{re.escape(name)}\b", text):
                return i
    return None


def _boolean(value: object, expr: str) -> bool:
    """A condition's value as Ansible's boolean() reads it; anything else is refused."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise TemplateError(f"the condition {expr.strip()!r} gave {_shown(value)}, which is not a boolean; compare or "
                        "test it (x == 'yes', x | length > 0, x is defined) or convert it (x | bool)")
