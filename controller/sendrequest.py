"""What an operator asks to send (SSM's SendCommand), and the checks it passes before anything is
stored or sent: the document against the same plugin schemas the agent checks, the targets, the
delivery timeout."""
from __future__ import annotations

from dataclasses import dataclass

from controller.model import Targets
from plugins.sdk.document import Document, document_from_bytes
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.registry import PluginRegistry

DEFAULT_DELIVERY_TIMEOUT_SECONDS = 600  # SSM's console default
MIN_DELIVERY_TIMEOUT_SECONDS = 30
MAX_DELIVERY_TIMEOUT_SECONDS = 2_592_000


class CommandRejected(OutpostError):
    """A command was refused before anything was stored or sent."""


@dataclass(frozen=True)
class CommandRequest:
    document: bytes  # the rendered document, canonical JSON
    targets: Targets
    comment: str
    requested_by: str
    document_name: str
    timeout_seconds: int = 0
    max_concurrency: str = "50"
    max_errors: str = "0"
    document_version: int = 0
    parameters: dict[str, tuple[str, ...]] | None = None  # as given, secret values masked


def validate_document(document: bytes, registry: PluginRegistry) -> Document:
    """Structure and every step's inputs, against the same schemas the agent checks."""
    doc = document_from_bytes(document)
    if not doc.steps:
        raise CommandRejected("document.mainSteps: a document needs at least one step")
    for i, step in enumerate(doc.steps):
        registry.bind(step.action, step.inputs, f"document.mainSteps[{i}].inputs")
    return doc


def check_request(req: CommandRequest, registry: PluginRegistry) -> tuple[Document, int]:
    """The request's document, parsed, and its delivery timeout in seconds; CommandRejected names
    what is wrong."""
    try:
        doc = validate_document(req.document, registry)
    except InputError as exc:
        raise CommandRejected(str(exc)) from None
    if req.targets.empty:
        raise CommandRejected("targets: give node ids, tags, a group, or all")
    timeout = req.timeout_seconds or DEFAULT_DELIVERY_TIMEOUT_SECONDS
    if not MIN_DELIVERY_TIMEOUT_SECONDS <= timeout <= MAX_DELIVERY_TIMEOUT_SECONDS:
        raise CommandRejected(f"timeout_seconds: must be {MIN_DELIVERY_TIMEOUT_SECONDS}.."
                              f"{MAX_DELIVERY_TIMEOUT_SECONDS}, got {timeout}")
    return doc, timeout
