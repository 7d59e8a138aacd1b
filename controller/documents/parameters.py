"""SSM document parameters: declarations (``parameters:`` of a schema 2.2 document) and the values
given at run time (SSM's ``map<string, list<string>>``), typed and checked. Their substitution into
step inputs is controller/documents/placeholders.py.
"""
from __future__ import annotations

import copy
import dataclasses
import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.documents.ssmref import CHECKING, NO_STORE, SSM_REFERENCE, References, has_reference
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.limits import BOUNDED_JSON, NumberTooLong, check_json_tree, check_text, nesting_problem
from plugins.sdk.schema import JsonValue, kind_of
from plugins.sdk.secrets import too_short

NAME = re.compile(r"^[A-Za-z0-9_]+$")
ENV_PREFIX = "OUTPOST_"
# Set by the agent's runner for every step; a parameter must not shadow them.
RESERVED_ENV = frozenset({"OUTPOST_COMMAND_ID", "OUTPOST_NODE_ID", "OUTPOST_STEP_NAME"})
TEXT, ENV_VAR = "TEXT", "ENV_VAR"
INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class ParamType(enum.Enum):
    STRING = "String"
    STRING_LIST = "StringList"
    INTEGER = "Integer"
    BOOLEAN = "Boolean"
    STRING_MAP = "StringMap"
    MAP_LIST = "MapList"


LISTS = (ParamType.STRING_LIST, ParamType.MAP_LIST)
STRUCTURED = (ParamType.STRING_LIST, ParamType.MAP_LIST, ParamType.STRING_MAP)


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: ParamType
    description: str = ""
    default: Any = MISSING  # a typed value (str, tuple[str, ...], int, bool, dict, tuple[dict, ...])
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    secret: bool = False
    interpolation: str = TEXT  # "TEXT" | "ENV_VAR"
    display_type: str | None = None  # accepted, not used

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.upper()


KEYS = ("type", "description", "default", "allowedValues", "allowedPattern", "displayType", "minItems",
        "maxItems", "minChars", "maxChars", "interpolationType", "secret")
# Which declaration fields apply to which types.
_APPLIES = {
    "allowedValues": (ParamType.STRING, ParamType.STRING_LIST, ParamType.INTEGER),
    "allowedPattern": (ParamType.STRING, ParamType.STRING_LIST),
    "minChars": (ParamType.STRING, ParamType.STRING_LIST),
    "maxChars": (ParamType.STRING, ParamType.STRING_LIST),
    "minItems": LISTS,
    "maxItems": LISTS,
}


def _shown(spec: ParameterSpec, value: Any) -> str:
    return "a value that is not shown (secret parameter)" if spec.secret else repr(value)


def _count(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    value = raw.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise DocumentError(f"{where}.{key}: expected a non-negative integer")
    return value


def _parse_one(name: Any, decl: Any, where: str) -> ParameterSpec:
    if not isinstance(name, str) or not NAME.match(name):
        raise DocumentError(f"{where}: invalid parameter name {name!r} (letters, digits and _ only)")
    where = f"{where}.{name}"
    if not isinstance(decl, Mapping):
        raise DocumentError(f"{where}: expected a mapping, got {kind_of(decl)}")
    unknown = sorted(set(decl) - set(KEYS), key=str)
    if unknown:
        raise DocumentError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(KEYS)})")
    if "type" not in decl:
        raise DocumentError(f"{where}: missing 'type'")
    try:
        ptype = ParamType(decl["type"])
    except (ValueError, TypeError):
        raise DocumentError(f"{where}.type: expected one of {', '.join(t.value for t in ParamType)}") from None
    for key, types_ in _APPLIES.items():
        if key in decl and ptype not in types_:
            raise DocumentError(f"{where}.{key}: not supported for {ptype.value} parameters")
    for key in ("description", "displayType", "allowedPattern"):
        if key in decl and not isinstance(decl[key], str):
            raise DocumentError(f"{where}.{key}: expected a string, got {kind_of(decl[key])}")
    allowed = decl.get("allowedValues", [])
    if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
        raise DocumentError(f"{where}.allowedValues: expected a list of strings")
    pattern = decl.get("allowedPattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DocumentError(f"{where}.allowedPattern: not a valid regular expression: {exc}") from None
    interpolation = decl.get("interpolationType", TEXT)
    if interpolation not in (TEXT, ENV_VAR):
        raise DocumentError(f"{where}.interpolationType: expected ENV_VAR or TEXT")
    secret = decl.get("secret", False)
    if not isinstance(secret, bool):
        raise DocumentError(f"{where}.secret: expected a boolean")
    counts = {k: _count(decl, k, where) for k in ("minItems", "maxItems", "minChars", "maxChars")}
    for low, high in (("minItems", "maxItems"), ("minChars", "maxChars")):
        if counts[low] is not None and counts[high] is not None and counts[low] > counts[high]:
            raise DocumentError(f"{where}.{low}: is greater than {high}")
    spec = ParameterSpec(name, ptype, decl.get("description", ""), MISSING, tuple(allowed), pattern,
                         counts["minItems"], counts["maxItems"], counts["minChars"], counts["maxChars"],
                         secret, interpolation, decl.get("displayType"))
    refers = "default" in decl and has_reference(decl["default"])  # filled at send (ssmref.py)
    only_a_reference = isinstance(decl.get("default"), str) and SSM_REFERENCE.fullmatch(decl["default"].strip())
    if "default" in decl and secret and not only_a_reference:
        raise DocumentError(f"{where}.default: a secret parameter cannot have a default (it would be stored "
                            "in the document), other than a reference: \"{{ssm-secure:NAME}}\"")
    if refers and ptype not in (ParamType.STRING, ParamType.STRING_LIST):
        raise DocumentError(f"{where}.default: only a String or StringList parameter's default can refer to the "
                            "parameter store")
    if "default" in decl:
        try:
            default = _from_json(spec, decl["default"], f"{where}.default")
            if refers:
                CHECKING.fill_all(default, f"{where}.default", secure_ok=secret)
            else:  # a default filled from the store is checked at send
                _check(spec, default, f"{where}.default")
        except InputError as exc:
            raise DocumentError(str(exc)) from None
        spec = dataclasses.replace(spec, default=default)
    return spec


def parse_parameter_specs(raw: Mapping[str, Any], where: str) -> tuple[ParameterSpec, ...]:
    """Validate a document's ``parameters`` declarations; DocumentError names the path."""
    if not isinstance(raw, Mapping):
        raise DocumentError(f"{where}: expected a mapping of parameter names to declarations")
    specs = tuple(_parse_one(name, decl, where) for name, decl in raw.items())
    env_names: dict[str, str] = {}
    for spec in specs:
        if spec.interpolation == ENV_VAR:
            if spec.env_name in RESERVED_ENV:
                raise DocumentError(f"{where}.{spec.name}: the environment variable {spec.env_name} is reserved "
                                    "for the agent")
            if spec.env_name in env_names:
                raise DocumentError(f"{where}.{spec.name}: parameters {env_names[spec.env_name]!r} and "
                                    f"{spec.name!r} would both be the environment variable {spec.env_name}")
            env_names[spec.env_name] = spec.name
    return specs


def _from_json(spec: ParameterSpec, value: Any, where: str) -> Any:
    """A declared default (a YAML/JSON value) as the parameter's typed value."""
    t = spec.type
    if t is ParamType.STRING and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # ``default: 3600`` for a String
    if t is ParamType.INTEGER and isinstance(value, str) and INTEGER.match(value):
        value = int(value)
    if t is ParamType.BOOLEAN and isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    ok = {ParamType.STRING: isinstance(value, str),
          ParamType.STRING_LIST: isinstance(value, list) and all(isinstance(v, str) for v in value),
          ParamType.INTEGER: isinstance(value, int) and not isinstance(value, bool),
          ParamType.BOOLEAN: isinstance(value, bool),
          ParamType.STRING_MAP: isinstance(value, dict),
          ParamType.MAP_LIST: isinstance(value, list) and all(isinstance(v, dict) for v in value)}[t]
    if not ok:
        raise InputError(where, f"expected a value of type {t.value}, got {kind_of(value)}")
    return tuple(value) if t in LISTS else value


def _from_strings(spec: ParameterSpec, given: Any, where: str, references: References = NO_STORE) -> Any:
    """A value given as SSM gives it (a list of strings) as the parameter's typed value, each
    ``{{ssm:NAME}}`` in it filled from the parameter store (``{{ssm-secure:NAME}}`` in a secret one's)."""
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, (list, tuple)) or not all(isinstance(v, str) for v in given):
        raise InputError(where, "expected a list of strings")
    filled = []
    for i, text in enumerate(given):
        at = where if len(given) == 1 else f"{where}[{i}]"
        check_text(text, at)
        filled.append(references.fill(text, at, secure_ok=spec.secret))
    given = filled
    t = spec.type
    if t is ParamType.STRING_LIST:
        return tuple(given)
    if t is ParamType.MAP_LIST and len(given) != 1:
        items = [_json(spec, v, where, dict, "a JSON object") for v in given]
        return tuple(items)
    if len(given) != 1:
        raise InputError(where, f"expected one value, got {len(given) or 'none'}")
    (text,) = given
    if t is ParamType.STRING:
        return text
    if t is ParamType.INTEGER:
        if not INTEGER.match(text):
            raise InputError(where, f"expected an integer, got {_shown(spec, text)}")
        return int(text)
    if t is ParamType.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise InputError(where, f"expected true or false, got {_shown(spec, text)}")
        return text.lower() == "true"
    if t is ParamType.STRING_MAP:
        return _json(spec, text, where, dict, "a JSON object")
    items = _json(spec, text, where, list, "a JSON list of objects")
    if not all(isinstance(v, dict) for v in items):
        raise InputError(where, f"expected a JSON list of objects, got {_shown(spec, text)}")
    return tuple(items)


def _json(spec: ParameterSpec, text: str, where: str, typ: type, expected: str) -> Any:
    try:
        value = BOUNDED_JSON.decode(text)
    except NumberTooLong as exc:
        raise InputError(where, str(exc)) from None
    except json.JSONDecodeError:
        value = None
    except RecursionError:  # deeper than the parser goes, so past the limit too
        raise InputError(where, nesting_problem()) from None
    if not isinstance(value, typ):
        raise InputError(where, f"expected {expected}, got {_shown(spec, text)}")
    check_json_tree(value, text, where)
    return value


def _check_text(spec: ParameterSpec, value: str, where: str) -> None:
    if spec.secret and (reason := too_short(value)):
        raise InputError(where, reason)
    if spec.min_chars is not None and len(value) < spec.min_chars:
        got = "" if spec.secret else f", got {len(value)}"
        raise InputError(where, f"must be at least {spec.min_chars} characters long{got}")
    if spec.max_chars is not None and len(value) > spec.max_chars:
        got = "" if spec.secret else f", got {len(value)}"
        raise InputError(where, f"must be at most {spec.max_chars} characters long{got}")
    # SSM checks allowedPattern with Java regex (API) and Go regexp (agent); this is Python's
    # ``re``, whose syntax agrees on the usual classes, anchors and quantifiers but not on all.
    if spec.allowed_pattern is not None and not re.fullmatch(spec.allowed_pattern, value):
        raise InputError(where, f"must match allowedPattern {spec.allowed_pattern!r}, got {_shown(spec, value)}")
    if spec.allowed_values and value not in spec.allowed_values:
        raise InputError(where, f"must be one of {', '.join(spec.allowed_values)}, got {_shown(spec, value)}")


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _check(spec: ParameterSpec, value: Any, where: str) -> None:
    """allowedValues, allowedPattern, min/maxChars and min/maxItems."""
    if spec.type in LISTS:
        if spec.min_items is not None and len(value) < spec.min_items:
            raise InputError(where, f"must have at least {_items(spec.min_items)}, got {len(value)}")
        if spec.max_items is not None and len(value) > spec.max_items:
            raise InputError(where, f"must have at most {_items(spec.max_items)}, got {len(value)}")
    if spec.type is ParamType.STRING:
        _check_text(spec, value, where)
    elif spec.type is ParamType.STRING_LIST:
        for i, item in enumerate(value):
            _check_text(spec, item, f"{where}[{i}]")
    elif spec.type is ParamType.INTEGER and spec.allowed_values and str(value) not in spec.allowed_values:
        raise InputError(where, f"must be one of {', '.join(spec.allowed_values)}, got {_shown(spec, value)}")


def resolve_values(specs: Sequence[ParameterSpec], given: Mapping[str, Sequence[str]],
                   where: str = "parameters", references: References = NO_STORE) -> dict[str, Any]:
    """Typed values of every declared parameter from the given ones and the defaults, their
    ``{{ssm:NAME}}`` references filled from ``references`` (ssmref.py).

    Raises InputError naming ``where.<name>`` (SSM's InvalidParameters) for an undeclared or
    missing parameter, or a value that does not fit; a secret value is never echoed.
    """
    if not isinstance(given, Mapping):
        raise InputError(where, "expected a mapping of parameter names to lists of values")
    by_name = {s.name: s for s in specs}
    for name in sorted(given, key=str):
        if name not in by_name:
            declared = ", ".join(by_name) or "none"
            raise InputError(f"{where}.{name}", f"the document declares no such parameter (declared: {declared})")
    values: dict[str, Any] = {}
    for spec in specs:
        at = f"{where}.{spec.name}"
        if spec.name in given:
            value = _from_strings(spec, given[spec.name], at, references)
            _check(spec, value, at)
        elif not spec.required and has_reference(spec.default):
            value = references.fill_all(copy.deepcopy(spec.default), f"{at}.default", secure_ok=spec.secret)
            _check(spec, value, f"{at}.default")
        elif not spec.required:
            value = copy.deepcopy(spec.default)
        else:
            raise InputError(at, "missing required parameter")
        values[spec.name] = value
    return values


def stand_in_values(specs: Sequence[ParameterSpec]) -> dict[str, Any]:
    """A value for every parameter before any is given, to check a document as a send would
    (``document create``): the default where there is one (what a send that omits the parameter
    runs), else a stand-in of the parameter's type that its declaration allows where it is plain to
    make: its first allowed value, or for a String "1" (so that it also fills an integer input, as
    SSM's documents pass numbers, executionTimeout for one), as long as minChars says, in as many
    items as minItems says. A stand-in is not checked against allowedPattern: the values given at
    send are, and what a step makes of them is checked then again."""
    values: dict[str, Any] = {}
    for spec in specs:
        if not spec.required:
            values[spec.name] = copy.deepcopy(spec.default)
            continue
        text = spec.allowed_values[0] if spec.allowed_values else "1" * max(spec.min_chars or 0,
                                                                            int(spec.max_chars != 0))
        items = max(spec.min_items or 0, int(spec.max_items != 0))
        values[spec.name] = {ParamType.STRING: text, ParamType.STRING_LIST: (text,) * items,
                             ParamType.INTEGER: int(text) if INTEGER.match(text) else 1,
                             ParamType.BOOLEAN: False, ParamType.STRING_MAP: {},
                             ParamType.MAP_LIST: ({},) * items}[spec.type]
    return values


def as_json(value: Any) -> JsonValue:
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: as_json(v) for k, v in value.items()}
    return value


def value_text(spec: ParameterSpec, value: Any) -> str:
    """A value as text: itself, an integer's digits, true/false, JSON for lists and maps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if spec.type in STRUCTURED:
        return json.dumps(as_json(value), separators=(",", ":"), ensure_ascii=False)
    return str(value)
