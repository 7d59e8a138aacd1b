"""AdminService's ReadAudit: the audit trail, in pages of at most 200 records, for `outpost audit
list|export|verify`. It needs ``audit:Read``; it is itself a read, recorded as any other (unless
reads are not)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.model import AuditQuery
from controller.server.access_gate import AccessGate
from controller.store.db import Db
from controller.trust.audit_trail import public_pem
from controller.wire import audit_head_to_pb, audit_record_to_pb
from outpost.v1 import outpost_pb2 as pb

PAGE = 200  # records a page: under gRPC's 4 MB with every field at its bound (about 10 KB a record)


class AuditApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _gate: AccessGate
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def ReadAudit(self, request: pb.ReadAuditRequest,  # noqa: N802
                        context: grpc.aio.ServicerContext) -> AsyncIterator[pb.AuditPage]:
        await self._operator(context, "ReadAudit", request)
        if request.limit < 0 or request.after_seq < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit and after_seq: must be 0 or more")
        store = self._db.store
        first = pb.AuditPage(public_key_pem=public_pem(self._gate.audit.trail.public_key))
        if request.heads:
            first.heads.extend(audit_head_to_pb(h) for h in await self._db.run(store.audit_heads))
        after, left = request.after_seq, request.limit or None
        page = first
        while True:
            size = PAGE if left is None else min(PAGE, left)
            query = AuditQuery(after_seq=after, limit=size, since_ms=request.since_ms, until_ms=request.until_ms,
                               actor=request.actor, action=request.action)
            records = await self._db.run(store.audit_page, query) if size else []
            page.records.extend(audit_record_to_pb(r) for r in records)
            yield page
            if len(records) < size or not records:
                return
            after = records[-1].seq
            if left is not None:
                left -= len(records)
            page = pb.AuditPage()
