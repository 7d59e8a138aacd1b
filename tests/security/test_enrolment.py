"""Enrolment: a bad activation id or code, a deleted, used-up or expired activation, and an address
guessing activations until the enrolment listener cuts it off."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest

from agent.csr import make_key_and_csr
from controller.server.enrolment_service import BURST
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from tests.security.rig import FromAddress, Rig, enrolment_channel, now, refused
from tests.support.cluster import Activation, wait_for


@dataclass(frozen=True)
class BadEnrolment:
    activation_id: Callable[[Rig, str], str]  # from the genuine activation's id
    code: Callable[[str], str]  # from the genuine code
    prepare: Callable[[Rig, Activation], object]  # what happens to the activation first
    says: str
    reason: str


def _nothing(rig: Rig, act: Activation) -> None:
    """The activation as created: the attack is in the id or the code alone."""


def _use_up(rig: Rig, act: Activation) -> None:
    assert rig.enrol(f"sec-first-{act.activation_id}", act).rc == 0


ENROLMENTS = {
    "wrong-code": BadEnrolment(lambda rig, aid: aid, lambda code: "x" * len(code), _nothing,
                               "wrong activation code for activation {aid}", "wrong_code"),
    "unknown-id": BadEnrolment(lambda rig, aid: str(uuid.UUID(int=uuid.UUID(aid).int ^ 1)), lambda code: code,
                               _nothing, "does not exist", "unknown_activation"),
    "oversized-id": BadEnrolment(lambda rig, aid: "a" * 5000, lambda code: code, _nothing,
                                 "activation id: not an activation id (5000 characters)", "malformed_activation"),
    "path-as-id": BadEnrolment(lambda rig, aid: "../../etc/passwd", lambda code: code, _nothing,
                               "activation id: not an activation id (16 characters)", "malformed_activation"),
    "oversized-code": BadEnrolment(lambda rig, aid: aid, lambda code: code * 20, _nothing,
                                   "activation code: at most 256 characters", "malformed_code"),
    "deleted-activation": BadEnrolment(lambda rig, aid: aid, lambda code: code,
                                       lambda rig, act: rig.ok("activation", "delete", act.activation_id),
                                       "does not exist", "unknown_activation"),
    "past-its-limit": BadEnrolment(lambda rig, aid: aid, lambda code: code, _use_up,
                                   "has reached its registration limit", "exhausted"),
}


@pytest.mark.parametrize("name", list(ENROLMENTS))
def test_an_enrolment_is_refused(rig: Rig, name: str) -> None:
    """Each attempt comes from an address of its own (so the per-address limit is not what refuses)."""
    attack = ENROLMENTS[name]
    act = rig.activation()
    attack.prepare(rig, act)
    aid = attack.activation_id(rig, act.activation_id)
    before, since = rig.node_ids(), now()
    with FromAddress(rig.c.port + 1) as hop:
        run = rig.enrol(f"sec-enrol-{name}", act, activation_id=aid, code=attack.code(act.code), endpoint=hop.address)
    refused(run, "enrolment refused: ", attack.says.format(aid=aid))
    shown = aid if len(aid) <= 64 and "/" not in aid else f"(not an activation id: {len(aid)} characters)"
    rig.audited("node:Enrol", "the refusal", since, outcome="AccessDenied", sourceIp=hop.source,
                detail=attack.reason, resource=f"activation/{shown}", actor="anonymous")
    assert rig.node_ids() == before
    assert not (rig.c.state_dir(f"sec-enrol-{name}") / "node.crt").exists()
    if shown != aid:
        assert aid not in (rig.root / "controller.log").read_text(errors="replace")


def test_an_expired_activation(rig: Rig) -> None:
    act = rig.activation(expires="1s")
    time.sleep(1.1)
    before, since = rig.node_ids(), now()
    with FromAddress(rig.c.port + 1) as hop:
        refused(rig.enrol("sec-expired", act, endpoint=hop.address), f"activation {act.activation_id} has expired")
    rig.audited("node:Enrol", "the refusal", since, outcome="AccessDenied", sourceIp=hop.source, detail="expired")
    assert rig.node_ids() == before


def _enrol_answer(stub: pbg.AgentServiceStub, request: pb.EnrollRequest) -> grpc.RpcError | pb.EnrollResponse:
    try:
        return stub.Enroll(request, timeout=10)
    except grpc.RpcError as exc:
        return exc


def test_an_address_guessing_activations_is_cut_off(rig: Rig) -> None:
    """After BURST failures an address is refused before anything is read, even with a good code;
    the limit is the address's: the same activation still enrols from another.

    Refused attempts spend nothing and a token comes back each second, so a try proves the refusal
    only if it ended within (failures - BURST + 1) s of its first guess; a slower one (a loaded
    machine) is made again from another address, with another activation."""
    since = now()
    for _ in range(3):
        act = rig.activation()
        good = pb.EnrollRequest(activation_id=act.activation_id, activation_code=act.code,
                                csr_pem=make_key_and_csr()[1])
        with FromAddress(rig.c.port + 1) as hop, enrolment_channel(rig.c, hop.address) as channel:
            stub = pbg.AgentServiceStub(channel)
            began, codes = time.monotonic(), []
            while grpc.StatusCode.RESOURCE_EXHAUSTED not in codes and len(codes) < 2 * BURST:
                guess = pb.EnrollRequest(activation_id=str(uuid.uuid4()), activation_code="guess")
                codes.append(_enrol_answer(stub, guess).code())  # type: ignore[union-attr]
            answer = _enrol_answer(stub, good)
            took = time.monotonic() - began
        failed = codes.count(grpc.StatusCode.PERMISSION_DENIED)
        if took < failed - BURST + 1:
            break
    else:
        pytest.fail("three tries in a row were too slow to prove anything")
    assert failed >= BURST and codes == [grpc.StatusCode.PERMISSION_DENIED] * failed + [
        grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert isinstance(answer, grpc.RpcError) and answer.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, answer
    assert answer.details().startswith(f"too many failed enrolment attempts from {hop.source}; try again in ")
    assert "\n" not in answer.details()
    assert f"failed enrolment attempts from {hop.source} past {BURST}" in (rig.root / "controller.log").read_text()

    def records() -> list[dict]:
        return [r for r in rig.audit("node:Enrol", since=since) if r["sourceIp"] == hop.source]
    wait_for(lambda: len(records()) >= failed, 10, "the failures on the audit trail")
    time.sleep(0.3)  # a record of a refusal by rate would be written with the trail's next batch
    assert len(records()) == failed and {r["outcome"] for r in records()} == {"AccessDenied"}  # by rate: counted
    (row,) = [a for a in rig.json("activation", "list") if a["activation_id"] == act.activation_id]
    assert row["registrations"].startswith("0/"), row  # the good code enrolled nothing
    assert rig.enrol("sec-cut-off-elsewhere", act).rc == 0  # from 127.0.0.1 it still enrols
