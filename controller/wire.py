"""The controller's records that both of its edges carry over gRPC, to and from protobuf: targets
and tags, which the operator CLI sends and the servicers read and answer with. Everything else
each edge converts itself (controller/server/convert.py, controller/cli/render.py)."""
from __future__ import annotations

from controller.model import Tag, TagFilter, Targets
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
