"""Ansible's Jinja2 tests (``x is version('2.0', '>=')``, ``result is failed``), by Ansible's names
and semantics, for :mod:`controller.compiler.template`; each also under ``ansible.builtin.X``.
Jinja2's own tests (``defined``, ``none``, ``string``, ``number``, ``mapping``, ``sequence``,
``iterable``, ``boolean``, ``in`` ...) stay as Jinja2 has them.

Tests that read the controller's disk are refused by name (:data:`REFUSED_TESTS`).
"""
from __future__ import annotations

import operator
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping

from controller.compiler.errors import TemplateError
from controller.compiler.jinja_filters import to_bool

_CONTROLLER_DISK = ("it would test the controller's files, not the node's (Ansible evaluates tests on the "
                    "controller); check on the node with a task (stat, or shell: test -e)")
REFUSED_TESTS: Mapping[str, str] = {
    "exists": _CONTROLLER_DISK, "file": _CONTROLLER_DISK, "directory": _CONTROLLER_DISK, "link": _CONTROLLER_DISK,
    "mount": _CONTROLLER_DISK, "same_file": _CONTROLLER_DISK, "is_file": _CONTROLLER_DISK,
    "is_dir": _CONTROLLER_DISK, "is_link": _CONTROLLER_DISK, "is_mount": _CONTROLLER_DISK,
    "vault_encrypted": "Outpost keeps secrets in its parameter store, not in Ansible Vault",
}


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def _regex(value: object, pattern: str, ignorecase: bool, multiline: bool, how: str) -> bool:
    try:
        compiled = re.compile(pattern, _flags(ignorecase, multiline))
    except re.error as exc:
        raise TemplateError(f"bad regular expression {pattern!r}: {exc}") from None
    return getattr(compiled, how)(str(value)) is not None


def match(value: object, pattern: str = "", ignorecase: bool = False, multiline: bool = False) -> bool:
    return _regex(value, pattern, ignorecase, multiline, "match")


def search(value: object, pattern: str = "", ignorecase: bool = False, multiline: bool = False) -> bool:
    return _regex(value, pattern, ignorecase, multiline, "search")


def regex(value: object, pattern: str = "", ignorecase: bool = False, multiline: bool = False,
          match_type: str = "search") -> bool:
    if match_type not in ("search", "match", "fullmatch"):
        raise TemplateError(f"regex: match_type must be search, match or fullmatch, got {match_type!r}")
    return _regex(value, pattern, ignorecase, multiline, match_type)


def truthy(value: object, convert_bool: bool = False) -> bool:
    if convert_bool and isinstance(value, str):
        return bool(to_bool(value))
    return bool(value)


def falsy(value: object, convert_bool: bool = False) -> bool:
    return not truthy(value, convert_bool)


# -- version ---------------------------------------------------------------------------------------

_OPERATORS: Mapping[str, Callable[[object, object], bool]] = {
    "==": operator.eq, "=": operator.eq, "eq": operator.eq, "<": operator.lt, "lt": operator.lt,
    "<=": operator.le, "le": operator.le, ">": operator.gt, "gt": operator.gt, ">=": operator.ge,
    "ge": operator.ge, "!=": operator.ne, "<>": operator.ne, "ne": operator.ne,
}
_LOOSE = re.compile(r"(\d+|[a-z]+|\.)", re.I)
_STRICT = re.compile(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
VERSION_TYPES = ("loose", "strict", "semver", "semantic")


def _loose(text: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in _LOOSE.split(text) if p and p != "."]


def _strict(text: str) -> tuple[object, ...]:
    m = _STRICT.match(text)
    if m is None:
        raise TemplateError(f"version: {text!r} is not a strict version (N.N[.N][aN|bN])")
    release = (int(m.group(1)), int(m.group(2)), int(m.group(4) or 0))
    pre = (m.group(5)[0], int(m.group(6))) if m.group(5) else ("z", 0)  # a release sorts after its pre-releases
    return (*release, *pre)


def _semver(text: str) -> tuple[object, ...]:
    m = _SEMVER.match(text)
    if m is None:
        raise TemplateError(f"version: {text!r} is not a semantic version (N.N.N[-pre][+build])")
    pre = m.group(4)
    pre_key: tuple[object, ...] = (1,) if pre is None else (0, *((0, int(p)) if p.isdigit() else (1, p)
                                                               for p in pre.split(".")))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key)


def version(value: object, version: object = "", operator: str = "eq", strict: bool = False,
            version_type: str | None = None) -> bool:
    """Ansible's ``version`` test (alias ``version_compare``)."""
    if operator not in _OPERATORS:
        raise TemplateError(f"version: unknown operator {operator!r} (known: {', '.join(_OPERATORS)})")
    kind = version_type or ("strict" if strict else "loose")
    if kind not in VERSION_TYPES:
        raise TemplateError(f"version: unknown version_type {kind!r} (known: {', '.join(VERSION_TYPES)})")
    if str(version) == "":
        raise TemplateError("version: the version to compare with is empty")
    parse: Callable[[str], object] = {"loose": _loose, "strict": _strict}.get(kind, _semver)
    left, right = parse(str(value)), parse(str(version))
    try:
        return _OPERATORS[operator](left, right)
    except TypeError:
        raise TemplateError(f"version: cannot compare {value!r} with {version!r} as {kind} versions") from None


# -- sets and results --------------------------------------------------------------------------------

def subset(a: Iterable[object], b: Iterable[object]) -> bool:
    other = list(b)
    return all(x in other for x in a)


def superset(a: Iterable[object], b: Iterable[object]) -> bool:
    return subset(b, a)


def contains(seq: Iterable[object], value: object) -> bool:
    return value in seq  # type: ignore[operator]


def _result(value: object, test: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"the '{test}' test expects a registered result (a mapping), got "
                            f"{type(value).__name__}")
    return value


def failed(value: object) -> bool:
    return bool(_result(value, "failed").get("failed", False))


def succeeded(value: object) -> bool:
    return not bool(_result(value, "succeeded").get("failed", False))


def changed(value: object) -> bool:
    result = _result(value, "changed")
    if isinstance(result.get("results"), list):  # a looped task: changed if any item changed
        return any(isinstance(r, Mapping) and r.get("changed") for r in result["results"])
    return bool(result.get("changed", False))


def skipped(value: object) -> bool:
    return bool(_result(value, "skipped").get("skipped", False))


def is_abs(value: object) -> bool:
    return posixpath.isabs(str(value))


ANSIBLE_TESTS: Mapping[str, Callable[..., bool]] = {
    "match": match, "search": search, "regex": regex, "truthy": truthy, "falsy": falsy, "version": version,
    "version_compare": version, "subset": subset, "superset": superset, "contains": contains,
    "succeeded": succeeded, "success": succeeded, "failed": failed, "failure": failed, "changed": changed,
    "change": changed, "skipped": skipped, "skip": skipped, "abs": is_abs,
}
JINJA_BUILTINS_WITH_FQCN = ("defined", "undefined", "none", "string", "number", "mapping", "sequence",
                            "iterable", "boolean", "in", "integer", "float", "true", "false", "divisibleby",
                            "even", "odd", "eq", "ne", "lt", "le", "gt", "ge", "sameas", "lower", "upper")
