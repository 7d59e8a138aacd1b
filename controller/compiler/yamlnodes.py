"""YAML to a small tree of located values, so every error can name its line.

The text is composed into PyYAML nodes with the SafeLoader, then walked here: scalars are
converted with the SafeLoader's own constructors (``true`` -> bool, ``5`` -> int), mapping keys
are kept as the literal text the user wrote, duplicate keys are refused (Ansible warns; we do
not guess which one was meant), merge keys (``<<: *base``) are honoured with explicit keys
winning, and anything that is not JSON-like (timestamps, ``!!binary``, ``!!set``) is refused.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.compiler.errors import PlaybookError
from controller.documents.yamlload import NestingLimitedLoader
from plugins.sdk.limits import MAX_NESTING, NUL, NUL_PROBLEM, nesting_problem
from plugins.sdk.schema import kind_of
from plugins.sdk.wire.document import LONE_SURROGATE, has_lone_surrogate

Scalar = str | int | float | bool | None

MAX_NODES = 100_000  # after alias expansion: a guard against "billion laughs" documents
# What PyYAML's constructors raise, unwrapped, for a scalar that its tag (written, or resolved from
# how the scalar looks) cannot read: int("x"), a timestamp that is no date, a boolean that is none.
CONSTRUCTOR_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_LAST_SEGMENT = re.compile(r"(\.[^.\[\]]*|\[\d+\])$")

Path = tuple[str | int, ...]  # keys and list indexes from the document's root


def play_path(path: Path) -> str:
    """A root path as messages name it: relative to its play (``tasks[0].shell``), since the
    line locates the play; ``plays[1]`` for a play itself; ``""`` for the root."""
    if not path:
        return ""
    if len(path) == 1:
        return f"plays[{path[0]}]" if isinstance(path[0], int) else str(path[0])
    out = ""
    for seg in path[1:] if isinstance(path[0], int) else path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else seg)
    return out


@dataclass(frozen=True)
class YScalar:
    value: Scalar
    line: int  # 1-based
    literal: bool = False  # a `|` block: its text's line N is the file's line + N (the `|` is on `line`)


@dataclass(frozen=True)
class YSeq:
    items: tuple[YNode, ...]
    line: int


@dataclass(frozen=True)
class YEntry:
    key: str  # literal key text, never converted (so ``on:`` stays "on")
    key_line: int
    value: YNode


@dataclass(frozen=True)
class YMap:
    entries: tuple[YEntry, ...]
    line: int

    def get(self, key: str) -> YEntry | None:
        for entry in self.entries:
            if entry.key == key:
                return entry
        return None

    def keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.entries)


YNode = YScalar | YSeq | YMap


def kind(value: Any) -> str:
    """``a mapping``, ``a list``, ``a string``...: how a value is named in messages."""
    if isinstance(value, YScalar):
        value = value.value
    if isinstance(value, YMap):
        return "a mapping"
    if isinstance(value, YSeq):
        return "a list"
    return kind_of(value)


def plain(node: YNode) -> Any:
    """The plain value of ``node``: scalars, lists and dicts, as YAML's safe loader gives them."""
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(item) for item in node.items]
    return {e.key: plain(e.value) for e in node.entries}


def load(text: str, filename: str) -> YNode | None:
    """Parse one YAML document; ``None`` when it holds nothing (empty, or only comments)."""
    try:
        root = yaml.compose(text, Loader=NestingLimitedLoader)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, filename) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise PlaybookError(f"character {exc.character!r} is not allowed in YAML ({exc.reason})",
                            filename=filename, line=line) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every other YAML error is marked
        raise PlaybookError(str(exc), filename=filename, line=1) from None
    if root is None:
        return None
    return _Converter(filename).convert(root, ())


def _yaml_error(exc: yaml.MarkedYAMLError, filename: str) -> PlaybookError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        context = exc.context
        if exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" that starts at line {exc.context_mark.line + 1}"
        message = f"{exc.problem} ({context})"
    return PlaybookError(message, filename=filename, line=line)


class _Converter:
    """One walk over a composed document. Holds the node budget and the alias stack."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.constructor = SafeConstructor()
        self.budget = MAX_NODES
        self.open: set[int] = set()  # ids of the collection nodes being converted (alias cycles)

    def fail(self, node: Node, path: Path, message: str) -> NoReturn:
        raise PlaybookError(message, filename=self.filename, line=node.start_mark.line + 1,
                            where=play_path(path))

    def convert(self, node: Node, path: Path) -> YNode:
        self.budget -= 1
        if self.budget < 0:
            self.fail(node, path, f"the document expands to more than {MAX_NODES} values (aliases?)")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if len(path) >= MAX_NESTING:  # the text is composed within the limit; aliases can nest it deeper
            self.fail(node, path, nesting_problem())
        if id(node) in self.open:
            self.fail(node, path, "an alias refers to a collection that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ_TAG:
                    self.fail(node, path, f"unsupported YAML tag {node.tag!r} on a list")
                return YSeq(tuple(self.convert(item, (*path, i)) for i, item in enumerate(node.value)),
                            node.start_mark.line + 1)
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            self.fail(node, path, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover
        finally:
            self.open.discard(id(node))

    def scalar(self, node: ScalarNode, path: Path) -> YScalar:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc, self.filename) from None
        except CONSTRUCTOR_ERRORS:  # PyYAML's own: `!!int x`, `!!timestamp`, a 13th month (`2001-13-01`)
            shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            self.fail(node, path, f"{shown!r} is not a valid {node.tag.rsplit(':', 1)[-1]}; quote it to make a string")
        if isinstance(value, str) and has_lone_surrogate(value):  # a "\ud800" escape: no document can hold it
            self.fail(node, path, LONE_SURROGATE)
        if isinstance(value, (datetime.date, datetime.datetime)):
            self.fail(node, path, f"{node.value!r} reads as a timestamp; quote it to make a string")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            self.fail(node, path, f"unsupported YAML value {node.value!r} ({type(value).__name__}); "
                            "quote it to make a string")
        if isinstance(value, str) and NUL in value:  # YAML's "\0" or "\x00"
            self.fail(node, path, NUL_PROBLEM)
        return YScalar(value, node.start_mark.line + 1, node.style == "|")

    def mapping(self, node: MappingNode, path: Path) -> YMap:
        if node.tag != _MAP_TAG:
            self.fail(node, path, f"unsupported YAML tag {node.tag!r} on a mapping")
        entries: list[YEntry] = []
        first_line: dict[str, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                hint = " (a value that starts with '{{' must be quoted)" if isinstance(key_node, MappingNode) else ""
                kind = "mapping" if hint else "list"
                self.fail(key_node, path, f"a mapping key must be a plain string, not a {kind}{hint}")
            key, line = key_node.value, key_node.start_mark.line + 1
            if NUL in key:
                self.fail(key_node, path, f"a mapping key {NUL_PROBLEM}")
            if has_lone_surrogate(key):
                self.fail(key_node, path, f"a mapping key {LONE_SURROGATE}")
            if key in first_line:
                self.fail(key_node, path, f"duplicate key {key!r} (first at line {first_line[key]})")
            first_line[key] = line
            entries.append(YEntry(key, line, self.convert(value_node, (*path, key))))
        for merge in merges:  # explicit keys win; among merged mappings, the first one wins
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.fail(source, path, "a merge key (<<) takes a mapping or a list of mappings")
                merged = self.convert(source, path)
                assert isinstance(merged, YMap)
                for entry in merged.entries:
                    if entry.key not in first_line:
                        first_line[entry.key] = entry.key_line
                        entries.append(entry)
        return YMap(tuple(entries), node.start_mark.line + 1)


def to_plain(node: YNode) -> Any:
    """The value without locations: dict, list and scalars."""
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [to_plain(item) for item in node.items]
    return {e.key: to_plain(e.value) for e in node.entries}


def line_index(node: YNode, path: str, line: int | None = None) -> dict[str, int]:
    """Every field path under ``node`` (``path.cmd``, ``path.runCommand[1]``) with its line.

    A mapping entry is located at its key (where ``cmd:`` is written), a list item at the item.
    """
    out = {path: node.line if line is None else line}
    if isinstance(node, YSeq):
        for i, item in enumerate(node.items):
            out.update(line_index(item, f"{path}[{i}]"))
    elif isinstance(node, YMap):
        for entry in node.entries:
            out.update(line_index(entry.value, f"{path}.{entry.key}", entry.key_line))
    return out


def locate(index: dict[str, int], path: str, default: int) -> int:
    """The line of ``path``, or of its nearest ancestor in ``index`` (a missing field is
    reported where its parent is written)."""
    while path:
        if path in index:
            return index[path]
        shorter = _LAST_SEGMENT.sub("", path)
        if shorter == path:
            break
        path = shorter
    return default
