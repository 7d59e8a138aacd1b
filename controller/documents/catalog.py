"""The document catalogue: stored SSM command documents (versioned, with built-ins) rendered into
signed-to-be documents with their parameters; and the validation `document create` runs."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from controller.documents.expand import expand, runs_documents
from controller.documents.ssmdoc import CommandDocument, check_actions, parse_command_document, render
from controller.store.db import Db
from plugins.sdk.errors import DocumentError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import MASK
from plugins.sdk.wire.document import Document, canonical_json, document_from_bytes, masked_json

log = logging.getLogger(__name__)

BUILTIN_PACKAGE = "controller.documents.builtin"


@dataclass(frozen=True)
class Rendered:
    name: str
    version: int
    document: bytes  # canonical JSON, parameters applied
    shown_parameters: dict[str, tuple[str, ...]]  # as given, secret values masked


@dataclass(frozen=True)
class DocumentSummary:
    description: str
    parameters: tuple[str, ...]


def masked_document(content: bytes) -> bytes:
    """A stored command's document for display: secret environment values masked."""
    try:
        return canonical_json(masked_json(document_from_bytes(content)))
    except DocumentError:
        return content


class DocumentCatalog:
    def __init__(self, db: Db, registry: PluginRegistry) -> None:
        self._db = db
        self._registry = registry

    def validate(self, content: bytes, fmt: str | None) -> DocumentSummary:
        """Parse a document as `document create|update` takes it; DocumentError says what is wrong."""
        doc = parse_command_document(content, fmt)
        check_actions(doc, self._registry)
        return DocumentSummary(doc.description, tuple(p.name for p in doc.parameters))

    async def render(self, name: str, version: str, pinned_sha256: str,
                     given: Mapping[str, tuple[str, ...]]) -> Rendered:
        rec = await self._db.run(self._db.store.get_document_version, name, version or "$DEFAULT")
        if pinned_sha256 and pinned_sha256.lower() != rec.sha256:
            raise DocumentError(f"document {name} version {rec.version} has sha256 {rec.sha256}, "
                                f"not the pinned {pinned_sha256.lower()}")
        doc: CommandDocument = parse_command_document(rec.content, rec.format)
        rendered = render(doc, given, self._registry)
        secret = {p.name for p in doc.parameters if p.secret}
        shown = {k: (MASK,) if k in secret else tuple(v) for k, v in given.items()}
        return Rendered(rec.name, rec.version, rendered.canonical_bytes(), shown)

    async def rendered(self, name: str, version: str, given: Mapping[str, tuple[str, ...]]) -> Document:
        """A stored document rendered with ``given``: what an ``aws:runDocument`` step runs."""
        rec = await self._db.run(self._db.store.get_document_version, name, version or "$DEFAULT")
        return render(parse_command_document(rec.content, rec.format), given, self._registry)

    async def expand(self, content: bytes) -> bytes:
        """An inline document with its ``aws:runDocument`` steps expanded (controller/documents/
        expand.py), canonical; the same bytes when it has none. InputError names what is wrong."""
        if not runs_documents(content):
            return content
        return (await expand(document_from_bytes(content), self.rendered)).canonical_bytes()

    async def seed_builtins(self) -> int:
        """Store the built-in documents shipped with the controller, when absent or changed."""
        count = 0
        started = now_ms()
        for entry in sorted(resources.files(BUILTIN_PACKAGE).iterdir(), key=lambda e: e.name):
            if not entry.name.endswith((".yaml", ".yml", ".json")):
                continue
            content = entry.read_bytes()
            fmt = "JSON" if entry.name.endswith(".json") else "YAML"
            summary = self.validate(content, fmt)
            name = entry.name.rsplit(".", 1)[0]
            sha = hashlib.sha256(content).hexdigest()
            rec = await self._db.run(self._db.store.put_document, name, content, fmt, sha, summary.description,
                                     "outpost", now_ms(), create=True, builtin=True)  # idempotent for built-ins
            count += rec.created_at_ms >= started
        if count:
            log.info("seeded %d built-in document(s)", count)
        return count
