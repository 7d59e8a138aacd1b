"""SSM's references to Parameter Store, ``{{ssm:NAME}}`` and ``{{ssm-secure:NAME}}``, filled from
Outpost's parameter store (controller/store/parameters.py) when a command is sent: in a document's
step inputs and preconditions, in a parameter's default and in the values given at send. A
StringList's value is its comma-joined text, as in SSM; a reference to a name the store does not
hold refuses the send, naming where it is: a reference never reaches a node as text.

A SecureString's value is a secret: ``{{ssm-secure:NAME}}`` may only be (part of) the value of a
secret parameter (``secret: true``, which must be ``interpolationType: ENV_VAR``), given at send or
as its default, so that it travels in the document's secret environment, masked where the command
is shown and scrubbed from its output (docs/security.md). CloudFormation's ``{{resolve:...}}`` is refused.
At ``document create`` references are checked for where they are, and left for the send to fill.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plugins.sdk.errors import InputError

SSM_REFERENCE = re.compile(r"\{\{\s*(ssm|ssm-secure|resolve)\s*:\s*([^{}]*?)\s*\}\}")
SECURE = "SecureString"
SECURE_ONLY = ("can only be a secret parameter's value (secret: true, interpolationType: ENV_VAR), given at send "
               "or as its default: anywhere else a SecureString's value would be in the document as text")


def reference_names(value: Any) -> set[str]:
    """The parameter store names ``{{ssm:...}}`` and ``{{ssm-secure:...}}`` in ``value`` (strings,
    lists, mappings) refer to."""
    if isinstance(value, str):
        return {m.group(2) for m in SSM_REFERENCE.finditer(value) if m.group(1) != "resolve"}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(*(reference_names(v) for v in value)) if value else set()
    return set()


def has_reference(value: Any) -> bool:
    if isinstance(value, str):
        return SSM_REFERENCE.search(value) is not None
    if isinstance(value, Mapping):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(has_reference(v) for v in value)


class References:
    """The parameter store's values for one send, by name: ``{name: (type, value)}``. ``checking``
    (``document create``): every reference is checked for where it is, and left as it is."""

    def __init__(self, found: Mapping[str, tuple[str, str]] | None = None, *, checking: bool = False) -> None:
        self._found = dict(found or {})
        self.checking = checking

    def _one(self, match: re.Match[str], where: str, secure_ok: bool) -> str:
        reference, kind, name = match.group(0), match.group(1), match.group(2)
        if kind == "resolve":
            if re.match(r"secretsmanager\s*:", name):
                raise InputError(where, f"{reference}: Outpost has no Secrets Manager; put the secret in the parameter "
                                        "store (outpost parameter put NAME --type SecureString) and write "
                                        "{{ssm-secure:NAME}}")
            raise InputError(where, f"{reference}: {{{{resolve:...}}}} (CloudFormation's) is not supported; write "
                                    "{{ssm:NAME}} or {{ssm-secure:NAME}}")
        if kind == "ssm-secure" and not secure_ok:
            raise InputError(where, f"{reference} {SECURE_ONLY}")
        if ":" in name:
            raise InputError(where, f"{reference}: a version or label (NAME:2) is not supported; the parameter "
                                    "store's latest version is used")
        if self.checking:
            return reference
        if name not in self._found:
            raise InputError(where, f"{reference}: no parameter {name!r} in the parameter store "
                                    "(outpost parameter put)")
        type_, value = self._found[name]
        if type_ == SECURE and kind == "ssm":
            raise InputError(where, f"{reference}: {name} is a SecureString: refer to it as {{{{ssm-secure:{name}}}}}, "
                                    "which only a secret parameter's value can be")
        return value

    def fill(self, text: str, where: str, *, secure_ok: bool = False) -> str:
        """``text`` with each reference replaced by its value (values are not scanned again)."""
        return SSM_REFERENCE.sub(lambda m: self._one(m, where, secure_ok), text)

    def fill_all(self, value: Any, where: str, *, secure_ok: bool = False) -> Any:
        """:meth:`fill` throughout a value (strings, lists, tuples, mappings), keeping its shape."""
        if isinstance(value, str):
            return self.fill(value, where, secure_ok=secure_ok)
        if isinstance(value, (list, tuple)):
            return type(value)(self.fill_all(v, f"{where}[{i}]", secure_ok=secure_ok) for i, v in enumerate(value))
        if isinstance(value, Mapping):
            return {k: self.fill_all(v, f"{where}.{k}", secure_ok=secure_ok) for k, v in value.items()}
        return value


NO_STORE = References()  # every reference refused: what a render given no store's values fills with
CHECKING = References(checking=True)


def refuse_inline_references(steps: Any) -> None:
    """An inline document (a playbook's play) is sent as it is, its inputs already final: a reference
    in one would reach a node as text, so it is refused, naming the step. ``steps``: (name, inputs)."""
    def walk(value: Any, where: str) -> None:
        if isinstance(value, str) and (m := SSM_REFERENCE.search(value)):
            raise InputError(where, f"{m.group(0)}: a document sent inline is not filled from the parameter "
                                    "store; store it (outpost document create) and send it by name")
        items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            walk(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
    for name, inputs in steps:
        walk(inputs, f"step {name}: inputs")
