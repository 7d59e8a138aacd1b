"""What the compiler makes of a playbook: a plan of plays, each a command document and its targets."""
from __future__ import annotations

from dataclasses import dataclass

from controller.documents.expand import run_document_step
from controller.model import Targets
from plugins.sdk.wire.document import Document, Step


@dataclass(frozen=True)
class DocumentTask:
    """A task that runs a stored document: an ``aws:runDocument`` step in the play's document, which
    the controller expands into the stored document's steps (controller/documents/expand.py)."""
    name: str
    document: str
    version: str  # "" = $DEFAULT
    parameters: dict[str, tuple[str, ...]]
    ignore_errors: bool
    source: str

    def step(self) -> Step:
        return run_document_step(self.name, self.document, self.version, self.parameters, self.ignore_errors)


@dataclass(frozen=True)
class PlayPlan:
    name: str
    targets: Targets
    document: Document  # every task, `document:` tasks as aws:runDocument steps
    source: str  # "site.yml:3": where the play starts
    max_concurrency: str = "50"
    max_errors: str = "0"
    tasks: tuple[Step | DocumentTask, ...] = ()  # in order, `document:` tasks included

    @property
    def needs_expansion(self) -> bool:
        return any(isinstance(t, DocumentTask) for t in self.tasks)


@dataclass(frozen=True)
class Plan:
    path: str
    plays: tuple[PlayPlan, ...]
