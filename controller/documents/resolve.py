"""What only the controller knows, put into a document when it is sent, so that the signature covers
it: an agent update step gets the release's version (the latest published, when it names none) and
sha256, which the agent checks the wheel it fetches against.

``aws:updateSsmAgent`` steps become ``agent_update`` steps (their inputs converted by the plugin's
own alias), so what the agent runs names the release whole. Every other step is left as it is; a
document without such steps comes back as the same object (the send path pays one scan of its steps).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.schema import inputs_to_json
from plugins.sdk.versions import version_key
from plugins.sdk.wire.document import Document

AGENT_UPDATE = "agent_update"
AGENT_UPDATE_ACTIONS = frozenset({AGENT_UPDATE, "aws:updateSsmAgent"})


@dataclass(frozen=True)
class PublishedRelease:
    version: str
    sha256: str


Releases = Callable[[], Awaitable[Sequence[PublishedRelease]]]


async def resolve_releases(document: Document, releases: Releases, registry: PluginRegistry) -> Document:
    """``document`` with each agent update step naming a published release (version and sha256);
    InputError naming the step when none is published, or not the one it names."""
    if not any(s.action in AGENT_UPDATE_ACTIONS for s in document.steps):
        return document
    published = {r.version: r for r in await releases()}
    steps = []
    for i, step in enumerate(document.steps):
        if step.action not in AGENT_UPDATE_ACTIONS:
            steps.append(step)
            continue
        where = f"mainSteps[{i}].inputs"
        inputs = inputs_to_json(registry.bind(step.action, step.inputs, where).inputs)  # as agent_update's
        assert isinstance(inputs, dict)
        version = str(inputs.get("version") or "")
        if not published:
            raise InputError(f"{where}.version", "no agent release is published: publish one with "
                                                 "`outpost agent-release publish FILE.whl`")
        if not version:
            version = max(published, key=version_key)
        release = published.get(version)
        if release is None:
            raise InputError(f"{where}.version", f"agent release {version!r} is not published (published: "
                                                 f"{', '.join(sorted(published, key=version_key))})")
        inputs.update(version=version, sha256=release.sha256)
        steps.append(replace(step, action=AGENT_UPDATE, inputs=inputs))
    return replace(document, steps=tuple(steps))
