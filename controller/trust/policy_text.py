"""How a policy's text is read (controller/trust/policy.py parses what it holds): JSON or YAML,
bounded before it is read, every key and value checked to be text, each error one line naming its
place. A text whose first non-blank character is ``{`` or ``[`` is JSON; any other is YAML,
without aliases or merge keys; a key written twice in one mapping is refused (both readers would
keep the last silently)."""
from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterator

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node

from controller.documents.yamlload import NestingLimitedLoader
from plugins.sdk.errors import InputError
from plugins.sdk.limits import bounded_int, check_text, shown
from plugins.sdk.schema import kind_of

MAX_POLICY_BYTES = 64 * 1024


class _Object(dict[object, object]):
    """A parsed mapping that remembers the first key written twice in it (both loaders keep the last)."""
    twice: object = None


def as_mapping(value: object, where: str, keys: tuple[str, ...] | None, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InputError(where, f"expected {what}, got {kind_of(value)}")
    for key in value:
        if not isinstance(key, str):
            raise InputError(where, f"a key is {kind_of(key)} ({shown(key)}); keys are strings")
        check_text(key, where)
    if getattr(value, "twice", None) is not None:
        raise InputError(where, f"key {shown(value.twice)} is written twice")  # type: ignore[attr-defined]
    for key in value:
        if keys is not None and key not in keys:
            hint = did_you_mean(key, tuple((k, k) for k in keys))
            raise InputError(where, f"unknown key {shown(key)} ({hint}known: {', '.join(keys)})")
    return value


def as_strings(value: object, where: str) -> tuple[tuple[str, str], ...]:
    """A string or a non-empty list of them, each with its place."""
    if isinstance(value, list):
        if not value:
            raise InputError(where, "is empty; write at least one")
        return tuple((f"{where}[{i}]", as_text(item, f"{where}[{i}]")) for i, item in enumerate(value))
    if isinstance(value, dict):
        raise InputError(where, "expected a string or a list of strings, got a mapping")
    return ((where, as_text(value, where)),)


def as_text(value: object, where: str) -> str:
    if not isinstance(value, str):
        quote = "; quote it if it is one" if isinstance(value, (bool, int, float, datetime.date)) else ""
        raise InputError(where, f"expected a string, got {kind_of(value)} ({shown(value)}{quote})")
    check_text(value, where)
    return value


def place(where: str, key: str) -> str:
    """``where.key``, the key shown quoted if it would break the one line or run long."""
    return f"{where}.{key}" if key.isprintable() and len(key) <= 100 else f"{where}.{shown(key)}"


def did_you_mean(text: str, names: tuple[tuple[str, object], ...]) -> str:
    by_lower = {name.lower(): name for name, _ in names}
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=1, cutoff=0.75)
    return f"did you mean {by_lower[close[0]]!r}? " if close else ""


# -- text -----------------------------------------------------------------------------------------

def load_text(text: str | bytes) -> object:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise InputError("policy", f"is {size} bytes; a policy has at most {MAX_POLICY_BYTES} (64 KiB)")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("policy", f"is not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InputError("policy", "is empty")
    return _load_json(text) if text.lstrip()[0] in "{[" else _load_yaml(text)


def _load_json(text: str) -> object:
    def pairs(items: list[tuple[str, object]]) -> _Object:
        out = _Object()
        for key, value in items:
            if key in out and out.twice is None:
                out.twice = key
            out[key] = value
        return out

    def constant(name: str) -> object:
        raise ValueError(f"{name} is not a number")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_int=bounded_int, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise InputError("policy", f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # NumberTooLong, NaN
        raise InputError("policy", f"is not valid JSON: {exc}") from None
    except RecursionError:  # far deeper than the grammar, which refuses a list or mapping where it takes a string
        raise InputError("policy", "is nested too deeply to read") from None


class _Loader(NestingLimitedLoader):
    """The controller's YAML loader (nesting bounded before it recurses), refusing aliases (one list
    named in every statement would multiply the text); its mappings remember a key written twice."""

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        if self.check_event(AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed in a policy", self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_policy_map(self, node: MappingNode) -> Iterator[_Object]:
        data = _Object()
        yield data
        for key_node, value_node in node.value:
            key = self.construct_object(key_node)
            if isinstance(key, (list, dict)):
                raise ConstructorError(None, None, "a key is a list or mapping", key_node.start_mark)
            if key in data and data.twice is None:
                data.twice = key
            data[key] = self.construct_object(value_node)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_policy_map)
_Loader.add_constructor("tag:yaml.org,2002:merge", yaml.SafeLoader.construct_yaml_str)


def _load_yaml(text: str) -> object:
    try:
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise InputError("policy", f"is not valid YAML: {exc.problem or exc.context}{context}{at}") from None
    except yaml.reader.ReaderError as exc:  # a control character
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise InputError("policy", f"is not valid YAML: character {character!r} is not allowed (line {line})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # a scalar its tag cannot read
        raise InputError("policy", f"is not valid YAML: a value does not read as its type ({shown(str(exc))})"
                         ) from None
