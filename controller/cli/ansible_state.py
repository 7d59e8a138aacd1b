"""The hosts of a play as the Ansible runner keeps them: who each is, and what it has done so far."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlayHost:
    """One inventory host of a play, and the node that is it (None: no node matches it)."""
    name: str
    node_id: str | None
    variables: Mapping[str, Any]  # inventory variables and magic variables
    facts: Mapping[str, Any]  # Ansible-named facts of its node ({} without one)
    why_unreachable: str = ""


@dataclass
class HostState:
    host: PlayHost
    registered: dict[str, Any] = field(default_factory=dict)  # register and set_fact
    notified: list[str] = field(default_factory=list)
    failed: bool = False
    unreachable: bool = False
    ended: bool = False

    @property
    def active(self) -> bool:
        return not (self.failed or self.unreachable or self.ended)
