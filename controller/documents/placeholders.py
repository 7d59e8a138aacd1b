"""``{{ name }}`` references to a document's parameters (controller/documents/parameters.py) in its step
inputs and preconditions: checked before any value is known, then substituted.

``{{ name }}`` is a verbatim text substitution, as in SSM, unless the parameter is declared with
``interpolationType: ENV_VAR``: then the step gets a reference to the environment variable
``OUTPOST_<NAME>`` (``"${OUTPOST_NAME}"``, one quoted word, for a shell: controller/documents/envref.py)
and the value travels in the document's environment, so it is never parsed as code. Secret parameters must use ENV_VAR.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from controller.documents.envref import EnvReference
from controller.documents.parameters import (
    ENV_VAR,
    LISTS,
    NAME,
    STRUCTURED,
    TEXT,
    ParameterSpec,
    ParamType,
    as_json,
    value_text,
)
from controller.documents.ssmref import CHECKING, NO_STORE, References
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.schema import JsonValue

# ``{{ ... }}``. Only a parameter name (or an ``ssm:`` reference to the parameter store: ssmref.py) is ours;
# anything else (``{{.State.Status}}`` in a docker format string) is left as it is.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
WHOLE = re.compile(r"^\{\{\s*([A-Za-z0-9_]+)\s*\}\}$")
SSM_REF = re.compile(r"^(ssm|ssm-secure|resolve)\s*:")


def _spec_for(name: str, specs: Mapping[str, ParameterSpec], where: str) -> ParameterSpec:
    try:
        spec = specs[name]
    except KeyError:
        raise InputError(where, f"references undeclared parameter {name!r}") from None
    if spec.secret and spec.interpolation != ENV_VAR:
        raise InputError(where, f"secret parameter {name!r} can only be passed with interpolationType: ENV_VAR")
    return spec


def interpolate(text: str, values: Mapping[str, Any], specs: Sequence[ParameterSpec],
                env_reference: EnvReference | None, *, where: str = "", references: References = NO_STORE) -> str:
    """Replace each ``{{ name }}`` in ``text``: verbatim for TEXT parameters, ``env_reference``
    of the environment variable for ENV_VAR ones; each ``{{ssm:NAME}}`` by its value in
    ``references`` (ssmref.py). Substituted values are not scanned again.

    ``env_reference=None`` substitutes ENV_VAR values too (for precondition operands, which
    are compared, never run); a secret parameter is then refused.
    """
    by_name = {s.name: s for s in specs}

    def substitute(match: re.Match[str]) -> str:
        inner = match.group(1)
        if SSM_REF.match(inner):
            return references.fill(match.group(0), where)
        if not NAME.match(inner):
            return match.group(0)
        spec = _spec_for(inner, by_name, where)
        if spec.interpolation == ENV_VAR:
            if env_reference is not None:
                return env_reference(spec.env_name, text[:match.start()])
            if spec.secret:
                raise InputError(where, f"secret parameter {inner!r} cannot be used here")
        elif spec.type in STRUCTURED:
            raise InputError(where, f"parameter {inner!r} is a {spec.type.value}: it can only be a whole "
                                    f"value (\"{{{{ {inner} }}}}\"), not part of a string")
        return value_text(spec, values[inner])

    return PLACEHOLDER.sub(substitute, text)


def _whole(text: Any, by_name: Mapping[str, ParameterSpec], where: str) -> ParameterSpec | None:
    """The TEXT parameter that ``text`` is exactly a reference to, if any."""
    match = WHOLE.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    spec = _spec_for(match.group(1), by_name, where)
    return spec if spec.interpolation == TEXT else None


def apply_to_inputs(inputs: JsonValue, values: Mapping[str, Any], specs: Sequence[ParameterSpec],
                    env_reference: EnvReference, *, where: str = "inputs",
                    references: References = NO_STORE) -> JsonValue:
    """Substitute parameters throughout step inputs (SSM's rules), returning a new value.

    A list element that is exactly ``{{ name }}`` of a StringList or MapList expands into its
    items (``runCommand: ["{{ commands }}"]``); a string that is exactly ``{{ name }}`` of a
    non-String parameter becomes its typed value; other strings are interpolated.
    """
    by_name = {s.name: s for s in specs}

    def walk(value: JsonValue, at: str) -> JsonValue:
        if isinstance(value, str):
            spec = _whole(value, by_name, at)
            if spec is not None and spec.type is not ParamType.STRING:
                return as_json(copy.deepcopy(values[spec.name]))
            return interpolate(value, values, specs, env_reference, where=at, references=references)
        if isinstance(value, list):
            out: list[JsonValue] = []
            for i, item in enumerate(value):
                spec = _whole(item, by_name, f"{at}[{i}]")
                if spec is not None and spec.type in LISTS:
                    out.extend(as_json(copy.deepcopy(values[spec.name])))
                else:
                    out.append(walk(item, f"{at}[{i}]"))
            return out
        if isinstance(value, Mapping):
            return {k: walk(v, f"{at}.{k}") for k, v in value.items()}
        return value

    return walk(inputs, where)


_PLACEHOLDER_VALUES = {ParamType.STRING: "x", ParamType.STRING_LIST: ("x",), ParamType.INTEGER: 0,
                       ParamType.BOOLEAN: False, ParamType.STRING_MAP: {}, ParamType.MAP_LIST: ()}


def check_references(template: JsonValue, specs: Sequence[ParameterSpec], where: str, *,
                     in_precondition: bool = False) -> None:
    """Check a template before any value is known: every ``{{ name }}`` declared, ``{{ssm:...}}``
    references where they may be (left for the send to fill), no secret by text, no list or map
    inside a string. Raises DocumentError."""
    stand_ins = {s.name: _PLACEHOLDER_VALUES[s.type] for s in specs}
    try:
        if in_precondition:
            interpolate(str(template), stand_ins, specs, None, where=where, references=CHECKING)
        else:
            apply_to_inputs(template, stand_ins, specs, lambda name, _before: name, where=where, references=CHECKING)
    except InputError as exc:
        raise DocumentError(str(exc)) from None


def environment_for(values: Mapping[str, Any],
                    specs: Sequence[ParameterSpec]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The environment variables of ENV_VAR parameters and the names of the secret ones."""
    env = {s.env_name: value_text(s, values[s.name]) for s in specs if s.interpolation == ENV_VAR}
    secret = tuple(s.env_name for s in specs if s.interpolation == ENV_VAR and s.secret)
    return env, secret
