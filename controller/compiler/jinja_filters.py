"""Ansible's filters, by Ansible's names and with Ansible's semantics, for the sandboxed Jinja2
environment of :mod:`controller.compiler.template`. Each one is also registered under its FQCN
(``ansible.builtin.X``). Jinja2's own builtins (``default``/``d``, ``join``, ``lower``, ``map``,
``selectattr`` ...) stay as Jinja2 has them; this module adds what Ansible adds.

A filter that cannot be honoured here is refused by name when the template is compiled, with why
(:data:`REFUSED_FILTERS`), never accepted and ignored.
"""
from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence

import yaml
from jinja2.runtime import Undefined

from controller.compiler.errors import TemplateError

_NONDETERMINISTIC = "nondeterministic, and a playbook is compiled once, on the controller"
REFUSED_FILTERS: Mapping[str, str] = {
    "random": _NONDETERMINISTIC,
    "shuffle": _NONDETERMINISTIC,
    "password_hash": "it needs a salt source and crypt backends Outpost does not carry; hash the password "
                     "before it goes into the playbook",
    "ipaddr": "the ansible.utils collection (netaddr) is not part of Outpost",
    "ipv4": "the ansible.utils collection (netaddr) is not part of Outpost",
    "ipv6": "the ansible.utils collection (netaddr) is not part of Outpost",
    "ipwrap": "the ansible.utils collection (netaddr) is not part of Outpost",
    "vault": "Outpost keeps secrets in its parameter store ({{ssm-secure:NAME}}), not in Ansible Vault",
    "unvault": "Outpost keeps secrets in its parameter store ({{ssm-secure:NAME}}), not in Ansible Vault",
}
REFUSED_PREFIXES: Mapping[str, str] = {
    "ansible.utils.": "the ansible.utils collection is not part of Outpost",
    "ansible.netcommon.": "the ansible.netcommon collection is not part of Outpost",
    "community.": "community collections are not part of Outpost",
}


def refused(name: str, table: Mapping[str, str]) -> str | None:
    """Why ``name`` (a filter or test, short or FQCN) is refused, or None."""
    short = name.removeprefix("ansible.builtin.")
    if short in table:
        return table[short]
    return next((why for prefix, why in REFUSED_PREFIXES.items() if name.startswith(prefix)), None)


def to_bool(value: object) -> bool | None:
    """Ansible's ``bool`` filter: None and booleans as they are; 'yes', 'on', '1', 'true', 1 true."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = value.lower()
    return value in ("yes", "on", "1", "true", 1)


def mandatory(value: object, msg: str | None = None) -> object:
    if isinstance(value, Undefined):
        name = f"'{value._undefined_name}' " if value._undefined_name is not None else ""
        raise TemplateError(msg or f"mandatory variable {name}not defined")
    return value


def split(value: str, separator: str | None = None, maxsplit: int = -1) -> list[str]:
    return value.split(separator, maxsplit)


def _unique(items: Iterable[object]) -> list[object]:
    out: list[object] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def union(a: Iterable[object], b: Iterable[object]) -> list[object]:
    return _unique([*a, *b])


def intersect(a: Iterable[object], b: Iterable[object]) -> list[object]:
    other = list(b)
    return _unique(x for x in a if x in other)


def difference(a: Iterable[object], b: Iterable[object]) -> list[object]:
    other = list(b)
    return _unique(x for x in a if x not in other)


def symmetric_difference(a: Iterable[object], b: Iterable[object]) -> list[object]:
    a, b = list(a), list(b)
    both = intersect(a, b)
    return [x for x in union(a, b) if x not in both]


def flatten(value: Iterable[object], levels: int | None = None, skip_nulls: bool = True) -> list[object]:
    out: list[object] = []
    for item in value:
        if skip_nulls and item in (None, "None", "null"):
            continue
        if isinstance(item, (list, tuple)) and (levels is None or levels > 0):
            out.extend(flatten(item, None if levels is None else levels - 1, skip_nulls))
        else:
            out.append(item)
    return out


def zip_(*lists: Iterable[object]) -> list[tuple[object, ...]]:
    return list(zip(*lists, strict=False))


def dict2items(value: Mapping[object, object], key_name: str = "key", value_name: str = "value") -> list[dict]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"dict2items expects a mapping, got {type(value).__name__}")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def items2dict(value: Iterable[Mapping[str, object]], key_name: str = "key",
               value_name: str = "value") -> dict:
    out = {}
    for item in value:
        if not isinstance(item, Mapping) or key_name not in item or value_name not in item:
            raise TemplateError(f"items2dict expects a list of mappings with '{key_name}' and '{value_name}'")
        out[item[key_name]] = item[value_name]
    return out


_LIST_MERGE = ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp")


def _merge_lists(old: list, new: list, how: str) -> list:
    if how == "keep":
        return old
    if how == "append":
        return old + new
    if how == "prepend":
        return new + old
    if how == "append_rp":
        return [x for x in old if x not in new] + new
    if how == "prepend_rp":
        return new + [x for x in old if x not in new]
    return new


def _merge(a: Mapping, b: Mapping, recursive: bool, list_merge: str) -> dict:
    out = dict(a)
    for key, value in b.items():
        old = out.get(key)
        if recursive and isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value, recursive, list_merge)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = _merge_lists(old, value, list_merge)
        else:
            out[key] = value
    return out


def combine(*terms: object, recursive: bool = False, list_merge: str = "replace") -> dict:
    if list_merge not in _LIST_MERGE:
        raise TemplateError(f"combine: list_merge must be one of {', '.join(_LIST_MERGE)}, got {list_merge!r}")
    dicts = flatten(terms, levels=1, skip_nulls=False)
    out: dict = {}
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TemplateError(f"combine expects mappings, got {type(d).__name__}")
        out = _merge(out, d, recursive, list_merge)
    return out


def to_json(value: object, **kw: object) -> str:
    return json.dumps(value, **kw)  # type: ignore[arg-type]


def to_nice_json(value: object, indent: int = 4, sort_keys: bool = True, **kw: object) -> str:
    return json.dumps(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kw)  # type: ignore


def _yaml_dump(value: object, **kw: object) -> str:
    try:
        return yaml.dump(value, Dumper=yaml.SafeDumper, allow_unicode=True, **kw)  # type: ignore[call-overload]
    except yaml.YAMLError as exc:
        raise TemplateError(f"to_yaml: {exc}") from None


def to_yaml(value: object, default_flow_style: bool | None = None, **kw: object) -> str:
    return _yaml_dump(value, default_flow_style=default_flow_style, **kw)


def to_nice_yaml(value: object, indent: int = 4, **kw: object) -> str:
    return _yaml_dump(value, indent=indent, default_flow_style=False, **kw)


def from_json(value: str) -> object:
    try:
        return json.loads(value)
    except (ValueError, TypeError) as exc:
        raise TemplateError(f"from_json: not JSON: {exc}") from None


def from_yaml(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise TemplateError(f"from_yaml: not YAML: {' '.join(str(exc).split())}") from None


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise TemplateError(f"bad regular expression {pattern!r}: {exc}") from None


def regex_replace(value: object = "", pattern: str = "", replacement: str = "", ignorecase: bool = False,
                  multiline: bool = False, count: int = 0, mandatory_count: int = 0) -> str:
    text = str(value)
    out, n = _compile(pattern, _flags(ignorecase, multiline)).subn(replacement, text, count=count)
    if mandatory_count and n != mandatory_count:
        raise TemplateError(f"regex_replace: {n} matches of {pattern!r}, {mandatory_count} required")
    return out


def regex_search(value: object, regex: str, *groups: str, ignorecase: bool = False,
                 multiline: bool = False) -> object:
    match = _compile(regex, _flags(ignorecase, multiline)).search(str(value))
    if match is None:
        return None
    if not groups:
        return match.group()
    out = []
    for g in groups:
        if g.startswith("\\g<") and g.endswith(">"):
            out.append(match.group(g[3:-1]))
        elif g.startswith("\\") and g[1:].isdigit():
            out.append(match.group(int(g[1:])))
        else:
            raise TemplateError(f"regex_search: unknown group {g!r} (write '\\\\1' or '\\\\g<name>')")
    return out


def regex_findall(value: object, regex: str, multiline: bool = False, ignorecase: bool = False) -> list:
    return _compile(regex, _flags(ignorecase, multiline)).findall(str(value))


def regex_escape(value: str, re_type: str = "python") -> str:
    if re_type == "python":
        return re.escape(value)
    if re_type == "posix_basic":
        return re.sub(r"([].[^$*\\])", r"\\\1", value)
    raise TemplateError(f"regex_escape: re_type must be python or posix_basic, got {re_type!r}")


def quote(value: object) -> str:
    """``shlex.quote``; a list is each item quoted and joined with spaces (a command's arguments)."""
    if isinstance(value, (list, tuple)):
        return " ".join(shlex.quote(str(v)) for v in value)
    return shlex.quote("" if value is None else str(value))


def b64encode(value: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(str(value).encode(encoding)).decode("ascii")


def b64decode(value: str, encoding: str = "utf-8") -> str:
    try:
        return base64.b64decode(str(value)).decode(encoding)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TemplateError(f"b64decode: {exc}") from None


_HASHES = ("sha256", "sha1", "md5", "sha512", "sha384", "sha224")


def hash_(value: object, hashtype: str = "sha1") -> str:
    if hashtype not in _HASHES:
        raise TemplateError(f"hash: unknown hash type {hashtype!r} (known: {', '.join(_HASHES)})")
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return hashlib.new(hashtype, data).hexdigest()


def ternary(value: object, true_val: object, false_val: object, none_val: object = None) -> object:
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def type_debug(value: object) -> str:
    return type(value).__name__


def splitext(value: str) -> tuple[str, str]:
    return posixpath.splitext(value)


ANSIBLE_FILTERS: Mapping[str, Callable[..., object]] = {
    "bool": to_bool, "mandatory": mandatory, "split": split, "union": union, "intersect": intersect,
    "difference": difference, "symmetric_difference": symmetric_difference, "flatten": flatten, "zip": zip_,
    "dict2items": dict2items, "items2dict": items2dict, "combine": combine, "to_json": to_json,
    "to_nice_json": to_nice_json, "from_json": from_json, "to_yaml": to_yaml, "to_nice_yaml": to_nice_yaml,
    "from_yaml": from_yaml, "regex_replace": regex_replace, "regex_search": regex_search,
    "regex_findall": regex_findall, "regex_escape": regex_escape, "quote": quote, "basename": posixpath.basename,
    "dirname": posixpath.dirname, "splitext": splitext, "b64encode": b64encode, "b64decode": b64decode,
    "hash": hash_, "ternary": ternary, "type_debug": type_debug,
}
# Jinja2 builtins Ansible documents under ansible.builtin too (the short names are Jinja2's own).
JINJA_BUILTINS_WITH_FQCN: Sequence[str] = (
    "default", "d", "int", "float", "string", "lower", "upper", "capitalize", "trim", "replace", "join", "length",
    "count", "first", "last", "min", "max", "sort", "unique", "map", "select", "reject", "selectattr",
    "rejectattr", "list", "abs", "round", "sum", "dictsort", "groupby", "reverse", "batch", "slice", "items",
)
