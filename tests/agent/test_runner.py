"""agent.runner: details, reports and order of a document run with small fake plugins
(tests/agent/runner_harness.py); preconditions and platforms.

Every assertion on reports reads them back from the outbox (what the controller would get),
parsed with plugins.sdk.wire.convert. The step-by-step flow rules themselves are tabled in test_flow.py;
here they are checked end to end, through real reports.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from plugins.sdk.facts import Platform
from plugins.sdk.status import Detail, Status
from plugins.sdk.wire.document import Precondition, Step
from plugins.sdk.wire.results import NO_EXIT_CODE
from tests.agent.runner_harness import (
    CID,
    CONTINUE,
    EXIT,
    SUCCESS_AND_EXIT,
    CheckablePlugin,
    Harness,
    command,
    exits,
    fail,
    not_run,
    ok,
    only_on,
    summary,
)

# ------------------------------------------------------------------------------- details and order

def test_a_successful_step(h: Harness) -> None:
    result = h.run(Step("only", "outcome", {"exit_code": 0}))
    reports = h.reports()
    assert summary(reports) == [(0, "only", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    step, inv = reports
    assert (step.command_id, step.action) == (CID, "outcome")
    assert step.started_at_ms <= step.ended_at_ms
    assert inv == result  # what was sent is what run() returned
    assert inv.steps == (step,)
    assert inv.command_id == CID and inv.started_at_ms <= step.started_at_ms <= inv.ended_at_ms
    assert inv.error == "" and inv.detail.status is Status.SUCCESS


def test_steps_run_and_report_in_document_order(h: Harness) -> None:
    h.run(ok("zeta"), ok("alpha"), ok("mid"))
    assert h.rec.steps == ["zeta", "alpha", "mid"]
    assert summary(h.reports()) == [(0, "zeta", Detail.SUCCESS, 0, ""), (1, "alpha", Detail.SUCCESS, 0, ""),
                                    (2, "mid", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert [c.step_index for c in h.rec.contexts] == [0, 1, 2]


def test_an_empty_document_runs_nothing_and_is_invalid_platform(h: Harness) -> None:
    # No step ran (the document parsers refuse an empty mainSteps; a hand-made envelope may not).
    result = h.run()
    assert [(r.detail, r.steps) for r in h.reports()] == [(Detail.INVALID_PLATFORM, ())]
    assert result.steps == () and result.detail is Detail.INVALID_PLATFORM
    assert h.rec.steps == []


def test_a_failed_step_with_on_failure_exit_stops_the_document(h: Harness) -> None:
    result = h.run(ok("first"), fail("second", 3, on_failure=EXIT), ok("third"))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 3, "exited with code 3"),
                                    not_run(2, "third"),
                                    ("invocation", Detail.FAILED, 3)]
    assert result.detail is Detail.FAILED and result.exit_code == 3
    assert result.steps == tuple(h.reports()[:-1])  # skipped steps are in the invocation's report too


@pytest.mark.parametrize("kw", [{}, {"on_failure": CONTINUE}], ids=["default", "explicit"])
def test_a_failed_step_continues_by_default_and_the_invocation_still_fails(h: Harness, kw: dict[str, Any]) -> None:
    assert Step("x", "outcome", {}).on_failure is CONTINUE  # SSM's default
    result = h.run(ok("first"), fail("second", 3, **kw), ok("third"))
    assert h.rec.steps == ["first", "second", "third"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 3, "exited with code 3"),
                                    (2, "third", Detail.SUCCESS, 0, ""),
                                    ("invocation", Detail.FAILED, 3)]
    assert result.detail.status is Status.FAILED


def test_success_and_exit_skips_the_rest_and_succeeds(h: Harness) -> None:
    result = h.run(ok("first"), fail("second", 3, on_failure=SUCCESS_AND_EXIT), ok("third"))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 3, "exited with code 3"),  # the step failed
                                    not_run(2, "third"),
                                    ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_success_and_exit_on_a_step_that_succeeds_goes_on(h: Harness) -> None:
    h.run(ok("first", on_failure=SUCCESS_AND_EXIT), ok("second"))
    assert h.rec.steps == ["first", "second"]


def test_on_success_exit_skips_the_rest_after_a_success(h: Harness) -> None:
    result = h.run(ok("first", on_success_exit=True), ok("second"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""), not_run(1, "second"),
                                    (2, "cleanup", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_on_success_exit_does_not_exit_after_a_failure(h: Harness) -> None:
    result = h.run(fail("first", 2, on_success_exit=True), ok("second"))
    assert h.rec.steps == ["first", "second"]
    assert (result.detail, result.exit_code) == (Detail.FAILED, 2)


def test_exit_code_168_succeeds_and_stops_but_the_finally_step_runs(h: Harness) -> None:
    result = h.run(exits("first", 168), ok("second"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports())[1:] == [not_run(1, "second"), (2, "cleanup", Detail.SUCCESS, 0, ""),
                                        ("invocation", Detail.SUCCESS, 0)]
    first = h.reports()[0]
    assert (first.step_name, first.detail, first.exit_code) == ("first", Detail.SUCCESS, 168)
    assert (result.detail, result.exit_code) == (Detail.SUCCESS, 0)


@pytest.mark.parametrize("kw", [{}, {"on_failure": CONTINUE}, {"ignore_errors": True}],
                         ids=["default", "continue", "ignore_errors"])
def test_exit_code_169_fails_and_stops_but_the_finally_step_runs(h: Harness, kw: dict[str, Any]) -> None:
    result = h.run(ok("first"), exits("second", 169, **kw), ok("third"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "second", "cleanup"]
    assert summary(h.reports()) == [(0, "first", Detail.SUCCESS, 0, ""),
                                    (1, "second", Detail.FAILED, 169, "exited with code 169"),
                                    not_run(2, "third"),
                                    (3, "cleanup", Detail.SUCCESS, 0, ""),
                                    ("invocation", Detail.FAILED, 169)]
    assert (result.detail, result.exit_code) == (Detail.FAILED, 169)


def test_exit_code_169_is_failed_even_if_the_plugin_says_success(h: Harness) -> None:
    h.run(Step("odd", "outcome", {"detail": "Success", "exit_code": 169}), ok("never"))
    assert summary(h.reports()) == [(0, "odd", Detail.FAILED, 169, ""), not_run(1, "never"),
                                    ("invocation", Detail.FAILED, 169)]


def test_the_finally_step_runs_after_an_exit_on_failure(h: Harness) -> None:
    result = h.run(fail("first", 4, on_failure=EXIT), ok("second"), ok("cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports()) == [(0, "first", Detail.FAILED, 4, "exited with code 4"), not_run(1, "second"),
                                    (2, "cleanup", Detail.SUCCESS, 0, ""), ("invocation", Detail.FAILED, 4)]
    assert result.exit_code == 4


def test_a_failing_finally_step_fails_the_invocation(h: Harness) -> None:
    result = h.run(ok("first"), fail("cleanup", 7, finally_step=True))
    assert (result.detail, result.exit_code) == (Detail.FAILED, 7)
    # after an earlier failure, the invocation keeps that failure's exit code
    result = h.run(fail("first", 4, on_failure=EXIT), fail("cleanup", 7, finally_step=True), cid="cmd-0002")
    assert (result.detail, result.exit_code) == (Detail.FAILED, 4)
    assert [r.detail for r in result.steps] == [Detail.FAILED, Detail.FAILED]


def test_ignore_errors_goes_on_after_a_failure(h: Harness) -> None:
    result = h.run(fail("first", 4, ignore_errors=True), Step("second", "outcome", {"exit_code": 0}))
    assert h.rec.steps == ["first", "second"]
    assert summary(h.reports()) == [(0, "first", Detail.FAILED, 4, "exited with code 4"),
                                    (1, "second", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_ignore_errors_goes_on_even_with_on_failure_exit(h: Harness) -> None:
    # a playbook task: on_failure EXIT, and ignore_errors keeps Ansible's meaning
    result = h.run(fail("first", 4, ignore_errors=True, on_failure=EXIT), ok("second"))
    assert h.rec.steps == ["first", "second"]
    assert (result.detail, result.exit_code) == (Detail.SUCCESS, 0)


def test_ignore_errors_on_another_step_does_not_cover_a_failure(h: Harness) -> None:
    h.run(ok("first", ignore_errors=True), fail("second", 1, on_failure=EXIT), ok("third", ignore_errors=True))
    assert h.rec.steps == ["first", "second"]
    assert h.reports()[-1].detail is Detail.FAILED


def test_a_crashing_plugin_fails_its_step_and_the_agent_survives(h: Harness) -> None:
    result = h.run(Step("boom", "crash", {}, on_failure=EXIT), ok("after"))
    assert h.rec.steps == ["boom"]
    (step, skipped, inv) = h.reports()
    assert (step.detail, step.exit_code) == (Detail.FAILED, NO_EXIT_CODE)
    assert "crashed" in step.error and "boom" in step.error and "RuntimeError" in step.error
    assert skipped.detail is Detail.SKIPPED
    assert (inv.detail, inv.exit_code) == (Detail.FAILED, NO_EXIT_CODE) and result == inv
    # the same runner goes on running commands
    h2 = h.runner()
    again = asyncio.run(h2.run(command("cmd-0002", ok("fine")), lambda: False))
    assert again.detail is Detail.SUCCESS


def test_a_crash_with_ignore_errors_goes_on(h: Harness) -> None:
    h.run(Step("boom", "crash", {}, ignore_errors=True, on_failure=EXIT), ok("after"))
    assert h.rec.steps == ["boom", "after"]
    assert [r.detail for r in h.reports()] == [Detail.FAILED, Detail.SUCCESS, Detail.SUCCESS]


def test_an_outpost_error_from_a_plugin_fails_its_step_with_its_message(h: Harness) -> None:
    h.run(Step("here", "crash", {"kind": "outpost"}))
    step = h.reports()[0]
    assert (step.detail, step.exit_code, step.error) == (Detail.FAILED, NO_EXIT_CODE, "not usable here")


def test_invalid_inputs_fail_the_step_with_the_input_error(h: Harness) -> None:
    h.run(ok("fine"), Step("bad", "outcome", {"exit_code": "three"}, on_failure=EXIT), ok("never"))
    assert h.rec.steps == ["fine"]  # the plugin never ran for the bad step
    assert summary(h.reports()) == [
        (0, "fine", Detail.SUCCESS, 0, ""),
        (1, "bad", Detail.FAILED, NO_EXIT_CODE, "mainSteps[1].inputs.exit_code: expected an integer, got a string"),
        not_run(2, "never"),
        ("invocation", Detail.FAILED, NO_EXIT_CODE)]


def test_an_unknown_parameter_fails_the_step(h: Harness) -> None:
    h.run(Step("bad", "outcome", {"exitcode": 1}))
    assert h.reports()[0].error == ("mainSteps[0].inputs.exitcode: unsupported parameter "
                                    "(supported: detail, error, exit_code)")


def test_a_document_with_an_action_the_node_lacks_is_undeliverable_and_nothing_runs(h: Harness) -> None:
    result = h.run(ok("first"), Step("what", "nope", {}))
    assert (result.detail, result.exit_code, result.steps) == (Detail.UNDELIVERABLE, NO_EXIT_CODE, ())
    assert result.error == ("this node has no plugin for nope; nothing was run (installed: crash, exit, no-files, "
                            "outcome, sleep, windows-only, write)")


def test_a_lacking_action_in_a_step_for_another_platform_does_not_refuse_the_document(h: Harness) -> None:
    result = h.run(ok("first"), Step("win", "nope", {}, precondition=Precondition("platformType", "Windows")))
    assert result.detail is Detail.SUCCESS
    assert [r.detail for r in result.steps] == [Detail.SUCCESS, Detail.SKIPPED]


def test_check_mode_steps_run_only_where_the_plugin_can_check(h: Harness) -> None:
    h.extra = (CheckablePlugin,)
    result = h.run(Step("look", "checkable", {}, check_mode=True), Step("act", "outcome", {}, check_mode=True),
                   Step("real", "checkable", {}))
    assert summary(h.reports())[:3] == [(0, "look", Detail.SUCCESS, 0, ""),
                                        (1, "act", Detail.SKIPPED, NO_EXIT_CODE,
                                         "outcome cannot run in check mode; not run"),
                                        (2, "real", Detail.SUCCESS, 0, "")]
    assert [(c.step_name, c.check_mode) for c in h.rec.contexts] == [("look", True), ("real", False)]
    assert result.detail is Detail.SUCCESS


def test_the_invocation_exit_code_is_the_failing_steps_or_zero(h: Harness) -> None:
    result = h.run(fail("a", 2, ignore_errors=True), fail("b", 5, ignore_errors=True))
    assert (result.detail, result.exit_code) == (Detail.SUCCESS, 0)
    result = h.run(fail("c", 2, ignore_errors=True), fail("d", 5, on_failure=EXIT), ok("e"))
    assert (result.detail, result.exit_code) == (Detail.FAILED, 5)
    result = h.run(fail("f", 5), fail("g", 6), ok("h"))  # the first failure's
    assert (result.detail, result.exit_code) == (Detail.FAILED, 5)


# ------------------------------------------------------------------------- preconditions, platforms

def test_a_false_precondition_skips_the_step(h: Harness) -> None:
    result = h.run(ok("first"), only_on("Windows", "windows"), only_on("MacOS", "mac"), ok("last"))
    assert h.rec.steps == ["first", "last"]
    assert summary(h.reports()) == [
        (0, "first", Detail.SUCCESS, 0, ""),
        (1, "windows", Detail.SKIPPED, NO_EXIT_CODE, "precondition StringEquals [platformType, Windows] is false here"),
        (2, "mac", Detail.SKIPPED, NO_EXIT_CODE, "precondition StringEquals [platformType, MacOS] is false here"),
        (3, "last", Detail.SUCCESS, 0, ""),
        ("invocation", Detail.SUCCESS, 0)]
    assert Detail.SKIPPED.status is Status.SUCCESS
    assert result.detail is Detail.SUCCESS


def test_a_true_precondition_runs_the_step_either_way_round(h: Harness) -> None:
    h.run(only_on("Linux", "a"), ok("b", precondition=Precondition("Linux", "platformType")))
    assert h.rec.steps == ["a", "b"]
    assert [r.detail for r in h.reports()] == [Detail.SUCCESS] * 3


def test_preconditions_follow_the_nodes_platform(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", platform=Platform.MACOS)
    h.run(only_on("Linux", "linux"), only_on("MacOS", "mac"))
    assert h.rec.steps == ["mac"]
    assert [r.detail for r in h.reports()] == [Detail.SKIPPED, Detail.SUCCESS, Detail.SUCCESS]


def test_when_every_step_is_skipped_the_invocation_is_invalid_platform(h: Harness) -> None:
    result = h.run(only_on("Windows", "a"), Step("b", "windows-only", {}), only_on("MacOS", "c"))
    assert h.rec.steps == []
    assert [(r.detail, r.exit_code) for r in result.steps] == [(Detail.SKIPPED, NO_EXIT_CODE)] * 3
    assert result.detail is Detail.INVALID_PLATFORM
    assert result.detail.status is Status.FAILED
    assert h.reports()[-1] == result


def test_an_action_not_supported_on_the_platform_is_skipped(h: Harness) -> None:
    # not even its inputs are checked: it does not apply here
    result = h.run(Step("win", "windows-only", {"bogus": 1}), ok("linux"))
    assert h.rec.steps == ["linux"]
    assert summary(h.reports()) == [(0, "win", Detail.SKIPPED, NO_EXIT_CODE, "windows-only does not run on Linux"),
                                    (1, "linux", Detail.SUCCESS, 0, ""), ("invocation", Detail.SUCCESS, 0)]
    assert result.detail is Detail.SUCCESS


def test_an_action_runs_on_a_platform_it_supports(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", platform=Platform.WINDOWS)
    result = h.run(Step("win", "windows-only", {}), ok("linux"))
    assert h.rec.steps == ["win"]
    assert [r.detail for r in result.steps] == [Detail.SUCCESS, Detail.SKIPPED]
    assert result.steps[1].error == "outcome does not run on Windows"
    assert result.detail is Detail.SUCCESS


def test_a_skipped_step_after_an_exit_is_reported_not_run(h: Harness) -> None:
    h.run(fail("first", on_failure=EXIT), only_on("Windows", "windows"), only_on("Linux", "cleanup", finally_step=True))
    assert h.rec.steps == ["first", "cleanup"]
    assert summary(h.reports())[1:] == [not_run(1, "windows"), (2, "cleanup", Detail.SUCCESS, 0, ""),
                                        ("invocation", Detail.FAILED, 3)]
