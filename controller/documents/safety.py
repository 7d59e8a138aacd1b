"""Which of a document's parameters reach a script as text: a String parameter with
``interpolationType: TEXT`` (SSM's default), neither ``allowedPattern`` nor ``allowedValues``,
referenced inside a longer string of a shell or PowerShell step. Its value becomes code
(``name=$(rm -rf /)``). `document create` and `update` warn of each; with the controller's
``require_safe_parameters`` such a document is refused. A reference that is a step input's whole
value (AWS-RunShellScript's ``commands``) is the script itself, given by the operator: not a warning.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from controller.documents.envref import POWERSHELL_ACTIONS, SHELL_ACTIONS
from controller.documents.parameters import TEXT, ParameterSpec, ParamType
from controller.documents.placeholders import PLACEHOLDER, WHOLE
from controller.documents.ssmdoc import CommandDocument
from plugins.sdk.schema import JsonValue

SCRIPT_ACTIONS = SHELL_ACTIONS | POWERSHELL_ACTIONS


def _strings(value: JsonValue) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _unchecked(spec: ParameterSpec) -> bool:
    return (spec.type is ParamType.STRING and spec.interpolation == TEXT and not spec.allowed_pattern
            and not spec.allowed_values)


def unsafe_parameters(doc: CommandDocument) -> tuple[str, ...]:
    """One line for each parameter pasted as text into a script, naming the step and the remedy."""
    specs = {s.name: s for s in doc.parameters if _unchecked(s)}
    lines: list[str] = []
    for index, step in enumerate(doc.steps):
        if step.action not in SCRIPT_ACTIONS or not specs:
            continue
        pasted: dict[str, None] = {}
        for text in _strings(json.loads(json.dumps(dict(step.inputs)))):
            if WHOLE.match(text):
                continue
            for match in PLACEHOLDER.finditer(text):
                if match.group(1) in specs:
                    pasted[match.group(1)] = None
        at = step.where or f"mainSteps[{index}]"  # a schema 1.2 step: runtimeConfig.PLUGIN.properties[N]
        lines += [f"{at} ({step.name}): parameter {name!r} is pasted into the script as text, so "
                  f"a value can run commands; give it allowedPattern or allowedValues, or interpolationType: ENV_VAR"
                  for name in pasted]
    return tuple(lines)
