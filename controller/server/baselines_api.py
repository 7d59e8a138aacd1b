"""AdminService's patch baselines and compliance (docs/patching.md): ``outpost baseline create |
update | show | list | delete`` and ``outpost compliance list | show``.

A baseline is checked with plugins/sdk/patching.py before it is stored (what a node could not read is
never stored) and kept as the operator wrote it; the ``patch`` steps that name it get its canonical
text when their command is sent (controller/documents/resolve.py). A node's compliance is what its
last patch step reported (controller/dispatch/compliance.py checks it on arrival)."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.server import page_token
from controller.store.baselines import BaselineRecord
from controller.store.compliance import ComplianceRecord
from controller.store.db import Db
from controller.store.errors import Conflict, NotFound
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import InputError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.limits import shown
from plugins.sdk.patching import is_baseline_name, parse_baseline

log = logging.getLogger(__name__)


def checked_baseline(name: str, content: str, who: str, at_ms: int) -> BaselineRecord:
    """The record to store for baseline ``name`` of text ``content``; InputError naming what is wrong
    (``baseline web: approval_rules[0].severity: not a filter of debian updates``)."""
    if not is_baseline_name(name):
        raise InputError("name", f"a baseline name is 3 to 128 letters, digits, '_', '-' or '.', got {shown(name)}")
    baseline = parse_baseline(content, f"baseline {name}")
    if baseline.name != name:
        raise InputError(f"baseline {name}: name", f"the text names it {baseline.name!r}; a baseline's text and "
                                                   "the name it is stored under must agree")
    return BaselineRecord(name, content, hashlib.sha256(content.encode()).hexdigest(),
                          baseline.operating_system.value, baseline.description, at_ms, at_ms, who)


def baseline_to_pb(b: BaselineRecord) -> pb.Baseline:
    return pb.Baseline(name=b.name, content=b.content, sha256=b.sha256, created_at_ms=b.created_at_ms,
                       updated_at_ms=b.updated_at_ms, updated_by=b.updated_by, operating_system=b.operating_system,
                       description=b.description)


def compliance_to_pb(c: ComplianceRecord) -> pb.NodeCompliance:
    return pb.NodeCompliance(node_id=c.node_id, command_id=c.command_id, baseline_id=c.baseline_id,
                             operation=c.operation, compliant=c.compliant, started_at_ms=c.started_at_ms,
                             ended_at_ms=c.ended_at_ms, summary=c.summary.encode())


class BaselinesApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call
    _page: Callable[[grpc.aio.ServicerContext, Message], Awaitable[tuple[str, int]]]  # a listing's start and size

    async def PutBaseline(self, request, context):  # noqa: N802
        who = await self._operator(context, "PutBaseline", request)
        try:
            rec = checked_baseline(request.name, request.content, who, now_ms())
        except InputError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            stored = await self._db.run(self._db.store.put_baseline, rec, create=request.create)
        except Conflict as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s %s patch baseline %s (%s, sha256 %s)", who, "created" if request.create else "updated",
                 rec.name, rec.operating_system, rec.sha256)
        return pb.PutBaselineResponse(baseline=baseline_to_pb(stored))

    async def ListBaselines(self, request, context):  # noqa: N802
        await self._operator(context, "ListBaselines", request)
        recs = await self._db.run(self._db.store.list_baselines)
        return pb.ListBaselinesResponse(baselines=[baseline_to_pb(b) for b in recs])

    async def GetBaseline(self, request, context):  # noqa: N802
        await self._operator(context, "GetBaseline", request)
        try:
            rec = await self._db.run(self._db.store.get_baseline, request.name)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return pb.GetBaselineResponse(baseline=baseline_to_pb(rec))

    async def DeleteBaseline(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteBaseline", request)
        try:
            await self._db.run(self._db.store.delete_baseline, request.name)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s deleted patch baseline %s", who, request.name)
        return pb.DeleteBaselineResponse()

    async def ListCompliance(self, request, context):  # noqa: N802
        """Nodes' latest compliance by node id, a page at a time; each summary without its records
        (GetCompliance has them)."""
        await self._operator(context, "ListCompliance", request)
        after, limit = await self._page(context, request)
        recs = await self._db.run(self._db.store.list_compliance, after, limit + 1,  # one more: a next page?
                                  non_compliant_only=request.non_compliant_only)
        page = recs[:limit]
        return pb.ListComplianceResponse(nodes=[compliance_to_pb(c) for c in page],
                                         next_token=page_token.encode(page[-1].node_id) if len(recs) > limit else "")

    async def GetCompliance(self, request, context):  # noqa: N802
        await self._operator(context, "GetCompliance", request)
        try:
            rec = await self._db.run(self._db.store.get_compliance, request.node_id)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return pb.GetComplianceResponse(compliance=compliance_to_pb(rec))
