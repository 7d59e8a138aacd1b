"""Requests by raw gRPC: a NUL character in a field, and a message too big for the transport."""
from __future__ import annotations

import time
import uuid

import grpc
import pytest

from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from tests.security.rig import SHELL, Credentials, Rig, mtls_channel, rpc_error


def _admin_call(rig: Rig, method: str, request: object, **options: int) -> tuple[grpc.RpcError, str]:
    """AdminService.METHOD as the administrator, by raw gRPC; its error and the request id it gave."""
    rid = f"sec-{uuid.uuid4().hex}"
    admin = Credentials.of_operator(rig.c.controller_dir / "operators", "admin")
    with mtls_channel(rig.c, admin, **options) as channel:
        stub = pbg.AdminServiceStub(channel)
        err = rpc_error(lambda: getattr(stub, method)(request, timeout=30, metadata=[("x-request-id", rid)]))
    return err, rid


NUL_REQUESTS = {
    "send": ("SendCommand", "command:Send", lambda rig: pb.SendCommandRequest(
        document_name=SHELL, targets=pb.Targets(node_ids=[rig.node("dev")]),
        parameters={"commands": pb.ParameterValues(values=[f"touch {rig.marker('nul')}\0-x"])}),
        "parameters['commands'].values[0]", lambda rig: rig.command_ids()),
    "activation": ("CreateActivation", "activation:Create", lambda rig: pb.CreateActivationRequest(
        tags=[pb.Tag(key="Environment", value="prod")], registration_limit=1, expires_seconds=60,
        description="ok\0hidden"), "description", lambda rig: len(rig.json("activation", "list"))),
    "tag": ("TagNode", "node:Tag", lambda rig: pb.TagNodeRequest(
        node_id=rig.node("dev"), tags=[pb.Tag(key="Environment", value="dev\0prod")]), "tags[0].value",
        lambda rig: [n["tags"] for n in rig.json("node", "list")]),
}


@pytest.mark.parametrize("name", list(NUL_REQUESTS))
def test_a_nul_character_in_a_request(rig: Rig, name: str) -> None:
    """A NUL would be cut short on SQLite, refused by PostgreSQL, and end a C string wherever the value
    goes: refused by the field's name before the method reads it."""
    method, action, request, field, state = NUL_REQUESTS[name]
    before = state(rig)
    err, rid = _admin_call(rig, method, request(rig))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
    assert err.details().startswith(f"{field}: ") and "\n" not in err.details() and "\0" not in err.details()
    record = rig.audited(action, "the failure", "", requestId=rid, outcome="Failed")
    assert record["detail"].startswith("INVALID_ARGUMENT")
    assert state(rig) == before and not rig.marker("nul").exists()


def test_an_oversized_request_on_the_mutual_tls_listener(rig: Rig) -> None:
    """5 MB in one message: refused by the transport before any code reads it (so not audited)."""
    before = rig.command_ids()
    request = pb.SendCommandRequest(document_name=SHELL, targets=pb.Targets(node_ids=[rig.node("dev")]),
                                    comment="x" * (5 << 20),
                                    parameters={"commands": pb.ParameterValues(values=[f"touch {rig.marker('big')}"])})
    err, rid = _admin_call(rig, "SendCommand", request, max_send_message_length=8 << 20)
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "\n" not in err.details()
    time.sleep(0.5)  # a record would have been written with the trail's next batch (0.2 s)
    assert not [r for r in rig.audit() if r["requestId"] == rid]
    assert rig.command_ids() == before and not rig.marker("big").exists()
    assert rig.ok("node", "list")  # and the listener still serves
