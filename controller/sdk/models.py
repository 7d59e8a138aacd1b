"""What the SDK hands back: typed, frozen records of commands, invocations, steps, nodes, documents
and events. No protobuf: the SDK converts the controller's answers in one place (convert.py)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.model import Tag
from plugins.sdk.facts import Facts
from plugins.sdk.status import Detail, Status


def when(ms: int) -> dt.datetime | None:
    """A controller timestamp (ms since 1970, UTC) as an aware datetime; None for "not yet"."""
    if not ms:
        return None
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    except (OverflowError, ValueError, OSError):  # an agent's clock far off
        return None


@dataclass(frozen=True)
class StepResult:
    """One step of one node's invocation: SSM's GetCommandInvocation for a plugin."""
    name: str
    action: str
    status: Status
    detail: Detail
    exit_code: int
    changed: bool
    error: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    stdout: str = ""  # a view: at most 24,000 characters (output() reads it whole)
    stderr: str = ""  # at most 8,000 characters
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def response_code(self) -> int:
        """SSM's ResponseCode: the exit code once the node ran the step to its end, else -1."""
        return self.exit_code if self.started_at and self.detail.terminal else -1


@dataclass(frozen=True)
class Invocation:
    """A command on one node (SSM's CommandInvocation)."""
    command_id: str
    node_id: str
    status: Status
    detail: Detail
    exit_code: int
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    steps: tuple[StepResult, ...] = ()

    @property
    def done(self) -> bool:
        return self.detail.terminal

    def step(self, name: str) -> StepResult:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"invocation of {self.command_id} on {self.node_id} has no step {name!r} "
                       f"(it has: {', '.join(s.name for s in self.steps) or 'none'})")


@dataclass(frozen=True)
class NotificationSettings:
    url: str  # masked past its origin: the controller never gives the rest back
    events: tuple[str, ...]
    type: str


@dataclass(frozen=True)
class Command:
    """A command (SSM's Command), with its invocations when it was read with them."""
    command_id: str
    document_name: str
    document_version: int | None
    status: Status
    detail: Detail
    comment: str
    requested_by: str
    created_at: dt.datetime | None
    target_count: int
    completed_count: int
    error_count: int
    delivery_timed_out_count: int
    max_concurrency: str
    max_errors: str
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # secret values masked
    notification: NotificationSettings | None = None
    invocations: tuple[Invocation, ...] = ()

    @property
    def done(self) -> bool:
        return self.detail.terminal

    @property
    def succeeded(self) -> bool:
        return self.detail is Detail.SUCCESS

    def invocation(self, node_id: str) -> Invocation:
        for i in self.invocations:
            if i.node_id == node_id:
                return i
        raise KeyError(f"command {self.command_id} has no invocation on {node_id}")


@dataclass(frozen=True)
class Node:
    node_id: str
    ping_status: str  # Online | ConnectionLost
    facts: Facts
    tags: tuple[Tag, ...]
    registered_at: dt.datetime | None
    last_seen_at: dt.datetime | None

    def tag(self, key: str) -> str | None:
        return next((t.value for t in self.tags if t.key == key), None)


@dataclass(frozen=True)
class DocumentVersion:
    name: str
    version: int
    version_name: str
    latest_version: int
    default_version: int
    sha256: str
    description: str
    format: str
    created_at: dt.datetime | None
    created_by: str
    builtin: bool
    parameters: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.version == self.default_version


@dataclass(frozen=True)
class Document:
    info: DocumentVersion
    content: bytes


@dataclass(frozen=True)
class Event:
    """A status change of a command or an invocation (or a note about a node), from the fleet's feed."""
    kind: str  # command | invocation | node
    command_id: str
    node_id: str
    status: Status | None
    detail: Detail | None
    at: dt.datetime | None
    seq: int
    note: str = ""


@dataclass(frozen=True)
class OutputText:
    """One stream of one step as a node wrote it, read whole (up to its 16 MB cap)."""
    step_name: str
    stream: str  # stdout | stderr
    data: bytes
    truncated: bool  # the agent cut the stream at its cap

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")
