"""Copy steps that send a file of the content store (``copy: {src: NAME, dest: ...}``) get, when the
command is sent, that file's sha256 (``src_sha256``): the signature then covers exactly which bytes
the node may write, and the agent fetches them by that sha256 over its own stream (no node can fetch
a file no command sent to it names). A name the store does not hold is refused at send."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import replace

from plugins.sdk.errors import InputError
from plugins.sdk.wire.document import Document

COPY = "copy"

# the sha256 of each of ``names`` the content store holds
ContentSums = Callable[[Collection[str]], Awaitable[Mapping[str, str]]]


def _source(inputs: Mapping[str, object]) -> str:
    src = inputs.get("src")
    return src if isinstance(src, str) and src else ""


async def resolve_content(document: Document, sums: ContentSums) -> Document:
    named = {_source(s.inputs) for s in document.steps if s.action == COPY} - {""}
    if not named:
        return document
    found = await sums(named)
    steps = []
    for i, step in enumerate(document.steps):
        src = _source(step.inputs) if step.action == COPY else ""
        if not src:
            steps.append(step)
            continue
        if src not in found:
            raise InputError(f"mainSteps[{i}].inputs.src",
                             f"no content named {src!r} in the content store (outpost content put NAME --file "
                             "FILE; outpost content list)")
        steps.append(replace(step, inputs={**step.inputs, "src_sha256": found[src]}))
    return replace(document, steps=tuple(steps))
