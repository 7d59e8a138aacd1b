"""What an operator asks to send (SSM's SendCommand), and the checks it passes before anything is
stored or sent: the document against the same plugin schemas the agent checks, the targets, the
delivery timeout."""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from controller.model import AuditEntry, Targets
from controller.notification import NotificationConfig
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import DEFAULT_EXECUTION_TIMEOUT_SECONDS, Document, document_from_bytes

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
    notification: NotificationConfig | None = None  # the command's own webhook (SSM's NotificationConfig)
    # whether the sender may reach the nodes its targets resolved to: raises (refusing the whole send,
    # nothing stored) when not; None: no check (the controller's own sends, tests)
    admit: Callable[[Sequence[str]], Awaitable[None]] | None = field(default=None, compare=False, repr=False)
    # the send's record in the audit trail, stored with the command (its version, sha256, node count
    # and command id filled in by the dispatcher); None: none (the controller's own sends, tests)
    audit: AuditEntry | None = field(default=None, compare=False, repr=False)


def validate_document(document: bytes, registry: PluginRegistry) -> Document:
    """Structure and every step's inputs, against the same schemas the agent checks."""
    doc = document_from_bytes(document)
    if not doc.steps:
        raise CommandRejected("document.mainSteps: a document needs at least one step")
    for i, step in enumerate(doc.steps):
        registry.bind(step.action, step.inputs, f"document.mainSteps[{i}].inputs")
    return doc


def execution_seconds(doc: Document, registry: PluginRegistry) -> int:
    """How long the document's steps may run on a node, at most: the sum of their timeouts, each as
    the agent takes it (the step's ``timeoutSeconds``, else its input's ``timeout_seconds``, else the
    default). A step whose plugin this controller lacks counts the default."""
    total = 0
    for i, step in enumerate(doc.steps):
        timeout = step.timeout_seconds
        if not timeout and registry.has_action(step.action):
            try:
                inputs = registry.bind(step.action, step.inputs, f"mainSteps[{i}].inputs").inputs
                timeout = getattr(inputs, "timeout_seconds", None)
            except InputError:
                timeout = None
        total += timeout or DEFAULT_EXECUTION_TIMEOUT_SECONDS
    return total


@dataclass(frozen=True)
class CheckedDocument:
    document: Document
    canonical: bytes  # what is stored, signed and sent: the bytes the agent checks against sha256
    sha256: bytes
    execution_seconds: int  # how long its steps may run on a node, at most


class CheckedDocuments:
    """Documents parsed and checked against the plugins' schemas, kept by the bytes they came as for
    the next command that sends the same ones (a script's loop, a playbook applied again, the bench).
    Checking one is quick in a loop, but a command's round trip runs it cold, once: measured 13 us
    against 0.2 ms (docs/performance.md, seventh pass). At most ``size`` are kept, the most recent."""

    def __init__(self, registry: PluginRegistry, size: int = 64) -> None:
        self._registry = registry
        self._size = size
        self._checked: OrderedDict[bytes, CheckedDocument] = OrderedDict()

    def check(self, document: bytes) -> CheckedDocument:
        """The document parsed, in canonical form, with its sha256; CommandRejected or DocumentError
        names what is wrong."""
        hit = self._checked.get(document)
        if hit is not None:
            self._checked.move_to_end(document)
            return hit
        try:
            doc = validate_document(document, self._registry)
        except InputError as exc:
            raise CommandRejected(str(exc)) from None
        canonical = doc.canonical_bytes()  # sent as other JSON (spacing, key order), stored as the agent hashes it
        checked = CheckedDocument(doc, canonical, hashlib.sha256(canonical).digest(),
                                  execution_seconds(doc, self._registry))
        self._checked[document] = checked
        if len(self._checked) > self._size:
            self._checked.popitem(last=False)
        return checked


def check_request(req: CommandRequest, documents: CheckedDocuments) -> tuple[CheckedDocument, int]:
    """The request's document, checked, and its delivery timeout in seconds; CommandRejected names
    what is wrong."""
    doc = documents.check(req.document)
    if req.targets.empty:
        raise CommandRejected("targets: give node ids, tags, a group, or all")
    timeout = req.timeout_seconds or DEFAULT_DELIVERY_TIMEOUT_SECONDS
    if not MIN_DELIVERY_TIMEOUT_SECONDS <= timeout <= MAX_DELIVERY_TIMEOUT_SECONDS:
        raise CommandRejected(f"timeout_seconds: must be {MIN_DELIVERY_TIMEOUT_SECONDS}.."
                              f"{MAX_DELIVERY_TIMEOUT_SECONDS}, got {timeout}")
    return doc, timeout
