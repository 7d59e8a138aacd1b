"""What ``--check`` tells before anything is sent (``playbook apply --check``, ``command send --check``):
which targeted nodes lack an action a step needs (their agent would refuse the document whole:
Undeliverable) or run on a platform a step's plugin skips, from the plugins each node reported in
its last Hello; and which steps can run in check mode at all.

The agent answers the same question with the same function (plugins/sdk/host/capabilities.py) when
the document arrives, so what ``--check`` foresees is what happens.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from controller.documents.expand import runs_documents
from controller.documents.ssmdoc import parse_command_document, render
from controller.sdk.transport import AdminClient
from plugins.sdk.facts import Facts
from plugins.sdk.host.capabilities import GapKind, actions_of, gaps
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import Document, document_from_bytes


@dataclass(frozen=True)
class NodeSeen:
    """A targeted node as the controller knows it (controller/cli/render.py makes it from the answer)."""
    node_id: str
    ping_status: str
    facts: Facts


@dataclass(frozen=True)
class NodeGaps:
    node_id: str
    hostname: str
    platform: str
    ping_status: str
    refused: bool  # the node lacks an action a step needs: its agent refuses the document (Undeliverable)
    problems: tuple[str, ...]

    def row(self) -> dict[str, object]:
        return {"node_id": self.node_id, "hostname": self.hostname, "platform": self.platform,
                "ping_status": self.ping_status, "would_be": "Undeliverable" if self.refused else "partly skipped",
                "problems": list(self.problems)}


def node_gaps(document: Document, nodes: Sequence[NodeSeen], registry: PluginRegistry) -> list[NodeGaps]:
    """The targeted nodes that cannot run ``document`` whole, each with what it lacks. A node whose
    agent reported no plugins at all (one older than plugin reports) is not judged."""
    out = []
    for node in nodes:
        facts = node.facts
        if not facts.plugins:
            continue
        found = gaps(document, facts.platform, actions_of(facts.plugins), registry.platforms_of)
        if found:
            out.append(NodeGaps(node.node_id, facts.hostname, facts.platform.value, node.ping_status,
                                any(g.kind is GapKind.MISSING_ACTION for g in found),
                                tuple(g.describe(facts.platform) for g in found)))
    return out


@dataclass(frozen=True)
class CheckRun:
    """A document as ``--check`` runs it: the steps whose plugins can say what they would change, each
    marked ``checkMode``; the others are listed and never sent."""
    document: Document | None  # None: no step can be checked, so nothing is sent
    not_checked: tuple[str, ...]  # "step 'x': shell cannot run in check mode"


def check_run(document: Document, registry: PluginRegistry) -> CheckRun:
    kept, skipped = [], []
    for step in document.steps:
        if registry.checkable(step.action):
            kept.append(replace(step, check_mode=True))
        else:
            skipped.append(f"step {step.name!r}: {step.action} cannot run in check mode (not run)")
    if not kept:
        return CheckRun(None, tuple(skipped))
    return CheckRun(replace(document, steps=tuple(kept)), tuple(skipped))


def stored_document(client: AdminClient, name: str, version: str, parameters: Mapping[str, tuple[str, ...]],
                    registry: PluginRegistry) -> Document:
    """A stored document rendered with ``parameters`` as the controller would send it (its
    ``aws:runDocument`` steps expanded there): what ``command send --check`` judges."""
    got = client.get_document(name, version)
    document = render(parse_command_document(got.content, got.document.format or None), parameters, registry)
    if runs_documents(document.canonical_bytes()):
        document = document_from_bytes(client.expand_document(document.canonical_bytes()))
    return document
