"""Outpost's Python SDK: a typed client of a controller, the one the ``outpost`` CLI is built on.

    from controller.sdk import Outpost, targets

    with Outpost.from_config() as outpost:
        cmd = outpost.run("AWS-RunShellScript", {"commands": ["uptime"]}, targets(tags={"Role": ["web"]}))

docs/sdk.md documents it, with examples.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from controller.model import TagFilter, Targets
from controller.sdk.client import Outpost
from controller.sdk.errors import ApiError, WaitTimeout
from controller.sdk.models import (
    Command,
    Document,
    DocumentVersion,
    Event,
    Invocation,
    Node,
    NotificationSettings,
    OutputText,
    StepResult,
)
from plugins.sdk.status import Detail, Status


def targets(node_ids: Sequence[str] = (), tags: Mapping[str, str | Sequence[str]] | None = None, group: str = "",
            all_nodes: bool = False) -> Targets:
    """SSM's targets: node ids (InstanceIds), tags (keys ANDed, each key's values ORed), a saved
    group; ANDed when several are given. ``all_nodes`` is every registered node."""
    filters = tuple(TagFilter(k, (v,) if isinstance(v, str) else tuple(v)) for k, v in (tags or {}).items())
    return Targets(tuple(node_ids), filters, group, all_nodes)


__all__ = ["ApiError", "Command", "Detail", "Document", "DocumentVersion", "Event", "Invocation", "Node",
           "NotificationSettings", "Outpost", "OutputText", "Status", "StepResult", "Targets", "WaitTimeout",
           "targets"]
