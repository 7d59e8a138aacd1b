"""The controller's records that both of its edges carry over gRPC, to and from protobuf: targets
and tags, which the operator CLI sends and the servicers read and answer with; the audit trail's
records and heads, which the controller sends and the CLI verifies itself (`outpost audit verify`). Everything else
each edge converts itself (controller/server/convert.py, controller/cli/render.py)."""
from __future__ import annotations

from controller.model import AuditEntry, AuditOutcome, AuditRecord, SignedHead, Tag, TagFilter, Targets
from outpost.v1 import outpost_pb2 as pb


def tags_to_pb(tags: tuple[Tag, ...]) -> list[pb.Tag]:
    return [pb.Tag(key=t.key, value=t.value) for t in tags]


def tags_from_pb(tags: list[pb.Tag]) -> tuple[Tag, ...]:
    return tuple(Tag(t.key, t.value) for t in tags)


def targets_to_pb(t: Targets) -> pb.Targets:
    return pb.Targets(node_ids=list(t.node_ids),
                      tags=[pb.TagFilter(key=f.key, values=list(f.values)) for f in t.tags], group=t.group,
                      all=t.all)


def targets_from_pb(t: pb.Targets) -> Targets:
    return Targets(tuple(t.node_ids), tuple(TagFilter(f.key, tuple(f.values)) for f in t.tags), t.group, t.all)


def audit_record_to_pb(rec: AuditRecord) -> pb.AuditRecord:
    e = rec.entry
    return pb.AuditRecord(seq=rec.seq, at_ms=e.at_ms, actor=e.actor, source_ip=e.source_ip, action=e.action,
                          outcome=e.outcome.value, request_id=e.request_id, resource=e.resource,
                          document_version=e.document_version, document_sha256=e.document_sha256, targets=e.targets,
                          resolved=e.resolved, parameters=[pb.AuditParameter(name=k, value=v) for k, v in e.parameters],
                          detail=e.detail, prev=rec.prev, digest=rec.digest)


def audit_record_from_pb(r: pb.AuditRecord) -> AuditRecord:
    """ValueError for an outcome this side does not know."""
    entry = AuditEntry(at_ms=r.at_ms, actor=r.actor, source_ip=r.source_ip, action=r.action,
                       outcome=AuditOutcome(r.outcome), request_id=r.request_id, resource=r.resource,
                       document_version=r.document_version, document_sha256=r.document_sha256, targets=r.targets,
                       resolved=r.resolved, parameters=tuple((p.name, p.value) for p in r.parameters), detail=r.detail)
    return AuditRecord(r.seq, entry, r.prev, r.digest)


def audit_head_to_pb(h: SignedHead) -> pb.AuditHead:
    return pb.AuditHead(seq=h.seq, at_ms=h.at_ms, digest=h.digest, signature=h.signature)


def audit_head_from_pb(h: pb.AuditHead) -> SignedHead:
    return SignedHead(h.seq, h.at_ms, h.digest, h.signature)
