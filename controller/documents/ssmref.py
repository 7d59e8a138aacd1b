"""SSM's references to Parameter Store (``{{ssm:NAME}}``, ``{{ssm-secure:NAME}}`` and CloudFormation's
``{{resolve:ssm:NAME}}``), which SSM replaces with the parameter's value before a command runs.
Outpost has no parameter store yet: a reference is refused, in a document (at ``document create``)
and in a parameter's default or given value (at send), never passed to a node as text.
"""
from __future__ import annotations

import re
from typing import Any

SSM_REFERENCE = re.compile(r"\{\{\s*(?:ssm|ssm-secure|resolve)\s*:[^{}]*?\}\}")
NO_STORE = "Outpost has no parameter store yet (planned: outpost parameter put|get)"


def reference_problem(reference: str) -> str:
    compact = re.sub(r"\s+", "", reference)
    kind = ("an AWS Secrets Manager secret" if compact.startswith("{{resolve:secretsmanager")
            else "an SSM SecureString parameter" if "ssm-secure:" in compact else "an SSM parameter")
    return f"{reference} refers to {kind}; {NO_STORE}"


def first_reference(value: Any, where: str) -> tuple[str, str] | None:
    """The place and text of the first SSM reference in ``value`` (strings, lists, mappings)."""
    if isinstance(value, str):
        match = SSM_REFERENCE.search(value)
        return (where, match.group(0)) if match else None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if found := first_reference(item, f"{where}[{i}]"):
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if found := first_reference(item, f"{where}.{key}"):
                return found
    return None
