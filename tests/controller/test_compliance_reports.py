"""Patch compliance arriving with agents' step reports (controller/dispatch/compliance.py through
reports.py): checked and kept as the node's latest; what is not valid is logged once per report and
dropped, and the report it came in is stored and acknowledged as ever."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.dispatch.compliance import Reported, checked
from controller.store import NotFound
from plugins.sdk.patching import PatchCompliance, PatchOperation, PatchRecord, PatchState, RebootOption
from plugins.sdk.status import Detail
from plugins.sdk.wire.results import InvocationReport, StepReport
from tests.controller.dispatch_rig import START_MS, Rig, received
from tests.controller.test_reports import _reports, _stored

N1, N2 = "mi-00000000000000001", "mi-00000000000000002"
GOOD = PatchCompliance.summarize(
    [PatchRecord("openssl", "1.0", "2.0", PatchState.MISSING, "security")], baseline_id="web",
    operation=PatchOperation.SCAN, reboot_option=RebootOption.NO_REBOOT, started_at_ms=START_MS,
    ended_at_ms=START_MS + 5).to_json()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig.open(tmp_path)
    r.add_nodes(N1, N2)
    try:
        yield r
    finally:
        r.close()


def _step(command_id: str, compliance: bytes, index: int = 0) -> StepReport:
    return StepReport(command_id, index, f"patch{index}", "patch", Detail.SUCCESS, 0, START_MS, START_MS + 5,
                      compliance=compliance)


def test_a_step_reports_compliance_is_the_nodes_latest(rig: Rig) -> None:
    _stored(rig, "c1", (N1, N2))
    reports, _ = _reports(rig)

    async def go() -> None:
        await reports.on_step(N1, _step("c1", GOOD))
        await reports.on_result(N1, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS + 6,
                                                     (_step("c1", GOOD),)))
        await reports.flushed()
    asyncio.run(go())
    got = rig.store.get_compliance(N1)
    assert (got.command_id, got.baseline_id, got.operation, got.compliant) == ("c1", "web", "Scan", False)
    assert got.summary.encode() == GOOD
    with pytest.raises(NotFound):
        rig.store.get_compliance(N2)


@pytest.mark.parametrize("garbage", [b"{", b"[]", json.dumps({**json.loads(GOOD), "compliant": True}).encode(),
                                     b"\xff" * 10, b"[" * 100_000])
def test_garbage_is_logged_once_and_dropped_and_the_report_is_stored_and_acknowledged(
        rig: Rig, garbage: bytes, caplog: pytest.LogCaptureFixture) -> None:
    _stored(rig, "c1", (N1,))
    sessions = rig.connect(N1)
    reports, _ = _reports(rig)

    async def go() -> None:
        steps = (_step("c1", garbage, 0), _step("c1", garbage + b" ", 1))  # two bad ones in one report
        await reports.on_result(N1, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS + 6, steps))
        await reports.flushed()
    with caplog.at_level(logging.WARNING, logger="controller.dispatch.compliance"):
        asyncio.run(go())
    told = [r.getMessage() for r in caplog.records if "patch compliance" in r.getMessage()]
    assert len(told) == 1 and told[0].startswith(f"node {N1} sent patch compliance that is not valid, dropped "
                                                 "(its result of command c1, step 'patch0'): compliance")
    assert rig.invocations("c1") == {N1: Detail.SUCCESS}
    sessions[N1].flush_acks()
    assert received(sessions[N1]) == ["result_ack"]
    with pytest.raises(NotFound):
        rig.store.get_compliance(N1)


def test_reports_without_compliance_never_reach_the_compliance_table(rig: Rig,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _stored(rig, "c1", (N1,))
    reports, _ = _reports(rig)

    def never(*_args: object) -> int:
        raise AssertionError("put_compliance called for reports that carry none")
    monkeypatch.setattr(rig.store, "put_compliance", never)

    async def go() -> None:
        await reports.on_step(N1, _step("c1", b""))
        await reports.on_result(N1, InvocationReport("c1", Detail.SUCCESS, 0, START_MS, START_MS + 6,
                                                     (_step("c1", b""),)))
        await reports.flushed()
    asyncio.run(go())
    assert rig.invocations("c1") == {N1: Detail.SUCCESS}


def test_the_same_compliance_in_a_step_report_and_its_result_is_checked_once() -> None:
    step = _step("c1", GOOD)
    out = checked([Reported(N1, "c1", "step report", (step,)), Reported(N1, "c1", "result", (step,))])
    assert len(out) == 1 and out[0].summary.encode() == GOOD
