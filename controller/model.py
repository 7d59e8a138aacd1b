"""The controller's records: typed, frozen, shared by the store, the dispatcher, the servers and
the CLI. Protobuf types never appear here (controller/server/convert.py converts at the edge)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from plugins.sdk.facts import Facts
from plugins.sdk.status import Status


class PingStatus(enum.Enum):
    ONLINE = "Online"
    CONNECTION_LOST = "ConnectionLost"


@dataclass(frozen=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True)
class TagFilter:
    key: str
    values: tuple[str, ...]  # ORed


@dataclass(frozen=True)
class Targets:
    """Keys ANDed, values ORed; node_ids and tag filters ANDed when both are given."""
    node_ids: tuple[str, ...] = ()
    tags: tuple[TagFilter, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.node_ids and not self.tags

    def matches(self, node_id: str, tags: tuple[Tag, ...]) -> bool:
        if self.node_ids and node_id not in self.node_ids:
            return False
        have = {(t.key, t.value) for t in tags}
        return all(any((f.key, v) in have for v in f.values) for f in self.tags)


@dataclass(frozen=True)
class ActivationRecord:
    activation_id: str
    code_hash: bytes  # scrypt/sha256 of the code, never the code
    tags: tuple[Tag, ...]
    registration_limit: int
    registrations_count: int
    created_at_ms: int
    expires_at_ms: int
    description: str = ""


@dataclass(frozen=True)
class EnrolmentFailure:
    activation_id: str
    reason: str  # wrong_code | expired | exhausted | unknown_activation | bad_csr
    peer: str
    at_ms: int


@dataclass(frozen=True)
class NodeRecord:
    node_id: str
    facts: Facts
    tags: tuple[Tag, ...]
    activation_id: str
    certificate_serial: str
    registered_at_ms: int
    last_seen_at_ms: int
    ping_status: PingStatus = PingStatus.CONNECTION_LOST


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    document_name: str
    document_sha256: bytes
    targets: Targets
    comment: str
    requested_by: str  # operator name from the verified certificate
    created_at_ms: int
    expires_at_ms: int  # delivery deadline: not started by then, it never starts
    status: Status = Status.PENDING
    status_detail: str = "Pending"
    target_count: int = 0
    completed_count: int = 0
    error_count: int = 0


@dataclass(frozen=True)
class StepRecord:
    command_id: str
    node_id: str
    step_index: int
    step_name: str
    action: str
    status: Status
    exit_code: int
    started_at_ms: int
    ended_at_ms: int
    error: str = ""


@dataclass(frozen=True)
class InvocationRecord:
    command_id: str
    node_id: str
    status: Status = Status.PENDING
    status_detail: str = "Pending"
    exit_code: int = -1  # SSM: -1 means not started or not received
    started_at_ms: int = 0
    ended_at_ms: int = 0
    steps: tuple[StepRecord, ...] = field(default=())


@dataclass(frozen=True)
class StepOutput:
    step_name: str
    stdout: bytes
    stderr: bytes
