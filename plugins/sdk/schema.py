"""Typed plugin inputs: one schema drives controller-side validation, agent-side validation,
docs and ``outpost plugin show`` (Ansible's argument_spec, declared once as a frozen dataclass).

A plugin declares its inputs as a frozen dataclass whose fields are made with :func:`param`.
Supported field types: ``str``, ``int``, ``bool``, ``float``, ``tuple[str, ...]``,
``Mapping[str, str]``, ``Secret`` and ``X | None`` of those.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugins.sdk.errors import InputError
from plugins.sdk.limits import check_text
from plugins.sdk.secrets import Secret, too_short

JsonValue = typing.Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]  # noqa: UP007 - recursive alias needs Union

_META = "outpost"
_INTEGER_TEXT = re.compile(r"\s*-?[0-9]+\s*")


@dataclass(frozen=True)
class ParamMeta:
    doc: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    free_form: bool = False  # the field a bare string value fills, as in ``shell: echo hi``
    minimum: int | None = None
    maximum: int | None = None
    json_text: bool = False  # a mapping may also be given as a string holding a JSON object (SSM's StringMap)


def param(doc: str, *, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING,
          secret: bool = False, choices: tuple[str, ...] = (), free_form: bool = False,
          minimum: int | None = None, maximum: int | None = None, json_text: bool = False) -> Any:
    """One input field. A mapping default (``default={}``) is given to each value as a read-only
    copy, so a frozen dataclass can have it and no two steps share it mutably. ``json_text``: a
    mapping field also takes a string holding a JSON object, as SSM documents write a StringMap
    (``sourceInfo: "{\"name\": \"doc\"}"``)."""
    if isinstance(default, Mapping):
        frozen = types.MappingProxyType(dict(default))
        default, default_factory = dataclasses.MISSING, lambda: frozen
    meta = {_META: ParamMeta(doc, secret, choices, free_form, minimum, maximum, json_text)}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """One input field, as docs and ``plugin show`` present it."""
    name: str
    type_name: str
    required: bool
    default: JsonValue
    meta: ParamMeta


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_name(args[0]) + " (optional)"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (Mapping, dict):
        return "mapping of string to string"
    return {str: "string", int: "integer", bool: "boolean", float: "number", Secret: "secret string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


@functools.cache
def _hints(inputs_cls: type) -> dict[str, Any]:
    """An inputs class's resolved field types: resolving them is costly and they never change."""
    return typing.get_type_hints(inputs_cls)


def describe(inputs_cls: type) -> tuple[FieldSpec, ...]:
    hints = _hints(inputs_cls)
    out = []
    for f in dataclasses.fields(inputs_cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default: JsonValue = None
        if f.default is not dataclasses.MISSING:
            default = _to_json(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _to_json(f.default_factory())
        out.append(FieldSpec(f.name, _type_name(hints[f.name]), required, default, _meta(f)))
    return tuple(out)


def _meta(f: dataclasses.Field) -> ParamMeta:
    return f.metadata.get(_META) or ParamMeta(doc="")


def kind_of(value: Any) -> str:
    """How a value is named in error messages: ``a mapping``, ``a list``, ``a string``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _coerce(tp: Any, value: Any, where: str, meta: ParamMeta) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, meta)
    if tp is str or tp is Secret:
        if not isinstance(value, str):
            raise InputError(where, f"expected a string, got {kind_of(value)}")
        check_text(value, where)  # a step's inputs end up as a process's arguments, environment or paths
        if meta.choices and value not in meta.choices:
            got = "another value" if tp is Secret or meta.secret else repr(value)  # never echo a secret
            raise InputError(where, f"expected one of {', '.join(meta.choices)}, got {got}")
        if (tp is Secret or meta.secret) and (reason := too_short(value)):
            raise InputError(where, reason)
        return Secret(value) if tp is Secret else value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(where, f"expected a boolean, got {kind_of(value)}")
        return value
    if tp is int:
        if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):  # SSM passes numbers as strings
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(where, f"expected an integer, got {kind_of(value)}")
        if meta.minimum is not None and value < meta.minimum:
            raise InputError(where, f"must be at least {meta.minimum}, got {value}")
        if meta.maximum is not None and value > meta.maximum:
            raise InputError(where, f"must be at most {meta.maximum}, got {value}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(where, f"expected a number, got {kind_of(value)}")
        return float(value)
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if isinstance(value, str):  # a single string where a list is expected, as SSM allows
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise InputError(where, f"expected a list of {_type_name(item_tp)}s, got {kind_of(value)}")
        return tuple(_coerce(item_tp, v, f"{where}[{i}]", ParamMeta(doc="")) for i, v in enumerate(value))
    if origin in (dict, Mapping):
        if isinstance(value, str) and meta.json_text:
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise InputError(where, "expected a mapping, or a string holding a JSON object; the string is "
                                        "not JSON") from None
        if not isinstance(value, Mapping):
            raise InputError(where, f"expected a mapping, got {kind_of(value)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(where, f"keys must be strings, got {kind_of(k)}")
            check_text(k, f"{where}.{k!r}")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = str(v)
            out[k] = _coerce(str, v, f"{where}.{k}", ParamMeta(doc=""))
        return types.MappingProxyType(out)
    raise TypeError(f"unsupported input type {tp!r} at {where}")


def parse_inputs(inputs_cls: type, raw: Any, where: str) -> Any:
    """Validate ``raw`` (JSON-like) against ``inputs_cls`` and return a typed, frozen instance.

    Raises :class:`InputError` naming ``where`` and the field for anything that does not fit.
    """
    fields = {f.name: f for f in dataclasses.fields(inputs_cls)}
    if isinstance(raw, str):
        free = [f for f in fields.values() if _meta(f).free_form]
        if not free:
            raise InputError(where, "expected a mapping, got a string")
        raw = {free[0].name: raw}
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InputError(where, f"expected a mapping, got {kind_of(raw)}")
    unknown = sorted((set(raw) - set(fields)), key=str)
    if unknown:
        raise InputError(f"{where}.{unknown[0]}",
                         f"unsupported parameter (supported: {', '.join(sorted(fields))})")
    hints = _hints(inputs_cls)
    values = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(f"{where}.{name}", "missing required parameter")
            continue
        values[name] = _coerce(hints[name], raw[name], f"{where}.{name}", _meta(f))
    return inputs_cls(**values)


def _to_json(value: Any) -> JsonValue:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def inputs_to_json(instance: Any) -> dict[str, JsonValue]:
    """The canonical JSON form of validated inputs (what goes into a signed document)."""
    return {f.name: _to_json(getattr(instance, f.name)) for f in dataclasses.fields(instance)}


def secret_values(instance: Any) -> tuple[str, ...]:
    """Every secret string held by ``instance``, for the central scrubber."""
    return tuple(getattr(instance, f.name).reveal() for f in dataclasses.fields(instance)
                 if isinstance(getattr(instance, f.name), Secret))


@dataclass(frozen=True)
class Alias:
    """Another name for an action with its own input schema, converted to the plugin's inputs
    (``aws:runShellScript`` with ``runCommand`` for ``shell``)."""
    name: str
    inputs: type
    convert: Callable[[Any], Any]
