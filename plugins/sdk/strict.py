"""Strict readers of JSON-like values (from YAML an operator wrote, or JSON a node sent): each refuses
anything unexpected with an :class:`InputError` that names the exact place, e.g.
``web.yml: approval_rules[0].approve_after_days: expected 0 to 360, got 400``. Used by
plugins/sdk/patching.py."""
from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from plugins.sdk.errors import InputError
from plugins.sdk.limits import BOUNDED_JSON, shown
from plugins.sdk.schema import kind_of

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")
TEXT = re.compile(r"[^\x00-\x1f\x7f]*")  # no control characters
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def child(where: str, key: str) -> str:
    """The path of ``key`` in the value at ``where``: ``web.yml: rejected_action`` at the top of a
    text, ``web.yml: approval_rules[0].section`` below it."""
    if ": " in where or where.endswith("]"):
        return f"{where}.{key}"
    return f"{where}: {key}" if where else key


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, ASCII: one text for one value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def mapping(raw: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(where, f"expected a mapping, got {kind_of(raw)}")
    for key in raw:
        if key not in keys:
            raise InputError(child(where, str(key)), f"unknown key (known: {', '.join(keys)})")
    for key in required:
        if key not in raw:
            raise InputError(child(where, key), "missing required key")
    return raw


def string(raw: Any, where: str, pattern: re.Pattern[str] | None = None, what: str = "", limit: int = 0) -> str:
    """A string; with ``pattern``, one that matches it whole (``what`` says what it should be)."""
    if not isinstance(raw, str):
        raise InputError(where, f"expected a string, got {kind_of(raw)}")
    if (pattern is not None and not pattern.fullmatch(raw)) or (limit and len(raw) > limit):
        raise InputError(where, f"expected {what}, got {shown(raw)}")
    return raw


def choice(raw: Any, where: str, enum_cls: type[E]) -> E:
    values = [m.value for m in enum_cls]
    if raw not in values:
        raise InputError(where, f"expected one of {', '.join(values)}, got {shown(raw)}")
    return enum_cls(raw)


def integer(raw: Any, where: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise InputError(where, f"expected {low} to {high}, got {shown(raw)}")
    return raw


def listed(raw: Any, where: str, limit: int, item: Callable[[Any, str], T], *, null_ok: bool = True) -> tuple[T, ...]:
    """A list of at most ``limit`` items, each read by ``item(value, path)``; null is empty when ``null_ok``."""
    if raw is None and null_ok:
        return ()
    if not isinstance(raw, list):
        raise InputError(where, f"expected a list, got {kind_of(raw)}")
    if len(raw) > limit:
        raise InputError(where, f"at most {limit} entries, got {len(raw)}")
    return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(raw))


def load_yaml(text: str, where: str, *, max_chars: int) -> Any:
    """YAML (or JSON) text, bounded in size and depth, without duplicate keys."""
    if len(text) > max_chars:
        raise InputError(where, f"at most {max_chars} characters, got {len(text)}")
    from plugins.sdk.strict_yaml import YAMLError, load  # PyYAML only where YAML is read: never in an agent
    try:
        return load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(where, f"not valid YAML: {line}{getattr(exc, 'problem', None) or exc}") from None


def load_json(data: bytes, where: str, *, max_bytes: int, max_depth: int) -> Any:
    """JSON bytes, bounded in size, depth (counted on the text before parsing it: Python's parser
    recurses) and digits of its numbers."""
    if len(data) > max_bytes:
        raise InputError(where, f"at most {max_bytes} bytes, got {len(data)}")
    if data.count(b"[") + data.count(b"{") > max_depth:
        depth = deepest = 0
        for b in _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
            depth += 1 if b in b"[{" else -1
            deepest = max(deepest, depth)
        if deepest > max_depth:
            raise InputError(where, f"nested deeper than {max_depth} levels")
    try:
        return BOUNDED_JSON.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(where, f"not valid JSON: {shown(str(exc), 120)}") from None
