"""Patch compliance as nodes report it: a ``patch`` step's report carries its node's compliance
(plugins/sdk/patching.py's canonical JSON), which the controller keeps as the node's latest
(controller/store/compliance.py). A node is not trusted: each is checked with
``PatchCompliance.from_json``; what does not pass is logged, once per report, and dropped, and the
rest of the report is stored as ever.

The reports that carry none (nearly all) cost one look at a field each; the checking runs in the
database job that stores the batch (controller/dispatch/reports.py), off the event loop."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from controller.model import InvocationRecord, StepRecord
from controller.store.compliance import ComplianceRecord
from plugins.sdk.patching import PatchCompliance
from plugins.sdk.wire.results import StepReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reported:
    """The steps of one report (a step's, or an invocation's result) that carry compliance."""
    node_id: str
    command_id: str
    kind: str  # "step report" | "result": for the log
    steps: tuple[StepReport, ...]


def reported(steps: Sequence[StepRecord], results: Sequence[InvocationRecord]) -> list[Reported]:
    """The reports of a batch that carry compliance, in arrival order (steps, then results)."""
    out = [Reported(s.node_id, s.command_id, "step report", (s.report,)) for s in steps if s.report.compliance]
    for r in results:
        carrying = tuple(s.report for s in r.steps if s.report.compliance)
        if carrying:
            out.append(Reported(r.node_id, r.command_id, "result", carrying))
    return out


def checked(batch: Sequence[Reported]) -> list[ComplianceRecord]:
    """What passes the check, as stored; the same report seen twice (its step's, then inside the
    invocation's result) checked once."""
    out: list[ComplianceRecord] = []
    seen: set[tuple[str, str, int, bytes]] = set()
    for rep in batch:
        told = False
        for step in rep.steps:
            key = (rep.node_id, rep.command_id, step.step_index, step.compliance)
            if key in seen:
                continue
            seen.add(key)
            try:
                c = PatchCompliance.from_json(step.compliance)
            except Exception as exc:  # noqa: BLE001 - a node's bytes must never stop the batch they came in
                if not told:
                    log.warning("node %s sent patch compliance that is not valid, dropped (its %s of command %s, "
                                "step %r): %s", rep.node_id, rep.kind, rep.command_id, step.step_name,
                                str(exc)[:500])
                    told = True
                continue
            out.append(ComplianceRecord(rep.node_id, rep.command_id, c.baseline_id, c.operation.value, c.compliant,
                                        c.started_at_ms, c.ended_at_ms, c.to_json().decode()))
    return out
