"""The controller's records: typed, frozen, shared by the store, the dispatcher, the servers and
the CLI. Protobuf types never appear here (controller/server/convert.py converts at the edge)."""
from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import json
import math
import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from controller.notification import NotificationConfig
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.errors import InputError
from plugins.sdk.facts import Facts
from plugins.sdk.status import Detail, Status
from plugins.sdk.wire.results import OutputChunk, StepReport

NODE_CERTIFICATE_SECONDS = 7 * 24 * 3600  # a node certificate's lifetime by default (renewed at 2/3)

_LIMIT = re.compile(r"^(\d{1,9})(%?)$")
# What the operator may call a document and a group: checked by the CLI and again at the API.
DOCUMENT_NAME = re.compile(r"^[a-zA-Z0-9_\-.]{3,128}$")
DOCUMENT_VERSION_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")  # SSM's VersionName
GROUP_NAME = re.compile(r"^[a-zA-Z0-9_\-.]{1,128}$")


def parse_limit(text: str, targets: int, *, where: str, minimum: int) -> int:
    """``"50"`` or ``"10%"`` of ``targets`` as a count (percent: up for concurrency, down for errors)."""
    m = _LIMIT.match(text.strip())
    if not m:
        raise InputError(where, f"expected a number or a percentage such as 10%, got {text!r}")
    value, percent = int(m.group(1)), bool(m.group(2))
    if percent:
        if not minimum <= value <= 100:
            raise InputError(where, f"a percentage must be {minimum}%..100%, got {text}")
        share = targets * value / 100
        return max(minimum, math.ceil(share)) if minimum else math.floor(share)
    if value < minimum:
        raise InputError(where, f"must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Counts:
    targets: int
    completed: int
    errors: int
    delivery_timed_out: int


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
    """SSM's targets: node ids (InstanceIds), tag filters (keys ANDed, values ORed) and a saved group
    (resource-groups:Name), ANDed when several are given; ``all`` is every registered node."""
    node_ids: tuple[str, ...] = ()
    tags: tuple[TagFilter, ...] = ()
    group: str = ""
    all: bool = False

    @property
    def empty(self) -> bool:
        return not (self.node_ids or self.tags or self.group or self.all)

    @property
    def named_nodes(self) -> list[str] | None:
        """The nodes these targets name outright (node ids alone, no tags, group or all), in node id
        order; None when the fleet's registry decides."""
        if not self.node_ids or self.tags or self.group or self.all:
            return None
        return sorted(self._node_set)

    @functools.cached_property
    def _node_set(self) -> frozenset[str]:  # resolving 10,000 ids against a tuple would be quadratic
        return frozenset(self.node_ids)

    def matches(self, node_id: str, tags: tuple[Tag, ...], group: Targets | None = None) -> bool:
        """``group`` is the saved group's own targets, when ``self.group`` names one."""
        if self.node_ids and node_id not in self._node_set:
            return False
        have = {(t.key, t.value) for t in tags}
        if not all(any((f.key, v) in have for v in f.values) for f in self.tags):
            return False
        return group is None or group.matches(node_id, tags)


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


def new_command_id() -> str:
    """A command's id (SSM's are UUIDs too)."""
    return str(uuid.uuid4())


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
    detail: Detail = Detail.PENDING
    target_count: int = 0
    completed_count: int = 0
    error_count: int = 0
    delivery_timed_out_count: int = 0
    max_concurrency: str = "50"  # a count, or a percent of the targets ("10%")
    max_errors: str = "0"
    document_version: int = 0  # 0: an inline document (a playbook's play)
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # secret values masked
    cancel_requested: bool = False
    notification: NotificationConfig | None = None  # its own webhook (SSM's NotificationConfig), URL sealed at rest

    @property
    def status(self) -> Status:
        return self.detail.status

    @property
    def counters(self) -> tuple[Detail, int, int, int]:
        """What a run's progress changes: detail, completed, errors, delivery timeouts."""
        return self.detail, self.completed_count, self.error_count, self.delivery_timed_out_count

    def with_counts(self, detail: Detail, counts: Counts) -> CommandRecord:
        """This record with ``detail`` and the counters of ``counts``."""
        return replace(self, detail=detail, completed_count=counts.completed, error_count=counts.errors,
                       delivery_timed_out_count=counts.delivery_timed_out)


@dataclass(frozen=True)
class StepRecord:
    """A step's result as stored: the agent's report (plugins/sdk/wire/results.py), and the node
    whose verified identity sent it."""
    node_id: str
    report: StepReport

    @property
    def command_id(self) -> str:
        return self.report.command_id


@dataclass(frozen=True)
class InvocationRecord:
    """An invocation as the controller keeps it. Unlike a step, it is not a copy of what the agent
    reported: it exists from the command's sending (Pending, Delayed), its start is the acceptance's,
    and the controller alone ends some (DeliveryTimedOut, Terminated, Cancelled before it started).
    The agent's InvocationReport is one input to it (controller/dispatch/reports.py)."""
    command_id: str
    node_id: str
    detail: Detail = Detail.PENDING
    exit_code: int = -1  # SSM: -1 means not started or not received
    started_at_ms: int = 0  # set when the agent accepts it
    ended_at_ms: int = 0
    steps: tuple[StepRecord, ...] = field(default=())

    @property
    def status(self) -> Status:
        return self.detail.status


@dataclass(frozen=True)
class StepOutput:
    step_name: str
    stdout: bytes
    stderr: bytes


# A piece of a stream read in full (StreamOutput). Measured reading 16 MB into the CLI: 1 MB pieces
# grew it by 8-14 MB (gRPC holds several copies of a message on the way in), 256 KB pieces by 3-7 MB.
PIECE_BYTES = 256 * 1024


@dataclass(frozen=True)
class OutputPiece:
    """A piece of one step's stream as it is read in full: a stream of up to 16 MB comes as pieces
    of at most PIECE_BYTES, its last one flagged (and whether the agent cut the stream at its cap)."""
    step_name: str
    stream: OutputStreamKind
    data: bytes
    last: bool = False
    truncated: bool = False  # only ever on the last piece


VIEW_CHARS = {"stdout": 24_000, "stderr": 8_000}  # SSM's StandardOutputContent / StandardErrorContent


def output_view(data: bytes, stream: str) -> tuple[str, bool]:
    """A stream's output as views show it: its first 24,000 (stdout) or 8,000 (stderr) characters,
    and whether it was cut there."""
    text = data.decode("utf-8", errors="replace")
    limit = VIEW_CHARS[stream]
    return (text[:limit], True) if len(text) > limit else (text, False)


@dataclass(frozen=True)
class StepOutputView:
    """A step's output as invocation views show it: SSM's 24,000 / 8,000 characters."""
    step_name: str
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool


@dataclass(frozen=True)
class ReplayPage:
    """A page of a command's invocations by node id (steps filled in) and every stored piece of
    their output as (node id, chunk), a settled step's whole output as one chunk with ``seq`` -1:
    what a watcher that starts now is shown first, a page at a time."""
    invocations: tuple[InvocationRecord, ...]
    output: tuple[tuple[str, OutputChunk], ...]


@dataclass(frozen=True)
class InvocationPage:
    """A page of a command's invocations by node id (steps filled in), with their output previews
    by node id and step name."""
    invocations: tuple[InvocationRecord, ...]
    views: Mapping[str, Mapping[str, StepOutputView]]


# ---------------------------------------------------------------- the audit trail (controller/trust/audit.py)

AUDIT_GENESIS = bytes(32)  # what the first record's ``prev`` is


class AuditOutcome(enum.Enum):
    ALLOWED = "Allowed"  # an admin call let through (its own result is the call's)
    DENIED = "AccessDenied"
    FAILED = "Failed"  # refused for another reason (bad input, unknown name, ...)
    SUCCEEDED = "Succeeded"  # a change that happened (certificate issued, policy attached, ...)


@dataclass(frozen=True)
class AuditEntry:
    """What happened, as recorded. ``actor`` is ``operator/NAME``, ``node/ID`` or ``anonymous`` (an
    enrolment); ``parameters`` hold secret values as keyed hashes (:func:`keyed_hash`), never plain."""
    at_ms: int
    actor: str
    source_ip: str
    action: str  # a policy action (command:Send), or enrol, certificate:Issue, command:Status, ...
    outcome: AuditOutcome
    request_id: str
    resource: str = ""  # document/NAME, node/ID, operator/NAME, ...
    document_version: int = 0
    document_sha256: str = ""  # hex
    targets: str = ""  # the selector as given
    resolved: int = -1  # nodes the targets resolved to; -1: none were resolved
    parameters: tuple[tuple[str, str], ...] = ()
    detail: str = ""

    @classmethod
    def event(cls, at_ms: int, actor: str, source_ip: str, action: str, outcome: AuditOutcome, resource: str = "",
              detail: str = "") -> AuditEntry:
        """Something that happened outside an admin call (an enrolment, a stream refused, a renewal,
        break glass), with a request id of its own and the detail bounded."""
        return cls(at_ms=at_ms, actor=actor, source_ip=source_ip, action=action, outcome=outcome,
                   request_id=str(uuid.uuid4()), resource=resource, detail=detail[:500])

    def storable(self) -> AuditEntry:
        """This entry as a database can hold it in every backend: a NUL (which PostgreSQL's text
        refuses, failing the whole batch the entry came in) written as ``\\x00``. Whatever a request
        carries reaches the trail, a refused one too."""
        def clean(text: str) -> str:
            return text.replace("\x00", "\\x00")
        texts = {f: clean(getattr(self, f)) for f in ("actor", "source_ip", "action", "request_id", "resource",
                                                      "document_sha256", "targets", "detail")}
        params = tuple((clean(k), clean(v)) for k, v in self.parameters)
        if all(texts[f] is getattr(self, f) for f in texts) and params == self.parameters:
            return self
        return replace(self, parameters=params, **texts)

    def canonical(self) -> bytes:
        fields = asdict(self)
        fields["outcome"] = self.outcome.value
        fields["parameters"] = [list(p) for p in self.parameters]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class AuditRecord:
    seq: int  # 1, 2, 3, ... without gaps
    entry: AuditEntry
    prev: bytes  # the digest of record seq - 1 (AUDIT_GENESIS for the first)
    digest: bytes


@dataclass(frozen=True)
class SignedHead:
    seq: int  # the last record it covers
    at_ms: int
    digest: bytes  # that record's
    signature: bytes


def audit_digest(seq: int, prev: bytes, entry: AuditEntry) -> bytes:
    return hashlib.sha256(struct.pack(">q", seq) + prev + entry.canonical()).digest()


def audit_chained(last: AuditRecord | None, entry: AuditEntry) -> AuditRecord:
    """``entry`` as the record after ``last`` (the first, for None)."""
    seq, prev = (1, AUDIT_GENESIS) if last is None else (last.seq + 1, last.digest)
    return AuditRecord(seq, entry, prev, audit_digest(seq, prev, entry))


@dataclass(frozen=True)
class AuditQuery:
    """Which records: ``after_seq`` pages (records come by seq); the rest filter. ``action`` ending in
    ``*`` matches by prefix (``command:*``)."""
    after_seq: int = 0
    limit: int = 1000
    since_ms: int = 0
    until_ms: int = 0  # 0: no bound
    actor: str = ""
    action: str = ""


# ---------------------------------------------------------------- the fleet's status events

class EventKind(enum.StrEnum):
    COMMAND = "command"
    INVOCATION = "invocation"
    NODE = "node"  # something the controller noticed of a node's connections (no status)


def iso_utc_ms(at_ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with milliseconds: ``2026-11-28T08:22:14.123Z``."""
    seconds, millis = divmod(at_ms, 1000)  # integer maths: no float rounding of the milliseconds
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


@dataclass(frozen=True)
class StatusEvent:
    """One status change of a command (``node_id`` empty) or an invocation; or a node event: what
    the controller noticed of a node's connections (``note``; no command, no detail). ``seq``: the
    store's (controller/store/events.py), 0 until stored."""
    kind: EventKind
    command_id: str
    node_id: str
    detail: Detail | None  # SSM's StatusDetails; the status (SSM's Status) follows from it. None: a node event
    at_ms: int
    seq: int
    note: str = ""

    @property
    def status(self) -> Status | None:
        return None if self.detail is None else self.detail.status

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind.value, "commandId": self.command_id, "nodeId": self.node_id}
        if self.detail is not None:
            out.update(status=self.detail.status.value, statusDetails=self.detail.value)
        if self.note:
            out["note"] = self.note
        out.update(time=iso_utc_ms(self.at_ms), seq=self.seq)
        return out


@dataclass(frozen=True)
class EventFilter:
    """Which stored events: after a seq and/or from a time, of one command and/or one node."""
    after_seq: int = 0
    since_ms: int = 0
    command_id: str = ""
    node_id: str = ""

    def passes(self, event: StatusEvent) -> bool:
        return (event.seq > self.after_seq and event.at_ms >= self.since_ms
                and (not self.command_id or event.command_id == self.command_id)
                and (not self.node_id or event.node_id == self.node_id))
