"""Steps that run another document (SSM's ``aws:runDocument`` with ``documentType: SSMDocument``),
expanded on the controller into the steps of the stored documents they name.

A playbook's ``document:`` task compiles to such a step; the controller expands it when the command
is sent (and when `playbook apply --check` asks, ``ExpandDocument``), so a workstation never fetches
or renders a stored document and the document resolved is the one the controller holds at that
moment, as SSM resolves a document at SendCommand. Each referenced document is rendered with the
step's ``documentParameters`` by the catalogue (controller/documents/catalog.py); its steps are
named ``STEP.INNER`` and keep their own SSM semantics (``onFailure``, preconditions), and the
step's ``ignoreErrors`` carries over; ENV_VAR parameters join the document's environment.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Document, Step

RUN_DOCUMENT = "aws:runDocument"
SSM_DOCUMENT = "SSMDocument"
INPUTS = ("documentType", "documentPath", "documentParameters", "documentVersion")

# (name, version selector, parameters) -> the stored document rendered with them
Render = Callable[[str, str, Mapping[str, tuple[str, ...]]], Awaitable[Document]]


def run_document_step(name: str, document: str, version: str, parameters: Mapping[str, tuple[str, ...]],
                      ignore_errors: bool) -> Step:
    """The step a playbook's ``document:`` task compiles to. ``version``: "" for the default."""
    inputs: dict[str, Any] = {"documentType": SSM_DOCUMENT, "documentPath": document,
                              "documentParameters": {k: list(v) for k, v in parameters.items()}}
    if version:
        inputs["documentVersion"] = version
    return Step(name, RUN_DOCUMENT, inputs, ignore_errors=ignore_errors)


def runs_documents(document: bytes) -> bool:
    """Whether a document (canonical JSON) may hold such a step: a byte search, so the commands that
    do not (nearly all) cost nothing more."""
    return RUN_DOCUMENT.encode() in document


def _reference(step: Step, where: str) -> tuple[str, str, dict[str, tuple[str, ...]]]:
    raw = step.inputs
    unknown = sorted(set(raw) - set(INPUTS))
    if unknown:
        raise InputError(f"{where}.{unknown[0]}", f"unsupported input (supported: {', '.join(INPUTS)})")
    if raw.get("documentType", SSM_DOCUMENT) != SSM_DOCUMENT:
        raise InputError(f"{where}.documentType", f"only {SSM_DOCUMENT} is supported, got {raw['documentType']!r}")
    name, version = raw.get("documentPath"), raw.get("documentVersion", "")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}.documentPath", "expected the name of a stored document")
    if not isinstance(version, str):
        raise InputError(f"{where}.documentVersion", "expected a version number, $DEFAULT or $LATEST")
    given = raw.get("documentParameters") or {}
    if not isinstance(given, Mapping):
        raise InputError(f"{where}.documentParameters", "expected a mapping of parameter names to values")
    params: dict[str, tuple[str, ...]] = {}
    for key, value in given.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"{where}.documentParameters.{key}", "expected a string or a list of strings")
        params[str(key)] = tuple(values)
    return name.strip(), version, params


async def expand(document: Document, render: Render) -> Document:
    """``document`` with each ``aws:runDocument`` step replaced by the steps it runs; the same
    document when it has none. Errors name the step: ``mainSteps[2].inputs.documentPath: ...``."""
    if not any(s.action == RUN_DOCUMENT for s in document.steps):
        return document
    steps: list[Step] = []
    env = dict(document.environment)
    secrets = list(document.secret_names)
    for i, step in enumerate(document.steps):
        if step.action != RUN_DOCUMENT:
            steps.append(step)
            continue
        where = f"mainSteps[{i}].inputs"
        name, version, params = _reference(step, where)
        try:
            rendered = await render(name, version, params)
        except OutpostError as exc:
            raise InputError(f"{where}.documentPath", f"{name}: {exc}") from None
        for var, value in rendered.environment.items():
            if env.get(var, value) != value:
                raise InputError(f"{where}.documentParameters",
                                 f"environment variable {var} is set differently by two documents")
            env[var] = value
        secrets += [n for n in rendered.secret_names if n not in secrets]
        steps += [replace(s, name=f"{step.name}.{s.name}", ignore_errors=s.ignore_errors or step.ignore_errors)
                  for s in rendered.steps]
    expanded = Document(tuple(steps), document.description, environment=env, secret_names=tuple(secrets))
    size = len(expanded.canonical_bytes())
    if size > MAX_DOCUMENT_BYTES:
        raise InputError("mainSteps", f"the document expands to {size} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    return expanded
