"""What only the controller knows, put into a document when it is sent, so that the signature covers
it: an agent update step gets the release's version (the latest published, when it names none) and
sha256, which the agent checks the wheel it fetches against; a ``patch`` step that names a stored
baseline gets that baseline's canonical text in its ``baseline`` input (docs/patching.md), so every
node of the command is judged by the same baseline, as it was when the command was sent.

``aws:updateSsmAgent`` steps become ``agent_update`` steps (their inputs converted by the plugin's
own alias), so what the agent runs names the release whole. Every other step is left as it is; a
document without such steps comes back as the same object (the send path pays one scan of its steps).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.patching import is_baseline_name, parse_baseline
from plugins.sdk.schema import inputs_to_json
from plugins.sdk.versions import version_key
from plugins.sdk.wire.document import Document

AGENT_UPDATE = "agent_update"
AGENT_UPDATE_ACTIONS = frozenset({AGENT_UPDATE, "aws:updateSsmAgent"})
PATCH = "patch"


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


# (baseline names) -> (the content of each stored, by name; every stored name when one is not, else [])
Baselines = Callable[[Collection[str]], Awaitable[tuple[Mapping[str, str], Sequence[str]]]]


async def resolve_baselines(document: Document, baselines: Baselines, registry: PluginRegistry) -> Document:
    """``document`` with each ``patch`` step's ``baseline`` that names a stored baseline replaced by
    that baseline's canonical text; a baseline's text given instead is checked and left as it is.
    InputError naming the step when a baseline is not stored (and which are), or its text is not a
    baseline."""
    if not any(s.action == PATCH for s in document.steps):
        return document
    bound: dict[int, dict] = {}
    for i, step in enumerate(document.steps):
        if step.action == PATCH:
            inputs = inputs_to_json(registry.bind(PATCH, step.inputs, f"mainSteps[{i}].inputs").inputs)
            assert isinstance(inputs, dict)
            bound[i] = inputs
    names = {str(v["baseline"]) for v in bound.values() if is_baseline_name(str(v["baseline"]))}
    stored, every = await baselines(names) if names else ({}, [])
    steps = list(document.steps)
    for i, inputs in bound.items():
        value, where = str(inputs["baseline"]), f"mainSteps[{i}].inputs.baseline"
        if not is_baseline_name(value):
            parse_baseline(value, where)  # a baseline's own text: sent as it is, if it is one
            continue
        if value not in stored:
            known = ", ".join(every) if every else "none is stored"
            raise InputError(where, f"step {steps[i].name!r} names patch baseline {value!r}, which the controller "
                                    f"does not hold (baselines: {known}); create it with `outpost baseline "
                                    f"create {value} --file FILE`")
        try:
            text = parse_baseline(stored[value], f"baseline {value}").canonical_text()
        except InputError as exc:  # stored by an older controller, whose rules were not these
            raise InputError(where, f"step {steps[i].name!r}: the stored {exc}; update the baseline") from None
        steps[i] = replace(steps[i], inputs={**inputs, "baseline": text})
    return replace(document, steps=tuple(steps)) if names else document
