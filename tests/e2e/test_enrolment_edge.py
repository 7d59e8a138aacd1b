"""End to end: the enrolment listener, the one call anyone may make without a certificate, called
with a raw gRPC client as an attacker would (issue 18: 50 requests of about 1 MB added 31 MB to the
database and 50 MB to the log in 2 s). Oversize messages are refused by the transport, ids that are
not ids by their shape, and an address whose attempts keep failing is refused before anything is
read; what is recorded is bounded and never the raw value."""
from __future__ import annotations

import time
import uuid

import grpc
import pytest

from controller.model import EnrolmentFailure
from controller.runtime.config import ControllerDir
from controller.server.enrolment_service import BURST, MAX_MESSAGE_BYTES, RATE_PER_SECOND
from controller.store import Store
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from tests.support.cluster import Cluster
from tests.support.keys import controller_sealer


def _enrol_stub(c: Cluster) -> tuple[grpc.Channel, pbg.AgentServiceStub]:
    ca = (c.controller_dir / "ca.crt").read_bytes()
    channel = grpc.secure_channel(f"127.0.0.1:{c.port + 1}", grpc.ssl_channel_credentials(root_certificates=ca),
                                  options=[("grpc.max_send_message_length", 8 << 20)])
    return channel, pbg.AgentServiceStub(channel)


def _failures(c: Cluster) -> list[tuple[str, str]]:
    url = ControllerDir(c.controller_dir).load_settings().database_url
    store = Store.open(url, controller_sealer(c.controller_dir))
    try:
        return [(f.activation_id, f.reason) for f in store.list_enrolment_failures()]
    finally:
        store.close()


def _db_bytes(c: Cluster) -> int:
    return sum(p.stat().st_size for p in c.controller_dir.glob("outpost.db*"))


def _call(stub: pbg.AgentServiceStub, **fields: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        stub.Enroll(pb.EnrollRequest(**fields), timeout=20)
    return info.value  # type: ignore[return-value]


def test_a_flood_of_huge_ids_costs_neither_database_nor_log(cluster: Cluster) -> None:
    c = cluster
    c.start_controller()
    channel, stub = _enrol_stub(c)
    try:
        before = _db_bytes(c)
        huge = "A" * (1 << 20)  # past the listener's message limit
        for _ in range(50):
            err = _call(stub, activation_id=huge, activation_code="x")
            assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, err
        big = "B" * (MAX_MESSAGE_BYTES // 2)  # under it: refused by its shape
        err = _call(stub, activation_id=big, activation_code="x")
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == f"activation id: not an activation id ({len(big)} characters)"
        assert _failures(c) == [(f"(not an activation id: {len(big)} characters)", "malformed_activation")]
        assert _db_bytes(c) - before < 1 << 20  # not 31 MB
        log = c.logs()
        assert "AAAAAAAAAA" not in log and "BBBBBBBBBB" not in log and len(log) < 1 << 20
    finally:
        channel.close()


def test_an_address_that_keeps_failing_is_refused_before_anything_is_read(cluster: Cluster) -> None:
    c = cluster
    c.start_controller()
    channel, stub = _enrol_stub(c)
    try:
        for _ in range(BURST):
            err = _call(stub, activation_id=str(uuid.uuid4()), activation_code="x")
            assert err.code() is grpc.StatusCode.PERMISSION_DENIED  # no such activation
        err = _call(stub, activation_id=str(uuid.uuid4()), activation_code="x")
        refused_at = time.monotonic()
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.details().startswith("too many failed enrolment attempts from 127.0.0.1; try again in ")
        assert len(_failures(c)) == BURST  # the refused-by-rate ones are counted, not stored
        assert "failed enrolment attempts from 127.0.0.1 past 20" in c.logs()
        act = c.create_activation("Environment=dev", limit=1)
        time.sleep(max(0.0, refused_at + 1.2 / RATE_PER_SECOND - time.monotonic()))  # one token back: one more try
        assert c.enroll("late", act, check=False).returncode == 0
    finally:
        channel.close()


def test_the_failures_table_keeps_the_newest(cluster: Cluster) -> None:
    url = ControllerDir(cluster.controller_dir).load_settings().database_url
    store = Store.open(url, controller_sealer(cluster.controller_dir))
    try:
        for i in range(30):
            store.record_enrolment_failure(EnrolmentFailure(f"id-{i}", "wrong_code", "ipv4:1.2.3.4:5", i), keep=10)
        assert [f.activation_id for f in store.list_enrolment_failures()] == [f"id-{i}" for i in range(20, 30)]
    finally:
        store.close()
