"""controller.server.strings: a NUL anywhere in an operator's request is found and named by its
field's path, through nested messages, repeated fields and maps."""
from __future__ import annotations

import pytest
from google.protobuf.message import Message

from controller.server.strings import nul_field
from outpost.v1 import outpost_pb2 as pb

TARGETS = pb.Targets(node_ids=["mi-1"], tags=[pb.TagFilter(key="Role", values=["web", "db"])], group="g")


@pytest.mark.parametrize(("request_", "path"), [
    (pb.SendCommandRequest(targets=TARGETS, comment="fine", parameters={"a": pb.ParameterValues(values=["x"])}), None),
    (pb.SendCommandRequest(comment="a\x00b"), "comment"),
    (pb.SendCommandRequest(targets=pb.Targets(tags=[pb.TagFilter(key="Role", values=["web", "d\x00b"])])),
     "targets.tags[0].values[1]"),
    (pb.SendCommandRequest(parameters={"commands": pb.ParameterValues(values=["ok", "e\x00cho"])}),
     "parameters['commands'].values[1]"),
    (pb.SendCommandRequest(parameters={"com\x00mands": pb.ParameterValues(values=["ok"])}),
     "parameters['com\\x00mands']"),
    (pb.SendCommandRequest(document=b'{"a": "\x00"}'), None),  # bytes: the document parser's to judge
    (pb.PutGroupRequest(group=pb.Group(name="g", targets=pb.Targets(node_ids=["mi-1", "\x00"]))),
     "group.targets.node_ids[1]"),
    (pb.CreateActivationRequest(tags=[pb.Tag(key="k", value="v\x00")], description="d"), "tags[0].value"),
    (pb.GetCommandRequest(command_id="\x00"), "command_id"),
], ids=["none", "a string", "a repeated string in a nested message", "a map's value", "a map's key", "bytes",
        "a group's node id", "a tag's value", "an id"])
def test_nul_field_names_the_first_string_with_a_nul(request_: Message, path: str | None) -> None:
    assert nul_field(request_) == path
