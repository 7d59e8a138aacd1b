"""The document catalogue: stored SSM command documents (versioned, with built-ins) rendered into
signed-to-be documents with their parameters; and the validation `document create` runs: the
same checks as a send of the document, with a value in place of each parameter not given yet."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import resources

from controller.documents.expand import RUN_DOCUMENT, expand, runs_documents
from controller.documents.parameters import stand_in_values
from controller.documents.resolve import PublishedRelease, resolve_baselines, resolve_releases
from controller.documents.resolve_content import resolve_content
from controller.documents.resolve_download import StoredText, needs_downloads, resolve_downloads
from controller.documents.safety import unsafe_parameters
from controller.documents.ssmdoc import CommandDocument, check_actions, parse_command_document, render, render_values
from controller.documents.ssmref import CHECKING, References, reference_names, refuse_inline_references
from controller.store.db import Db
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import MASK
from plugins.sdk.wire.document import Document, canonical_json, document_from_bytes, masked_json

log = logging.getLogger(__name__)

BUILTIN_PACKAGE = "controller.documents.builtin"
# The names SSM's users know the built-in documents by: a policy pasted from IAM names these
BUILTIN_ALIASES: dict[str, tuple[str, ...]] = {
    "Outpost-RunShellScript": ("AWS-RunShellScript",),
    "Outpost-RunPowerShellScript": ("AWS-RunPowerShellScript",),
    "Outpost-UpdateAgent": ("AWS-UpdateSSMAgent",),
    "Outpost-ApplyPatchBaseline": ("AWS-RunPatchBaseline",),
}
def _needs(content: bytes) -> tuple[bool, bool, bool, bool]:
    """Whether a document's canonical bytes may hold agent update, patch, copy-from-the-store or
    download steps (a cheap test on every send; the steps themselves decide)."""
    return (b"agent_update" in content or b"aws:updateSsmAgent" in content, b'"patch"' in content,
            b'"src"' in content and b'"copy"' in content, needs_downloads(content))


def needs_resolving(content: bytes) -> bool:
    """Whether :meth:`DocumentCatalog.resolve` may change the document: what a playbook's check asks
    the controller about before any play is sent."""
    return any(_needs(content))


SSM_BYTES = re.compile(rb"\{\{\s*(ssm|ssm-secure|resolve)\s*:")  # cheap, on every inline send
# SSM's names of the built-ins, as a send names them: AWS-UpdateSSMAgent runs Outpost-UpdateAgent
BUILTIN_OF_ALIAS = {alias: name for name, aliases in BUILTIN_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class Rendered:
    name: str
    version: int
    document: bytes  # canonical JSON, parameters applied
    shown_parameters: dict[str, tuple[str, ...]]  # as given, secret values masked
    secret_names: frozenset[str] = frozenset()  # the document's secret parameters


@dataclass(frozen=True)
class DocumentSummary:
    description: str
    parameters: tuple[str, ...]
    rendered: bytes = b""  # canonical JSON, rendered with stand-in values (validate): what a send checks next
    unsafe: tuple[str, ...] = ()  # parameters pasted into a script as text (documents/safety.py), one line each


def masked_document(content: bytes) -> bytes:
    """A stored command's document for display: secret environment values masked."""
    try:
        return canonical_json(masked_json(document_from_bytes(content)))
    except DocumentError:
        return content


def _stand_ins_used(doc: CommandDocument, where: str) -> str:
    """Words for an error at ``where`` (``mainSteps[N]...``) when that step refers to a required
    parameter, whose value there was a stand-in: the value shown may not be one the author wrote."""
    m = re.match(r"mainSteps\[(\d+)\]", where)
    if m is None or int(m.group(1)) >= len(doc.steps):
        return ""
    step = doc.steps[int(m.group(1))]
    text = json.dumps([step.inputs, step.precondition])
    used = [p.name for p in doc.parameters if p.required and re.search(rf"\{{\{{\s*{p.name}\s*\}}\}}", text)]
    return f" (with a stand-in value for the required parameter {', '.join(used)})" if used else ""


class DocumentCatalog:
    def __init__(self, db: Db, registry: PluginRegistry, *, require_safe_parameters: bool = False) -> None:
        self._db = db
        self._registry = registry
        self._require_safe = require_safe_parameters  # also at send: documents stored before it was set

    def describe(self, content: bytes, fmt: str | None) -> DocumentSummary:
        """A stored document's description and parameter names (listings: parsed, not rendered)."""
        doc = parse_command_document(content, fmt)
        return DocumentSummary(doc.description, tuple(p.name for p in doc.parameters))

    def validate(self, content: bytes, fmt: str | None) -> DocumentSummary:
        """Check a document as `document create|update` takes it: parsed, then rendered as a send
        renders it (every step's inputs against its plugin's schema, the 64 KB limit), with each
        parameter's default or a stand-in (parameters.stand_in_values); ``rendered`` is the result,
        for the checks a send runs on it next (the dispatcher's). DocumentError or InputError says
        what is wrong, naming the step and field."""
        doc = parse_command_document(content, fmt)
        try:
            check_actions(doc, self._registry)
        except DocumentError as exc:
            raise doc.with_line(exc) from None
        try:
            rendered = render_values(doc, stand_in_values(doc.parameters), self._registry, references=CHECKING)
        except InputError as exc:
            raise doc.with_line(InputError(exc.where, exc.message + _stand_ins_used(doc, exc.where))) from None
        return DocumentSummary(doc.description, tuple(p.name for p in doc.parameters), rendered.canonical_bytes(),
                               unsafe_parameters(doc))

    async def render(self, name: str, version: str, pinned_sha256: str,
                     given: Mapping[str, tuple[str, ...]]) -> Rendered:
        asked, name = name, BUILTIN_OF_ALIAS.get(name, name)  # the command keeps the name it was sent with
        rec = await self._db.run(self._db.store.get_document_version, name, version or "$DEFAULT")
        if pinned_sha256 and pinned_sha256.lower() != rec.sha256:
            raise DocumentError(f"document {name} version {rec.version} has sha256 {rec.sha256}, "
                                f"not the pinned {pinned_sha256.lower()}")
        doc: CommandDocument = parse_command_document(rec.content, rec.format)
        if self._require_safe and (unsafe := unsafe_parameters(doc)):
            raise DocumentError(f"document {rec.name} version {rec.version} is refused (require_safe_parameters; "
                                f"stored before it was set): {unsafe[0]}")
        rendered = render(doc, given, self._registry, references=await self._references(doc, given))
        secret = {p.name for p in doc.parameters if p.secret}
        shown = {k: (MASK,) if k in secret else tuple(v) for k, v in given.items()}
        return Rendered(asked if asked != name else rec.name, rec.version, rendered.canonical_bytes(), shown,
                        frozenset(secret))

    async def rendered(self, name: str, version: str, given: Mapping[str, tuple[str, ...]]) -> Document:
        """A stored document rendered with ``given``: what an ``aws:runDocument`` step runs."""
        name = BUILTIN_OF_ALIAS.get(name, name)
        rec = await self._db.run(self._db.store.get_document_version, name, version or "$DEFAULT")
        doc = parse_command_document(rec.content, rec.format)
        return render(doc, given, self._registry, references=await self._references(doc, given))

    async def _references(self, doc: CommandDocument, given: Mapping[str, tuple[str, ...]]) -> References:
        """The parameter store's values of the names ``doc`` and ``given`` refer to (``{{ssm:NAME}}``:
        controller/documents/ssmref.py); a name it does not hold is refused where it is, as the
        document renders. Opened here, at send, and put only where the references say."""
        names = reference_names([[s.inputs, list(s.precondition or ())] for s in doc.steps]
                                + [p.default for p in doc.parameters if not p.required] + list(given.values()))
        if not names:
            return References()
        found = await self._db.run(self._db.store.parameters_for_send, names)
        return References({n: (r.type, r.value or "") for n, r in found.items()})

    async def resolve(self, content: bytes) -> bytes:
        """``content`` with what only the controller knows filled in (controller/documents/resolve.py:
        the agent release an update step installs, the baseline a patch step names); the same bytes
        when it needs nothing."""
        updates, patches, copies, downloads = _needs(content)
        if not updates and not patches and not copies and not downloads:
            return content
        document = original = document_from_bytes(content)
        if updates:
            document = await resolve_releases(document, self._releases, self._registry)
        if patches:
            document = await resolve_baselines(document, self._baselines, self._registry)
        if copies:
            document = await resolve_content(document, self._content_sums)
        if downloads:
            document = await resolve_downloads(document, self._registry, self._content_sums, self._document_text)
        return content if document is original else document.canonical_bytes()

    async def _content_sums(self, names: Collection[str]) -> dict[str, str]:
        return {r.name: r.sha256 for r in await self._db.run(self._db.store.list_content) if r.name in names}

    async def _document_text(self, name: str, version: str) -> StoredText:
        rec = await self._db.run(self._db.store.get_document_version, BUILTIN_OF_ALIAS.get(name, name),
                                 version or "$DEFAULT")
        return StoredText(rec.name, rec.version, rec.format, rec.content)

    async def _releases(self) -> list[PublishedRelease]:
        return [PublishedRelease(r.version, r.sha256) for r in await self._db.run(self._db.store.list_releases)]

    async def _baselines(self, names: Collection[str]) -> tuple[dict[str, str], list[str]]:
        return await self._db.run(self._db.store.baselines_for_send, names)

    async def expand(self, content: bytes) -> bytes:
        """An inline document with its ``aws:runDocument`` steps expanded (controller/documents/
        expand.py), canonical; the same bytes when it has none. InputError names what is wrong, and a
        ``{{ssm:NAME}}`` in its inputs (ssmref.refuse_inline_references)."""
        if SSM_BYTES.search(content):
            refuse_inline_references((s.name, s.inputs) for s in document_from_bytes(content).steps
                                     if s.action != RUN_DOCUMENT)  # its document is rendered: filled then
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
