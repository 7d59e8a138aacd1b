"""Inputs the fuzz properties share: text with the characters that break parsers, JSON-like values
nested deep, and whole documents and playbooks, well-typed but random."""
from __future__ import annotations

import copy
import functools
import json
from typing import Any

import yaml
from hypothesis import strategies as st

# The characters worth trying more often than chance gives them: NUL and other controls, lone
# surrogates (what Python makes of argv bytes that are not UTF-8), a BOM, line and paragraph
# separators, bidi controls, combining marks, wide and astral ones, and the punctuation of the
# syntaxes under test (YAML, JSON, {{ }} templates, k=v,k=v lists).
ODD = ("\x00", "\x01", "\x1b", "\x7f", "\x85", "\t", "\r", "\n", "\r\n", "\ufeff", "\u2028", "\u2029", "\u202e",
       "\u200b", "\u0301", "\uffff", "\U0001f600", "\U0010ffff", "ß", "İ", "ﬁ", "٣", "{{", "}}", "{", "}", "[", "]",
       ":", ": ", "-", "- ", "#", "&", "*", "!", "|", ">", "'", '"', "%", "@", "`", ",", "=", "\\", "/", "$", ".", " ",
       "~", "?", "<<", "0", "1e9", "-1", "true", "null")
SURROGATES = ("\ud800", "\udcff", "\udfff")  # lone: what Python makes of argv bytes that are not UTF-8

# Joined tokens, not text(alphabet=...): hypothesis merges an alphabet into one set of code points,
# in which the few that matter drown.
_token = st.one_of(st.sampled_from(ODD), st.text(max_size=3))
odd_text = st.lists(st.one_of(st.sampled_from(ODD + SURROGATES), st.text(max_size=3)), max_size=8).map("".join)
text = st.one_of(st.text(max_size=10), odd_text)
names = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), text)


@functools.cache
def unicode_text(max_size: int = 12) -> st.SearchStrategy[str]:
    """Text that UTF-8 can carry: any code point but the lone surrogates."""
    return st.lists(_token, max_size=max_size // 2).map("".join)


# Numbers as JSON and YAML hold them: huge and negative too, floats with their non-finite ones. Digits
# past Python's int/str limit (4,300) are the input task's of issue 17 and not generated.
numbers = st.one_of(st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)


@functools.cache
def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(text, inner, max_size=4)),
                        max_leaves=max_leaves)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` lists inside each other (deep nesting without a deep Python stack to build it)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def dumps(value: Any, ascii_only: bool = False) -> str:
    """JSON as anyone might send it, NaN included (``ascii_only``: every other character escaped,
    lone surrogates too, as ``\\ud800``); never raises on what the strategies make."""
    return json.dumps(value, ensure_ascii=ascii_only)


def utf8(text_: str) -> bytes:
    """``text_`` as bytes; lone surrogates become what a file could hold in their place."""
    return text_.encode("utf-8", "surrogatepass")



@functools.cache
def finite_json(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """JSON values that survive a round trip exactly: no NaN (never equal to itself), no lone surrogate."""
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), unicode_text())
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(unicode_text(), inner, max_size=4)),
                        max_leaves=max_leaves)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    path = draw(st.sampled_from(_paths(value)))
    op = draw(st.sampled_from(("replace", "text", "delete", "insert", "wrap")))
    if not path:
        return draw(json_values(4)) if op != "wrap" else [value]
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "replace":
        parent[last] = draw(json_values(4))
    elif op == "text":
        parent[last] = draw(odd_text)
    elif op == "delete":
        del parent[last]
    elif op == "wrap":
        parent[last] = draw(st.sampled_from([nested(3, parent[last]), {"": parent[last]}, str(parent[last])]))
    elif isinstance(parent, dict):
        parent[draw(text)] = draw(json_values(3))
    else:
        parent.insert(last, draw(json_values(3)))
    return value


def mutated(valid: st.SearchStrategy[Any], most: int = 3) -> st.SearchStrategy[Any]:
    """A valid JSON-like value with up to ``most`` random changes: a value replaced by any other, a
    key or item deleted or added, a value wrapped. Reaches much deeper than random values, which a
    parser refuses at their first field."""
    @st.composite
    def build(draw: st.DrawFn) -> Any:
        value = copy.deepcopy(draw(valid))
        for _ in range(draw(st.integers(min_value=0, max_value=most))):
            value = _mutate(draw, value)
        return value
    return build()


def dump_yaml(value: Any, unicode: bool) -> str:
    """YAML as a person might write it (block style) or a tool (flow style)."""
    return yaml.safe_dump(value, allow_unicode=unicode, default_flow_style=None if unicode else False)
