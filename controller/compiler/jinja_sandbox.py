"""The Jinja2 environment templates run in: Jinja2's ImmutableSandboxedEnvironment with Ansible's
filters and tests, StrictUndefined, no loader, and bounds on what one render may build or do.

Why ImmutableSandboxedEnvironment rather than SandboxedEnvironment: a template cannot mutate the
lists and mappings it reads (``{{ cmds.append('rm -rf /') }}``), so variables evaluated once are
the same for every later string of the play (Ansible's own environment is immutable too).

Bounds, so that every render ends in bounded time and memory (each refusal a one-line
:class:`TemplateError`):

- output: a string or list longer than :data:`MAX_OUTPUT` is refused where it would be built: ``*``
  on strings and lists, ``+``, ``~``, ``%``/``format`` with a huge width, the amplifying string
  methods and filters (``ljust``, ``center``, ``indent``, ``replace``, ``join`` ...), and the render's
  own output as it streams;
- numbers: ``**`` whose result would pass :data:`MAX_INT_BITS` bits;
- work: loop iterations past :data:`MAX_ITERATIONS`, calls (macros included) past :data:`MAX_CALLS`;
- ``range()`` past the sandbox's MAX_RANGE (100,000 items).
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from jinja2 import ChainableUndefined, StrictUndefined, nodes
from jinja2.compiler import Frame
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

from controller.compiler import jinja_filters, jinja_tests
from controller.compiler.errors import TemplateError

MAX_OUTPUT = 1 << 20  # characters (or items) in any one string or list a template builds
MAX_INT_BITS = 1 << 16
MAX_ITERATIONS = 1_000_000  # {% for %} iterations in one render (about 0.2 s here)
MAX_CALLS = 100_000  # calls in one render, macros included (about 0.5 s here: a macro call costs more)
_FORMAT_NUMBER = re.compile(r"\d+")
_AMPLIFIERS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})  # str.format: wrap_str_format


class Undefined(ChainableUndefined, StrictUndefined):
    """Ansible's undefined: ``x.y | default('z')`` works when ``x`` is undefined (chainable), any
    other use is an error naming the variable (strict)."""
    __slots__ = ()


def too_big(size: int, what: str) -> TemplateError:
    return TemplateError(f"{what} would be {size:,} characters long; a template may build at most {MAX_OUTPUT:,}")


def text_size(value: object, limit: int = MAX_OUTPUT) -> int:
    """About how many characters ``value`` prints as (containers included); stops counting past
    ``limit``, so it costs at most that much however large the value."""
    size, pending = 0, [value]
    while pending and size <= limit:
        item = pending.pop()
        if isinstance(item, (str, bytes)):
            size += len(item)
        elif isinstance(item, Mapping):
            size += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            size += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            size += item.bit_length() // 3 + 1
        else:
            size += 8
    return size


def check_size(value: object, what: str) -> object:
    size = text_size(value)
    if size > MAX_OUTPUT:
        raise too_big(size, what)
    return value


def _check_format(fmt: str, what: str) -> None:
    """A width or precision in a format string (``'%999999999d'``, ``'{:>999999999}'``)."""
    if "*" in fmt and what.startswith("'%'"):
        raise TemplateError(f"{what}: a '*' width is not allowed in a template")
    for number in _FORMAT_NUMBER.findall(fmt):
        if len(number) > 7 or int(number) > MAX_OUTPUT:
            raise too_big(int(number), what)


@dataclass
class Budget:
    """What one render has spent; one per top-level render, never shared."""
    iterations: int = 0
    calls: int = 0
    stack: list[str] = field(default_factory=list)  # variables being evaluated, for cycles

    def iteration(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise TemplateError(f"the template loops more than {MAX_ITERATIONS:,} times; refused (a render must "
                                "end in bounded time)")

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise TemplateError(f"the template makes more than {MAX_CALLS:,} calls; refused (a render must end "
                                "in bounded time)")


def budget_of(context: Context) -> Budget:
    budget = getattr(context.parent, "budget", None)
    if not isinstance(budget, Budget):  # pragma: no cover - every context is made by template.py
        raise TemplateError("internal: a template rendered without its budget")
    return budget


class _CodeGenerator(NativeCodeGenerator):
    """Native values (a lone ``{{ expr }}`` keeps its type); ``~`` goes through a size check."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: object) -> object:
        if not isinstance(node, nodes.TemplateData):  # Jinja2 would fold {{ 5 }} into the text "5"
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)  # type: ignore[arg-type]

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _size_checked(name: str, func: Callable[..., object]) -> Callable[..., object]:
    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        return check_size(func(*args, **kwargs), f"the result of the '{name}' filter")
    return wrapper


def _is_plumbing(arg: object) -> bool:
    """Jinja2's own first arguments (an eval context, an environment, a context), not values."""
    return isinstance(arg, (Context, ImmutableSandboxedEnvironment, EvalContext))


def _amplifier(name: str, func: Callable[..., object]) -> Callable[..., object]:
    """A filter whose result can be far larger than its input, checked before it runs."""
    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        values = [a for a in args if not _is_plumbing(a)]
        value = values[0] if values else ""
        rest = [*values[1:], *kwargs.values()]
        what = f"the result of the '{name}' filter"
        if name == "format":
            _check_format(str(value), what)
        elif name == "replace" and len(rest) >= 2:
            text, old, new = str(value), str(rest[0]), str(rest[1])
            size = len(text) + text.count(old) * (len(new) - len(old))
            if size > MAX_OUTPUT:
                raise too_big(size, what)
        elif name == "join":
            items = list(value) if isinstance(value, Iterable) else value
            sep = rest[0] if rest and isinstance(rest[0], str) else ""
            size = text_size(items) + len(sep) * (len(items) if isinstance(items, list) else 0)
            if size > MAX_OUTPUT:
                raise too_big(size, what)
            args = tuple(items if a is value else a for a in args)
        for arg in rest:
            if isinstance(arg, int) and not isinstance(arg, bool) and arg > MAX_OUTPUT:
                raise too_big(arg, what)
        return func(*args, **kwargs)
    return wrapper


def _size_checked(name: str, func: Callable[..., object]) -> Callable[..., object]:
    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        return check_size(func(*args, **kwargs), f"the result of the '{name}' filter")
    return wrapper


class Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=Undefined, autoescape=False, keep_trailing_newline=True,
                         trim_blocks=True, loader=None, cache_size=0)  # trim_blocks: Ansible's default
        self.globals.pop("lipsum", None)  # random text: nondeterministic
        filters = {**jinja_filters.ANSIBLE_FILTERS}
        for name in jinja_filters.JINJA_BUILTINS_WITH_FQCN:
            filters.setdefault(name, self.filters[name])
        self.filters.update(filters)
        for name in filters:
            self.filters[f"ansible.builtin.{name}"] = self.filters[name]
        for name, func in list(self.filters.items()):
            short = name.removeprefix("ansible.builtin.")
            if short in ("center", "indent", "wordwrap", "format", "replace", "join", "truncate"):
                func = _amplifier(short, func)
            self.filters[name] = _size_checked(short, func)
        tests = {**jinja_tests.ANSIBLE_TESTS}
        for name in jinja_tests.JINJA_BUILTINS_WITH_FQCN:
            tests.setdefault(name, self.tests[name])
        self.tests.update(tests)
        for name in tests:
            self.tests[f"ansible.builtin.{name}"] = self.tests[name]

    # -- the sandbox's hooks -------------------------------------------------------------------------

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        what = f"'{operator}'"
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and n > 1:
                    if text_size(seq, MAX_OUTPUT // n + 1) * n > MAX_OUTPUT:
                        raise too_big(text_size(seq) * n, f"{what} on a {type(seq).__name__}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateError(f"{left} ** {right} is too large a number (more than {MAX_INT_BITS:,} bits)")
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            size = text_size(left) + text_size(right)
            if size > MAX_OUTPUT:
                raise too_big(size, f"{what} of two {type(left).__name__}s")
        elif operator == "%" and isinstance(left, str):
            _check_format(left, f"{what} formatting")
        try:
            return check_size(super().call_binop(context, operator, left, right), what)
        except (OverflowError, ZeroDivisionError) as exc:
            raise TemplateError(f"{what}: {exc}") from None

    def call(__self, __context: Context, __obj: object, *args: object, **kwargs: object) -> object:  # noqa: N805
        budget_of(__context).call()
        name = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        what = f"the result of str.{name}()"
        if isinstance(owner, str) and name in _AMPLIFIERS:
            for arg in (*args, *kwargs.values()):
                if isinstance(arg, int) and not isinstance(arg, bool) and arg > MAX_OUTPUT:
                    raise too_big(arg, what)
        elif isinstance(owner, str) and name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            size = len(owner) + owner.count(old) * (len(new) - len(old))
            if size > MAX_OUTPUT:
                raise too_big(size, what)
        elif isinstance(owner, str) and name == "join" and args:
            items = list(args[0])  # type: ignore[call-overload]
            size = text_size(items) + len(owner) * len(items)
            if size > MAX_OUTPUT:
                raise too_big(size, what)
            args = (items, *args[1:])
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        except OverflowError as exc:  # range() past MAX_RANGE
            if "MAX_RANGE" in str(exc):
                raise TemplateError(f"a range of more than {MAX_RANGE:,} items is refused (the sandbox's MAX_RANGE)") \
                    from None
            raise TemplateError(f"refused: {exc}") from None
        return check_size(result, f"the result of {name or 'a call'}()")

    def wrap_str_format(self, value: object) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:  # a str.format or str.format_map, checked when it is looked up
            _check_format(value.__self__, f"the result of str.{value.__name__}()")  # type: ignore[attr-defined]
        return wrapped

    def checked_concat(self, values: Iterable[object]) -> str:
        parts = list(values)
        size = sum(text_size(p) for p in parts)
        if size > MAX_OUTPUT:
            raise too_big(size, "'~'")
        return "".join(str(p) for p in parts)

    def counted(self, context: Context, iterable: Iterable[object]) -> Iterator[object]:
        """A ``{% for %}`` loop's items, each one charged to the render's budget."""
        budget = budget_of(context)
        for item in iterable:
            budget.iteration()
            yield item


def count_loops(template: nodes.Template) -> None:
    """Route every ``{% for %}`` loop's iterable through :meth:`Environment.counted`."""
    for loop in template.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.EnvironmentAttribute("counted"), [nodes.ContextReference(), loop.iter], [],
                               None, None, lineno=loop.iter.lineno)


REFUSED_CALLS: Mapping[str, str] = {
    "lookup": "it would read the controller's environment or disk, not the node's",
    "query": "it would read the controller's environment or disk, not the node's",
    "q": "it would read the controller's environment or disk, not the node's",
    "lipsum": "it is random text: nondeterministic, and a playbook is compiled once",
}
