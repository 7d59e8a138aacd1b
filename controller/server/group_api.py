"""AdminService's target group and node tag calls. AdminService checks the operator's certificate
and then hands the call here with the operator's name."""
from __future__ import annotations

import logging
from collections.abc import Callable

import grpc

from controller.fleet.targets import (
    KEY_GROUP,
    MAX_NODE_IDS,
    MAX_TAG_KEY_LEN,
    MAX_TAG_KEYS,
    MAX_TAG_VALUE_LEN,
    MAX_VALUES,
)
from controller.model import GROUP_NAME, Tag, TagFilter, Targets
from controller.server import convert
from controller.server.document_api import abort
from controller.store.db import Db
from controller.store.errors import NotFound
from controller.store.groups import GroupRecord
from controller.store.nodetags import TagLimitExceeded
from controller.wire import targets_to_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

GROUP_NAME_PATTERN = GROUP_NAME
MAX_NODE_TAGS = 50


def group_to_pb(g: GroupRecord) -> pb.Group:
    return pb.Group(name=g.name, targets=targets_to_pb(g.targets), created_at_ms=g.created_at_ms)


def group_targets_problem(t: pb.Targets) -> str | None:
    """Why ``t`` cannot be saved as a group's targets, or None. A group holds node ids and tag
    filters only (SSM's limits), never another group or "every node"."""
    if t.group:
        return f"a group's targets cannot name another group ({KEY_GROUP}={t.group})"
    if t.all:
        return "a group's targets cannot be every node; target every node directly"
    if not t.node_ids and not t.tags:
        return "a group needs targets: node ids, tag filters or both"
    if len(t.node_ids) > MAX_NODE_IDS:
        return f"at most {MAX_NODE_IDS} node ids, got {len(t.node_ids)}"
    if any(not n for n in t.node_ids):
        return "empty node id"
    if len(t.tags) > MAX_TAG_KEYS:
        return f"at most {MAX_TAG_KEYS} tag keys, got {len(t.tags)}"
    keys = [f.key for f in t.tags]
    if len(set(keys)) != len(keys):
        return f"a tag key is given twice: {keys}"
    for f in t.tags:
        if not 1 <= len(f.key) <= MAX_TAG_KEY_LEN:
            return f"tag key {f.key!r}: must be 1 to {MAX_TAG_KEY_LEN} characters"
        if not 1 <= len(f.values) <= MAX_VALUES:
            return f"tag:{f.key}: 1 to {MAX_VALUES} values, got {len(f.values)}"
        if any(not v or len(v) > MAX_TAG_VALUE_LEN for v in f.values):
            return f"tag:{f.key}: each value must be 1 to {MAX_TAG_VALUE_LEN} characters"
    return None


def group_targets_from_pb(t: pb.Targets) -> Targets:
    """Node ids and tag filters, duplicates dropped (order kept). Check group_targets_problem first."""
    return Targets(node_ids=tuple(dict.fromkeys(t.node_ids)),
                   tags=tuple(TagFilter(f.key, tuple(dict.fromkeys(f.values))) for f in t.tags))


def tags_problem(tags: list[pb.Tag], remove: list[str]) -> str | None:
    """Why a TagNode request is refused, or None."""
    if not tags and not remove:
        return "nothing to change: give tags to set or keys to remove"
    if len(tags) > MAX_NODE_TAGS:
        return f"at most {MAX_NODE_TAGS} tags per node, got {len(tags)} to set"
    for t in tags:
        if not 1 <= len(t.key) <= MAX_TAG_KEY_LEN or not t.key.strip():
            return f"tag key {t.key!r}: must be 1 to {MAX_TAG_KEY_LEN} characters, not blank"
        if len(t.value) > MAX_TAG_VALUE_LEN:
            return f"tag {t.key}: value longer than {MAX_TAG_VALUE_LEN} characters"
    keys = [t.key for t in tags]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        return f"tag keys given twice: {twice}"
    if any(not k for k in remove):
        return "empty tag key to remove"
    both = sorted(set(keys) & set(remove))
    if both:
        return f"tag keys both set and removed: {both}"
    return None


class GroupApi:
    def __init__(self, db: Db, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._clock = clock

    async def _group(self, context: grpc.aio.ServicerContext, name: str) -> GroupRecord:
        try:
            return await self._db.run(self._db.store.get_group, name)
        except NotFound as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, str(exc))

    async def PutGroup(self, request: pb.PutGroupRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                       operator_name: str) -> pb.PutGroupResponse:
        g = request.group
        if not GROUP_NAME_PATTERN.match(g.name):
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                        f"group name {g.name!r}: use 1 to 128 characters from letters, digits, '_', '-' and '.'")
        problem = group_targets_problem(g.targets)
        if problem:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"group {g.name}: {problem}")
        rec = await self._db.run(self._db.store.put_group, g.name, group_targets_from_pb(g.targets), self._clock())
        log.info("operator %s saved group %s", operator_name, rec.name)
        return pb.PutGroupResponse(group=group_to_pb(rec))

    async def ListGroups(self, request: pb.ListGroupsRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                         operator_name: str) -> pb.ListGroupsResponse:
        recs = await self._db.run(self._db.store.list_groups)
        return pb.ListGroupsResponse(groups=[group_to_pb(g) for g in recs])

    async def GetGroup(self, request: pb.GetGroupRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                       operator_name: str) -> pb.GetGroupResponse:
        rec = await self._group(context, request.name)
        nodes = await self._db.run(self._db.store.list_nodes)
        return pb.GetGroupResponse(group=group_to_pb(rec), nodes=[
            convert.node_to_pb(n) for n in nodes if rec.targets.matches(n.node_id, n.tags)])

    async def DeleteGroup(self, request: pb.DeleteGroupRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                          operator_name: str) -> pb.DeleteGroupResponse:
        try:
            await self._db.run(self._db.store.delete_group, request.name)
        except NotFound as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s deleted group %s", operator_name, request.name)
        return pb.DeleteGroupResponse()

    async def TagNode(self, request: pb.TagNodeRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                      operator_name: str) -> pb.TagNodeResponse:
        problem = tags_problem(list(request.tags), list(request.remove))
        if problem:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"node {request.node_id}: {problem}")
        set_tags = tuple(Tag(t.key, t.value) for t in request.tags)
        try:
            await self._db.run(self._db.store.set_node_tags, request.node_id, set_tags, tuple(request.remove),
                               max_tags=MAX_NODE_TAGS)
            node = await self._db.run(self._db.store.get_node, request.node_id)
        except NotFound as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except TagLimitExceeded as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        log.info("operator %s tagged node %s: set %s, removed %s", operator_name, request.node_id,
                 [f"{t.key}={t.value}" for t in set_tags], list(request.remove))
        return pb.TagNodeResponse(node=convert.node_to_pb(node))
