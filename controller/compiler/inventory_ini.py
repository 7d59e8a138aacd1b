"""Ansible's INI inventory format, read as ansible-core's ``ini`` inventory plugin reads it.

Followed: ``[group]``, ``[group:children]``, ``[group:vars]`` (``[group:hosts]`` is ``[group]``);
hosts above the first section are ``ungrouped``; ``#`` and ``;`` start comment lines; a host line
is split as a shell would (quotes keep spaces) and its first word is the host, with ranges and an
optional ``:port`` (kept as ``ansible_port``), the rest ``key=value``; a value is read as a Python
literal where it is one (``5`` an int, ``True`` a bool, ``['a']`` a list, ``'x'`` unquoted) and
kept as text otherwise (``true``, ``FALSE``, ``/srv``). ``:vars`` lines are ``key=value``, one a
line, the value everything after the ``=``, read the same way: that is what ansible-core's plugin
does (its documentation says ":vars values are strings": ``var=FALSE`` is a string under both,
``port=5`` is the int 5 in ansible-core and here). A group must be defined (by ``[g]`` or
``[g:children]`` or as a child under ``[p:children]``, in any file of the inventory) for its
``:vars``, anywhere in the file: ``[g:vars]`` above ``[g]`` is fine. A group named only under
``[p:children]`` is an empty group, as in the documentation's own example (``[usa:children]``
names ``northeast``, ``southwest`` and ``northwest``, defined nowhere else).

Refused where Ansible fails too, saying the line: an unknown section type (``[g:hostz]``), a
section header with spaces, a ``:vars`` line without ``=``, a host word that is not
``key=value``, a bad range, a group loop. Refused where Ansible would keep going: a value
that is a Python set, bytes or complex number (not JSON-like), an unclosed quote.
"""
from __future__ import annotations

import ast
import re
import shlex
import warnings

from controller.compiler.errors import InventoryError
from controller.compiler.hostrange import RangeProblem, expand, split_port
from controller.compiler.inventory_builder import InventoryBuilder
from controller.compiler.inventory_model import UNGROUPED, Location
from plugins.sdk.limits import NUL, NUL_PROBLEM

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s=]+)\s*(?:[#;].*)?$")
_STATES = ("hosts", "children", "vars")


def read_ini(text: str, filename: str, builder: InventoryBuilder) -> None:
    state, group = "hosts", UNGROUPED
    pending: dict[str, Location] = {}  # groups given [g:vars] before anything defines them
    for number, raw in enumerate(text.splitlines(), 1):
        where = Location(filename, number)
        line = raw.strip()
        if NUL in line:
            raise _fail(where, NUL_PROBLEM)
        if not line or line[0] in "#;":
            continue
        section = _SECTION.match(line)
        if section:
            group, state = section[1], section[2] or "hosts"
            if state not in _STATES:
                raise _fail(where, f"section [{group}:{state}] has an unknown type {state!r} "
                            "(a section is [group], [group:children] or [group:vars])")
            _open_section(builder, pending, group, state, where)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise _fail(where, f"invalid section header {line!r}: a group name has no spaces, ':' or ']', "
                        "and only [group], [group:children] or [group:vars] may follow")
        if state == "hosts":
            _host_line(builder, line, group, where)
        elif state == "children":
            _child_line(builder, pending, line, group, where)
        else:
            key, value = _var_line(line, where)
            builder.group_var(group, key, value, where)
    if pending:  # the first one, as Ansible reports it
        name, where = next(iter(pending.items()))
        raise _fail(where, f"[{name}:vars] sets vars for a group defined nowhere "
                    f"(define it with [{name}], [{name}:children] or under a [parent:children] section)")


def _open_section(builder: InventoryBuilder, pending: dict[str, Location], group: str, state: str,
                  where: Location) -> None:
    if state == "vars":
        if not builder.has_group(group):
            pending.setdefault(group, where)
            builder.group(group, None)
        return
    pending.pop(group, None)
    builder.group(group, where)


def _child_line(builder: InventoryBuilder, pending: dict[str, Location], line: str, group: str,
                where: Location) -> None:
    m = _GROUP_NAME.match(line)
    if m is None:
        raise _fail(where, f"[{group}:children] takes one group name a line, got {line!r}")
    pending.pop(m[1], None)
    builder.child(group, m[1], where)


def _host_line(builder: InventoryBuilder, line: str, group: str, where: Location) -> None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise _fail(where, f"host line {line!r}: {str(exc).lower()}") from None
    if not words:
        return
    try:
        pattern, port = split_port(words[0])
        names = expand(pattern)
    except RangeProblem as exc:
        raise _fail(where, str(exc)) from None
    variables: dict[str, object] = {}
    if port is not None:
        variables["ansible_port"] = port
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise _fail(where, f"host {words[0]!r}: {word!r} is not a key=value variable "
                        "(quote a value that holds spaces)")
        variables[key] = parse_value(value, where, key)
    for name in names:
        builder.host(name, group, variables, where)


def _var_line(line: str, where: Location) -> tuple[str, object]:
    key, eq, value = line.partition("=")
    key = key.strip()
    if not eq or not key:
        raise _fail(where, f"expected key=value in a :vars section, got {line!r}")
    if any(c.isspace() for c in key):
        raise _fail(where, f"variable name {key!r} holds a space")
    return key, parse_value(value.strip(), where, key)


def parse_value(text: str, where: Location, key: str) -> object:
    """Ansible's ``_parse_value``: a Python literal becomes its value, anything else stays text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    problem = _not_json_like(value)
    if problem:
        raise _fail(where, f"{key}={text}: the value reads as {problem}; Outpost's variables are "
                    "strings, numbers, booleans, lists and mappings: quote it to keep it as text")
    return _plain(value)


def _not_json_like(value: object) -> str | None:
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, bytes):
        return "Python bytes"
    if isinstance(value, (list, tuple)):
        return next((p for p in map(_not_json_like, value) if p), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "a mapping with keys that are not strings"
        return next((p for p in map(_not_json_like, value.values()) if p), None)
    return f"a Python {type(value).__name__}"


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _fail(where: Location, message: str) -> InventoryError:
    return InventoryError(message, filename=where.filename, line=where.line)
