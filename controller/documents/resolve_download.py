"""Download steps (``download_content``, SSM's ``aws:downloadContent``) get, when the command is sent,
what they write, so that the signature covers it: a content store file's sha256 (the agent fetches
the bytes by it over its own stream and checks them), or a stored document's text and its sha256.
``aws:downloadContent`` steps become ``download_content`` steps (their inputs converted by the
plugin's own alias, which refuses GitHub, Git, HTTP and S3 by name). A file or document the
controller does not hold is refused at send, naming the step. Other steps are left as they are."""
from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from controller.documents.resolve_content import ContentSums
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.schema import inputs_to_json
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Document

DOWNLOAD = "download_content"
DOWNLOAD_ACTIONS = frozenset({DOWNLOAD, "aws:downloadContent"})


@dataclass(frozen=True)
class StoredText:
    """One version of a stored document, as a download step writes it."""
    name: str
    version: int
    format: str  # YAML | JSON
    content: bytes


# (name, version selector) -> that version; an OutpostError (the store's NotFound) when there is none
DocumentText = Callable[[str, str], Awaitable[StoredText]]


def needs_downloads(content: bytes) -> bool:
    """Whether a document's canonical bytes may hold a download step (a cheap test on every send)."""
    return b"download_content" in content or b"aws:downloadContent" in content


async def resolve_downloads(document: Document, registry: PluginRegistry, sums: ContentSums,
                            documents: DocumentText) -> Document:
    if not any(s.action in DOWNLOAD_ACTIONS for s in document.steps):
        return document
    bound = {i: inputs_to_json(registry.bind(s.action, s.inputs, f"mainSteps[{i}].inputs").inputs)
             for i, s in enumerate(document.steps) if s.action in DOWNLOAD_ACTIONS}
    names = {str(v["src"]) for v in bound.values() if v.get("src")}
    found = await sums(names) if names else {}
    steps = list(document.steps)
    for i, inputs in bound.items():
        assert isinstance(inputs, dict)
        where = f"mainSteps[{i}].inputs"
        src, name = inputs.get("src"), inputs.get("document")
        if src:
            if src not in found:
                raise InputError(f"{where}.src", f"step {steps[i].name!r}: no content named {src!r} in the content "
                                                 "store (outpost content put NAME --file FILE; outpost content list)")
            inputs.update(sha256=found[str(src)], file_name=posixpath.basename(str(src)), text=None)
        elif name:
            version = str(inputs.get("document_version") or "")
            try:
                stored = await documents(str(name), version)
            except OutpostError as exc:
                raise InputError(f"{where}.document", f"step {steps[i].name!r}: {exc}") from None
            try:
                text = stored.content.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{where}.document", f"step {steps[i].name!r}: document {name} version "
                                                      f"{stored.version} is not UTF-8 text") from None
            suffix = "json" if stored.format == "JSON" else "yaml"
            inputs.update(sha256=hashlib.sha256(stored.content).hexdigest(), text=text,
                          file_name=f"{stored.name}.{suffix}")
        else:
            raise InputError(where, f"step {steps[i].name!r}: give src (a content store file) or document")
        steps[i] = replace(steps[i], action=DOWNLOAD, inputs=inputs)
    resolved = replace(document, steps=tuple(steps))
    size = len(resolved.canonical_bytes())
    if size > MAX_DOCUMENT_BYTES:
        raise InputError("mainSteps", f"with the documents its download steps write, the document is {size} "
                                      f"bytes; the limit is {MAX_DOCUMENT_BYTES} (put large files in the content "
                                      "store: outpost content put)")
    return resolved
