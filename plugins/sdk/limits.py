"""The bounds every side holds what it is given to, stated once: how deeply a document may nest,
the longest timeout anything may have, and the one character no string may hold.

Each is refused by name where the value comes in (the controller's API, the document parsers, the
playbook compiler, and the agent again as it parses what it was sent), so a value past one never
reaches code that would fail on it in its own way: Python's recursion limit (a RecursionError, an
UNKNOWN answer), a timer so far off that it never fires (no timeout at all), or a NUL that no
command line, environment variable or PostgreSQL text column can carry.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from plugins.sdk.errors import InputError

# Levels of lists and mappings, the outermost counted: a document's inputs sit at level 4
# (document, mainSteps, the step, inputs), so real documents stay far below.
MAX_NESTING = 64
# 30 days: SSM's longest delivery timeout, and the longest any step or task may run. A larger
# value is refused, never taken as "no timeout".
MAX_TIMEOUT_SECONDS = 2_592_000
# Digits of an integer in JSON text: Python reads at most 4,300 (a ValueError past that), and no
# number Outpost takes has more than 19 (an int64); far past both, and said by name.
MAX_NUMBER_DIGITS = 100


class NumberTooLong(ValueError):
    """An integer in JSON text with more digits than MAX_NUMBER_DIGITS."""


def bounded_int(text: str) -> int:
    """``json.loads``'s ``parse_int``: NumberTooLong past MAX_NUMBER_DIGITS digits."""
    digits = len(text) - text.startswith("-")
    if digits > MAX_NUMBER_DIGITS:
        raise NumberTooLong(f"a number of {digits} digits; numbers have at most {MAX_NUMBER_DIGITS}")
    return int(text)


# A decoder with bounded integers, made once: json.loads(..., parse_int=...) builds a new decoder per
# call (measured: a tenth of an agent's document parsing). It keeps nothing between calls (as
# json's own default decoder, which json.loads shares the same way).
BOUNDED_JSON = json.JSONDecoder(parse_int=bounded_int)
NUL = "\x00"
NUL_PROBLEM = "contains a NUL character, which no command line, environment variable or database text can carry"


def nesting_problem(limit: int = MAX_NESTING) -> str:
    return f"nested deeper than {limit} levels"


def _deep(at: str) -> str:
    """A path past the nesting limit, cut to the part that names the field (``x[0][0]...``)."""
    return at if len(at) <= 100 else at[:100] + "..."


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters: a value may be huge."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def timeout_problem(value: object, limit: int = MAX_TIMEOUT_SECONDS) -> str | None:
    """Why ``value`` is not a timeout in seconds (a whole number, 1 to 30 days), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return f"expected a positive integer (seconds), got {shown(value)}"
    if value > limit:
        return f"must be at most {limit} seconds (30 days), got {shown(value)}"
    return None


def check_text(value: str, where: str) -> None:
    if NUL in value:
        raise InputError(where, NUL_PROBLEM)


def check_tree(value: Any, where: str, *, limit: int = MAX_NESTING) -> None:
    """Refuse a parsed JSON-like value (dicts, lists, scalars) that nests deeper than ``limit``
    levels, or holds a NUL in any string or key; InputError names the first such place, in document
    order. A walk with a stack of its own: what it checks may be too deep to recurse into."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, at, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, at)
        elif isinstance(item, Mapping):
            if depth > limit:
                raise InputError(_deep(at), nesting_problem(limit))
            for key in item:
                if isinstance(key, str):
                    check_text(key, f"{at}.{key!r}")
            stack.extend((v, f"{at}.{k}", depth + 1) for k, v in reversed(item.items()))
        elif isinstance(item, (list, tuple)):
            if depth > limit:
                raise InputError(_deep(at), nesting_problem(limit))
            stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in reversed(list(enumerate(item))))


def check_json_tree(value: Any, text: str | bytes, where: str) -> None:
    """:func:`check_tree` for a value parsed from JSON ``text``, walked only when the text shows there
    is something to find, to name the place: lists and mappings nested past the limit (counted on the
    text, its strings taken out, mostly at C speed: about half the walk's cost, see _json_depth) or an
    escaped NUL (raw control characters are not valid JSON)."""
    data = text.encode() if isinstance(text, str) else text
    if b"\\u0000" in data or _json_depth(data) > MAX_NESTING:
        check_tree(value, where)


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: one step per run, not per character
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


def _json_depth(data: bytes) -> int:
    """How deeply the lists and mappings of valid JSON ``data`` nest, or a bound on it no greater
    than the limit when that is all the brackets allow. Measured on a 300-step document (26 KB): 0.6 ms,
    where walking its parsed value took 1.1 ms and json.loads 0.2 ms; a 10-step one costs 2 us."""
    if data.count(b"[") + data.count(b"{") <= MAX_NESTING:  # every bracket, even in strings, one level
        return MAX_NESTING
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for b in brackets:
        depth += 1 if b in _OPENING else -1
        deepest = max(deepest, depth)
    return deepest
