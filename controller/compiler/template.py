"""A small ``{{ }}`` template engine: the part of Jinja2 a playbook needs, and nothing else.

Grammar of an expression (whitespace allowed around every part)::

    {{ name }}                 a variable
    {{ name | quote }}         a variable through filters, left to right
    {{ 'text' }}               a string literal: how to write a literal ``{{`` ("{{ '{{' }}")

Filters: ``quote`` (``shlex.quote``; on a list, quotes each item and joins them with spaces).

Variables hold strings, numbers, booleans or lists of those. A variable's string value is itself
a template, evaluated when used (``greeting: "hello {{ who }}"``); a cycle is an error. Numbers
and booleans print as YAML writes them (``5``, ``true``). A string that is exactly one
expression without filters keeps a list value as a list (``runCommand: "{{ cmds }}"``); a list
anywhere else is an error. Anything not understood is an error, never passed through.
"""
from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from controller.compiler.errors import TemplateError

VarValue = str | float | bool | tuple[str | float | bool, ...]  # float covers int
Rendered = str | tuple[str, ...]

FILTERS = ("quote",)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WS = re.compile(r"\s*")


def is_identifier(name: str) -> bool:
    return _IDENT.fullmatch(name) is not None


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Expr:
    source: str  # the expression as written, "{{ cmd | quote }}", for messages
    variable: str | None  # exactly one of variable and literal is set
    literal: str | None
    filters: tuple[str, ...] = ()


Segment = Literal | Expr


def has_template(text: str) -> bool:
    return "{{" in text


def parse(text: str) -> tuple[Segment, ...]:
    """Split ``text`` into literal text and expressions; raises TemplateError on bad syntax."""
    segments: list[Segment] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                segments.append(Literal(text[pos:]))
            return tuple(segments)
        if start > pos:
            segments.append(Literal(text[pos:start]))
        expr, pos = _parse_expr(text, start)
        segments.append(expr)


def _skip_ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return m.end() if m else i


def _snippet(text: str, start: int) -> str:
    end = text.find("}}", start + 2)
    snippet = text[start:end + 2] if end >= 0 else text[start:]
    return snippet if len(snippet) <= 60 else snippet[:57] + "..."


def _parse_expr(text: str, start: int) -> tuple[Expr, int]:
    if text.find("}}", start + 2) < 0:
        raise TemplateError(f"unclosed '{{{{' in {_snippet(text, start)!r} (no matching '}}}}')")
    i = _skip_ws(text, start + 2)
    variable: str | None = None
    literal: str | None = None
    if i < len(text) and text[i] in "'\"":
        close = text.find(text[i], i + 1)
        if close < 0:
            raise TemplateError(f"unterminated string in {_snippet(text, start)!r}")
        literal, i = text[i + 1:close], close + 1
    else:
        m = _IDENT.match(text, i)
        if m is None:
            what = "an empty expression" if text.startswith("}}", i) else "a bad expression"
            raise TemplateError(f"{what} {_snippet(text, start)!r}: expected a variable name, "
                                "optionally followed by | filter")
        variable, i = m.group(), m.end()
    filters: list[str] = []
    while True:
        i = _skip_ws(text, i)
        if text.startswith("}}", i):
            source = text[start:i + 2]
            return Expr(source, variable, literal, tuple(filters)), i + 2
        if not text.startswith("|", i):
            raise TemplateError(f"a bad expression {_snippet(text, start)!r}: expected '|' or '}}}}' "
                                f"after {text[start + 2:i].strip()!r}")
        i = _skip_ws(text, i + 1)
        m = _IDENT.match(text, i)
        if m is None:
            raise TemplateError(f"a bad expression {_snippet(text, start)!r}: expected a filter name "
                                "after '|'")
        if m.group() not in FILTERS:
            raise TemplateError(f"unknown filter {m.group()!r} in {_snippet(text, start)!r} "
                                f"(known: {', '.join(FILTERS)})")
        filters.append(m.group())
        i = m.end()


def _format_scalar(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _apply_filter(name: str, value: Rendered) -> Rendered:
    if name == "quote":
        if isinstance(value, tuple):
            return " ".join(shlex.quote(v) for v in value)
        return shlex.quote(value)
    raise TemplateError(f"unknown filter {name!r} (known: {', '.join(FILTERS)})")  # parse() checks


@dataclass(frozen=True)
class Scope:
    """The variables a template sees. Later sources override earlier ones at construction:
    ``Scope({**play_vars, **extra_vars})``."""
    variables: Mapping[str, VarValue]

    def render(self, text: str) -> Rendered:
        """Evaluate every expression in ``text``. Returns a tuple only when ``text`` is exactly
        one filterless expression whose value is a list."""
        return self._render(text, ())

    def render_str(self, text: str) -> str:
        """Like :meth:`render`, but a list value is an error."""
        value = self.render(text)
        if isinstance(value, tuple):
            raise TemplateError(f"{text.strip()!r} is a list; a string is expected here")
        return value

    def lookup(self, name: str) -> Rendered:
        return self._lookup(name, ())

    def _render(self, text: str, stack: tuple[str, ...]) -> Rendered:
        if not has_template(text):
            return text
        segments = parse(text)
        if len(segments) == 1 and isinstance(segments[0], Expr) and not segments[0].filters:
            return self._evaluate(segments[0], stack)
        parts: list[str] = []
        for seg in segments:
            if isinstance(seg, Literal):
                parts.append(seg.text)
                continue
            value = self._evaluate(seg, stack)
            if isinstance(value, tuple):
                raise TemplateError(
                    f"variable {seg.variable!r} is a list: use it as the whole value "
                    f"(\"{{{{ {seg.variable} }}}}\") or through | quote")
            parts.append(value)
        return "".join(parts)

    def _evaluate(self, expr: Expr, stack: tuple[str, ...]) -> Rendered:
        value: Rendered
        if expr.literal is not None:
            value = expr.literal
        else:
            assert expr.variable is not None
            value = self._lookup(expr.variable, stack)
        for name in expr.filters:
            value = _apply_filter(name, value)
        return value

    def _lookup(self, name: str, stack: tuple[str, ...]) -> Rendered:
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name):], name))
            raise TemplateError(f"variable {name!r} refers to itself ({chain})")
        if name not in self.variables:
            message = f"undefined variable {name!r}"
            if stack:
                message += f" (used by variable {stack[-1]!r})"
            close = difflib.get_close_matches(name, list(self.variables), n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
            raise TemplateError(message)
        raw = self.variables[name]
        inner = (*stack, name)
        if isinstance(raw, tuple):
            items: list[str] = []
            for i, item in enumerate(raw):
                rendered = self._render(item, inner) if isinstance(item, str) else _format_scalar(item)
                if isinstance(rendered, tuple):
                    raise TemplateError(f"variable {name!r}: item [{i}] is a list; lists do not nest")
                items.append(rendered)
            return tuple(items)
        if isinstance(raw, str):
            return self._render(raw, inner)
        return _format_scalar(raw)
