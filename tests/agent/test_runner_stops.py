"""agent.runner: steps that end early, by their timeout or by a cancel (the operator's or the
agent's own), with the fake plugins of tests/agent/runner_harness.py."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.runner import STOPPED, RunnerOptions
from plugins.sdk.contract import StepOutcome
from plugins.sdk.status import Detail, Status
from plugins.sdk.wire.document import Step
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport
from tests.agent.runner_harness import (
    CID,
    EXIT,
    Harness,
    SleepInputs,
    SleepPlugin,
    _spec,
    command,
    not_run,
    ok,
    summary,
)

# ------------------------------------------------------------------------------------ timeouts

def test_a_step_past_its_timeout_is_timed_out(h: Harness) -> None:
    # the step's own timeoutSeconds (1 s) wins over the plugin's timeout_seconds input (0.05 s)
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, timeout_seconds=1,
                        on_failure=EXIT), ok("never"))
    step, skipped, inv = h.reports()
    assert (step.detail, step.exit_code, step.error) == (Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE,
                                                        "step exceeded its timeout of 1 s")
    assert step.detail.status is Status.TIMED_OUT
    assert 900 <= step.ended_at_ms - step.started_at_ms < 5000
    assert summary([skipped]) == [not_run(1, "never")]
    assert (inv.detail, inv.exit_code) == (Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE) and result == inv
    assert h.rec.stopped_by_cancel  # the plugin was stopped, not left running
    assert h.rec.steps == ["slow"]


def test_a_timed_out_step_continues_by_default_and_the_invocation_is_timed_out(h: Harness) -> None:
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}), ok("next"))
    assert h.rec.steps == ["slow", "next"]
    assert [r.detail for r in result.steps] == [Detail.EXECUTION_TIMED_OUT, Detail.SUCCESS]
    assert (result.detail, result.exit_code) == (Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE)


def test_the_plugins_timeout_input_applies_when_the_step_has_none(h: Harness) -> None:
    h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}))
    step = h.reports()[0]
    assert (step.detail, step.error) == (Detail.EXECUTION_TIMED_OUT, "step exceeded its timeout of 0.05 s")


def test_the_default_timeout_applies_last(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(default_timeout_seconds=0.05))  # type: ignore[arg-type]
    h.run(Step("slow", "sleep", {"seconds": 30}, on_failure=EXIT), Step("never", "sleep", {"seconds": 0}))
    assert summary(h.reports()) == [
        (0, "slow", Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE, "step exceeded its timeout of 0.05 s"),
        not_run(1, "never"),
        ("invocation", Detail.EXECUTION_TIMED_OUT, NO_EXIT_CODE)]


def test_ignore_errors_does_not_ignore_a_timeout(h: Harness) -> None:
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, ignore_errors=True,
                        on_failure=EXIT), ok("never"))
    assert h.rec.steps == ["slow"]
    assert (result.detail, [r.detail for r in result.steps]) == (Detail.EXECUTION_TIMED_OUT,
                                                                 [Detail.EXECUTION_TIMED_OUT, Detail.SKIPPED])
    # with the default CONTINUE the next step runs, and the invocation is still timed out
    result = h.run(Step("slow", "sleep", {"seconds": 30, "timeout_seconds": 0.05}, ignore_errors=True),
                   ok("next"), cid="cmd-0002")
    assert (result.detail, [r.detail for r in result.steps]) == (Detail.EXECUTION_TIMED_OUT,
                                                                 [Detail.EXECUTION_TIMED_OUT, Detail.SUCCESS])


def test_a_step_within_its_timeout_succeeds(h: Harness) -> None:
    h.run(Step("quick", "sleep", {"seconds": 0.01}, timeout_seconds=5))
    assert [r.detail for r in h.reports()] == [Detail.SUCCESS, Detail.SUCCESS]


# -------------------------------------------------------------------------------- cancellation

def _cancel_midway(h: Harness, cancel_requested: bool, ignore_errors: bool = False,
                   after: tuple[Step, ...] = (ok("never"),)) -> tuple[Any, Path]:
    async def scenario() -> Any:
        h.rec.started = asyncio.Event()
        slow = Step("slow", "sleep", {"seconds": 30}, ignore_errors=ignore_errors)
        requested = False  # as Commands has it: true once the operator's cancel came
        task = asyncio.create_task(h.runner().run(command(CID, ok("first"), slow, *after),
                                                  lambda: requested))
        await asyncio.wait_for(h.rec.started.wait(), 5)
        assert (h.work_root / CID).is_dir()
        requested = cancel_requested
        task.cancel()
        try:
            return await asyncio.wait_for(task, 5)
        except asyncio.CancelledError:
            return "propagated"

    return asyncio.run(scenario()), h.work_root / CID


def test_an_operator_cancel_ends_as_cancelled(h: Harness) -> None:
    result, workdir = _cancel_midway(h, cancel_requested=True)
    assert isinstance(result, InvocationReport)
    assert summary(h.reports())[:-1] == [(0, "first", Detail.SUCCESS, 0, ""),
                                         (1, "slow", Detail.CANCELLED, NO_EXIT_CODE, "cancelled by the operator"),
                                         not_run(2, "never")]
    assert h.reports()[-1].detail is Detail.CANCELLED and result == h.reports()[-1]
    assert h.rec.steps == ["first", "slow"] and h.rec.stopped_by_cancel
    assert not workdir.exists()


def test_a_cancelled_invocation_has_no_exit_code(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True)
    assert summary(h.reports())[-1] == ("invocation", Detail.CANCELLED, NO_EXIT_CODE)
    assert result.exit_code == NO_EXIT_CODE


def test_a_cancel_does_not_run_the_finally_step(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True, after=(ok("never"), ok("cleanup", finally_step=True)))
    assert h.rec.steps == ["first", "slow"]
    assert summary(h.reports())[2:-1] == [not_run(2, "never"), not_run(3, "cleanup")]
    assert result.detail is Detail.CANCELLED


def test_ignore_errors_does_not_ignore_a_cancel(h: Harness) -> None:
    result, _ = _cancel_midway(h, cancel_requested=True, ignore_errors=True)
    assert h.rec.steps == ["first", "slow"]
    assert result.detail is Detail.CANCELLED


def test_the_agent_stopping_reports_the_invocation_failed_then_propagates(h: Harness) -> None:
    """Any other cancel is the agent stopping (SIGTERM): the step's processes are stopped, the
    invocation is reported Failed saying so (it is never run again), and the cancel goes on up."""
    result, workdir = _cancel_midway(h, cancel_requested=False)
    assert result == "propagated"
    assert summary(h.reports())[:-1] == [(0, "first", Detail.SUCCESS, 0, ""),
                                         (1, "slow", Detail.FAILED, NO_EXIT_CODE, STOPPED)]
    final = h.reports()[-1]
    assert isinstance(final, InvocationReport)
    assert (final.detail, final.exit_code, final.error) == (Detail.FAILED, NO_EXIT_CODE, STOPPED)
    assert h.rec.stopped_by_cancel
    assert not workdir.exists()


@pytest.mark.parametrize("detail", [Detail.CANCELLED, Detail.FAILED])
def test_report_not_started(h: Harness, detail: Detail) -> None:
    result = h.runner().report_not_started(command(CID, ok("a"), ok("b")), detail, "cancelled while queued")
    assert (result.command_id, result.detail, result.exit_code, result.steps, result.error) == (
        CID, detail, NO_EXIT_CODE, (), "cancelled while queued")
    assert 0 < result.started_at_ms == result.ended_at_ms
    assert h.reports() == [result]  # sent, and only that
    assert h.outbox.unacknowledged() == {CID}
    assert h.rec.steps == [] and not (h.work_root / CID).exists()


def test_while_the_agent_stops_no_further_step_starts(h: Harness) -> None:
    """A step that ended by itself while the agent was stopping (its exit seen in the moment the stop
    leaves such steps) is reported by its own outcome; the step after it never starts."""
    stopping = {"now": False}

    async def main() -> str:
        run = h.runner().run(command(CID, ok("first"), ok("second")), lambda: False, None,
                             lambda: stopping["now"] or bool(stopping.update(now=True)))
        try:
            await run
        except asyncio.CancelledError:
            return "propagated"
        return "returned"

    assert asyncio.run(main()) == "propagated"
    assert h.rec.steps == ["first"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    ("invocation", Detail.FAILED, NO_EXIT_CODE)]


class _EndsAsCancelled(SleepPlugin):
    """A step whose process ends by itself just as the cancel reaches it: plugins/sdk/process.py then
    returns its exit (here: success) instead of the cancel."""
    spec = _spec("ends-by-itself", SleepInputs)

    async def run(self, ctx: Any, inputs: Any) -> StepOutcome:
        try:
            return await super().run(ctx, inputs)
        except asyncio.CancelledError:
            return StepOutcome(Detail.SUCCESS)


def test_a_cancel_that_finds_a_step_ended_by_itself_keeps_its_outcome_and_starts_no_further_step(
        tmp_path: Path) -> None:
    h = Harness(tmp_path, extra=(_EndsAsCancelled,))

    async def scenario() -> Any:
        h.rec.started = asyncio.Event()
        requested = False
        steps = (ok("first"), Step("done", "ends-by-itself", {"seconds": 30}), ok("never"),
                 ok("cleanup", finally_step=True))
        task = asyncio.create_task(h.runner().run(command(CID, *steps), lambda: requested))
        await asyncio.wait_for(h.rec.started.wait(), 5)
        requested = True
        task.cancel()
        return await asyncio.wait_for(task, 5)

    result = asyncio.run(scenario())
    assert summary(h.reports())[:-1] == [(0, "first", Detail.SUCCESS, 0, ""), (1, "done", Detail.SUCCESS, 0, ""),
                                         (2, "never", Detail.CANCELLED, NO_EXIT_CODE, "cancelled by the operator"),
                                         not_run(3, "cleanup")]
    assert result.detail is Detail.CANCELLED and h.rec.steps == ["first", "done"]

