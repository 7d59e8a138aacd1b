"""A play's `document:` tasks, expanded into the stored documents' steps before sending.

Each referenced document is rendered with the task's parameters by the same code the controller
uses (controller/documents/ssmdoc.py); its steps are named ``TASK.STEP`` and keep their own SSM semantics
(``onFailure``, preconditions); ENV_VAR parameters join the play's environment.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from controller.compiler.errors import PlaybookError
from controller.compiler.playbook import DocumentTask, PlayPlan
from controller.documents.ssmdoc import parse_command_document, render
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Document, Step

# (name, version selector) -> (content, format): GetDocument through the operator's connection
Fetch = Callable[[str, str], tuple[bytes, str]]


def _fail(task: DocumentTask, message: str) -> PlaybookError:
    filename, _, line = task.source.rpartition(":")
    return PlaybookError(message, filename=filename, line=int(line), where=f"{task.name}.document")


def expand(play: PlayPlan, fetch: Fetch, registry: PluginRegistry) -> Document:
    if not play.needs_expansion:
        return play.document
    steps: list[Step] = []
    env: dict[str, str] = {}
    secrets: list[str] = []
    for task in play.tasks:
        if isinstance(task, Step):
            steps.append(task)
            continue
        try:
            content, fmt = fetch(task.document, task.version)
            rendered = render(parse_command_document(content, fmt), task.parameters, registry)
        except OutpostError as exc:
            raise _fail(task, f"{task.document}: {exc}") from None
        for name, value in rendered.environment.items():
            if env.get(name, value) != value:
                raise _fail(task, f"environment variable {name} is set differently by two documents")
            env[name] = value
        secrets += [n for n in rendered.secret_names if n not in secrets]
        steps += [replace(s, name=f"{task.name}.{s.name}", ignore_errors=s.ignore_errors or task.ignore_errors)
                  for s in rendered.steps]
    document = Document(tuple(steps), play.name, environment=env, secret_names=tuple(secrets))
    size = len(document.canonical_bytes())
    if size > MAX_DOCUMENT_BYTES:
        filename, _, line = play.source.rpartition(":")
        raise PlaybookError(f"the play expands to a {size}-byte document; the limit is {MAX_DOCUMENT_BYTES}",
                            filename=filename, line=int(line), where="tasks")
    return document
