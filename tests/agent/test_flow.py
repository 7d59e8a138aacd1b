"""agent.flow.Flow: what follows each step of a document (SSM 2.2's rules, Ansible's ignore_errors).

Data-driven: each case is a document as a sequence of steps, each given as (flags, detail, exit
code), the outcome its plugin reported, or (flags, INAPPLICABLE) for a step whose precondition is
false or whose action does not run on the platform. The expected result is what the runner reports
for each step (NOT_RUN: the flow skipped it after an exit or a cancel; INAPPLICABLE: skipped as not
applying), then the invocation's detail and exit code.

Flags: ``exit`` and ``successAndExit`` (onFailure; continue is the default), ``ignore``
(ignore_errors), ``onSuccessExit``, ``finally``.
"""
from __future__ import annotations

from typing import Any

import pytest

from agent.flow import Flow
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import OnFailure, Step
from plugins.sdk.wire.results import NO_EXIT_CODE

S, F, T, C = Detail.SUCCESS, Detail.FAILED, Detail.EXECUTION_TIMED_OUT, Detail.CANCELLED
INVALID = Detail.INVALID_PLATFORM
INAPPLICABLE = "inapplicable"  # the runner reports it Skipped: precondition false or platform unsupported
NOT_RUN = "not run"  # the runner reports it Skipped: an earlier step ended the document

_FLAGS = {
    "exit": {"on_failure": OnFailure.EXIT},
    "successAndExit": {"on_failure": OnFailure.SUCCESS_AND_EXIT},
    "continue": {"on_failure": OnFailure.CONTINUE},
    "ignore": {"ignore_errors": True},
    "onSuccessExit": {"on_success_exit": True},
    "finally": {"finally_step": True},
}

# (name, steps, expected reports, expected invocation detail, expected invocation exit code)
CASES: list[tuple[str, list[tuple[Any, ...]], list[Any], Detail, int]] = [
    ("nothing to run", [], [], INVALID, NO_EXIT_CODE),
    ("one success", [("", S, 0)], [S], S, 0),
    ("successes", [("", S, 0), ("", S, 0), ("", S, 0)], [S, S, S], S, 0),
    # onFailure
    ("a failure continues by default, the invocation fails", [("", F, 3), ("", S, 0)], [F, S], F, 3),
    ("continue, explicitly", [("continue", F, 3), ("", S, 0)], [F, S], F, 3),
    ("the first failure's exit code", [("", F, 2), ("", F, 5), ("", S, 0)], [F, F, S], F, 2),
    ("exit skips the rest", [("exit", F, 3), ("", S, 0), ("", S, 0)], [F, NOT_RUN, NOT_RUN], F, 3),
    ("exit on a success changes nothing", [("exit", S, 0), ("", S, 0)], [S, S], S, 0),
    ("successAndExit skips the rest and succeeds", [("successAndExit", F, 3), ("", S, 0)], [F, NOT_RUN], S, 0),
    ("successAndExit keeps an earlier failure", [("", F, 2), ("successAndExit", F, 3), ("", S, 0)],
     [F, F, NOT_RUN], F, 2),
    ("successAndExit on a success changes nothing", [("successAndExit", S, 0), ("", S, 0)], [S, S], S, 0),
    ("a crash (no exit code) with exit", [("exit", F, NO_EXIT_CODE), ("", S, 0)], [F, NOT_RUN], F, NO_EXIT_CODE),
    # onSuccess: exit
    ("onSuccess exit skips the rest", [("onSuccessExit", S, 0), ("", S, 0)], [S, NOT_RUN], S, 0),
    ("onSuccess exit does not exit on a failure", [("onSuccessExit", F, 3), ("", S, 0)], [F, S], F, 3),
    ("onSuccess exit after a failure keeps it", [("", F, 3), ("onSuccessExit", S, 0), ("", S, 0)],
     [F, S, NOT_RUN], F, 3),
    # ignore_errors
    ("ignore_errors goes on and succeeds", [("ignore", F, 4), ("", S, 0)], [F, S], S, 0),
    ("ignore_errors outranks exit", [("ignore exit", F, 4), ("", S, 0)], [F, S], S, 0),
    ("ignore_errors outranks successAndExit", [("ignore successAndExit", F, 4), ("", S, 0)], [F, S], S, 0),
    ("ignore_errors covers only its own step", [("ignore", S, 0), ("exit", F, 1), ("ignore", S, 0)],
     [S, F, NOT_RUN], F, 1),
    ("ignore_errors does not cover a timeout", [("ignore", T, NO_EXIT_CODE), ("", S, 0)], [T, S], T, NO_EXIT_CODE),
    ("ignore_errors does not cover a timeout, exit", [("ignore exit", T, NO_EXIT_CODE), ("", S, 0)],
     [T, NOT_RUN], T, NO_EXIT_CODE),
    ("ignore_errors does not cover exit code 169", [("ignore", F, 169), ("", S, 0)], [F, NOT_RUN], F, 169),
    # timeouts
    ("a timeout continues by default", [("", T, NO_EXIT_CODE), ("", S, 0)], [T, S], T, NO_EXIT_CODE),
    ("a timeout with exit", [("exit", T, NO_EXIT_CODE), ("", S, 0)], [T, NOT_RUN], T, NO_EXIT_CODE),
    ("a timeout with successAndExit", [("successAndExit", T, NO_EXIT_CODE), ("", S, 0)], [T, NOT_RUN], S, 0),
    ("a failure then a timeout: the failure", [("", F, 3), ("", T, NO_EXIT_CODE)], [F, T], F, 3),
    ("a timeout then a failure: the timeout", [("", T, NO_EXIT_CODE), ("", F, 3)], [T, F], T, NO_EXIT_CODE),
    # exit codes 168 and 169
    ("168 succeeds and stops", [("", S, 168), ("", S, 0), ("", F, 1)], [S, NOT_RUN, NOT_RUN], S, 0),
    ("168 still runs the finally step", [("", S, 168), ("", S, 0), ("finally", S, 0)], [S, NOT_RUN, S], S, 0),
    ("168 after a failure keeps it", [("", F, 3), ("", S, 168), ("", S, 0)], [F, S, NOT_RUN], F, 3),
    ("169 fails and stops", [("", F, 169), ("", S, 0)], [F, NOT_RUN], F, 169),
    ("169 stops even with continue", [("continue", F, 169), ("", S, 0)], [F, NOT_RUN], F, 169),
    ("169 still runs the finally step", [("", F, 169), ("", S, 0), ("finally", S, 0)], [F, NOT_RUN, S], F, 169),
    ("169 is Failed whatever the plugin said", [("", S, 169), ("", S, 0)], [F, NOT_RUN], F, 169),
    ("169 with successAndExit", [("successAndExit", F, 169), ("", S, 0)], [F, NOT_RUN], S, 0),
    # finallyStep
    ("the finally step runs after a success", [("", S, 0), ("finally", S, 0)], [S, S], S, 0),
    ("the finally step runs after an exit", [("exit", F, 3), ("", S, 0), ("finally", S, 0)], [F, NOT_RUN, S], F, 3),
    ("the finally step runs after successAndExit", [("successAndExit", F, 3), ("", S, 0), ("finally", S, 0)],
     [F, NOT_RUN, S], S, 0),
    ("the finally step runs after onSuccess exit", [("onSuccessExit", S, 0), ("", S, 0), ("finally", S, 0)],
     [S, NOT_RUN, S], S, 0),
    ("a failing finally step fails the invocation", [("", S, 0), ("finally", F, 7)], [S, F], F, 7),
    ("a failing finally step after a failure: the first failure's exit code",
     [("exit", F, 3), ("finally", F, 7)], [F, F], F, 3),
    ("an ignored failing finally step", [("", S, 0), ("finally ignore", F, 7)], [S, F], S, 0),
    # cancel
    ("a cancel stops everything", [("", S, 0), ("", C, NO_EXIT_CODE), ("", S, 0)], [S, C, NOT_RUN], C,
     NO_EXIT_CODE),
    ("a cancel skips the finally step too", [("", S, 0), ("", C, NO_EXIT_CODE), ("finally", S, 0)],
     [S, C, NOT_RUN], C, NO_EXIT_CODE),
    ("ignore_errors does not cover a cancel", [("ignore", C, NO_EXIT_CODE), ("", S, 0)], [C, NOT_RUN], C,
     NO_EXIT_CODE),
    ("a cancel of the finally step", [("exit", F, 3), ("finally", C, NO_EXIT_CODE)], [F, C], C,
     NO_EXIT_CODE),
    ("a cancel after a failure", [("", F, 3), ("", C, NO_EXIT_CODE), ("", S, 0)], [F, C, NOT_RUN], C,
     NO_EXIT_CODE),
    ("a cancel of the first step", [("", C, NO_EXIT_CODE)], [C], C, NO_EXIT_CODE),
    # steps that do not apply
    ("an inapplicable step is skipped", [("", INAPPLICABLE), ("", S, 0)], [INAPPLICABLE, S], S, 0),
    ("all inapplicable: InvalidPlatform", [("", INAPPLICABLE), ("finally", INAPPLICABLE)],
     [INAPPLICABLE, INAPPLICABLE], INVALID, NO_EXIT_CODE),
    ("one inapplicable step: InvalidPlatform", [("", INAPPLICABLE)], [INAPPLICABLE], INVALID, NO_EXIT_CODE),
    ("inapplicable then a failure", [("", INAPPLICABLE), ("", F, 3)], [INAPPLICABLE, F], F, 3),
    ("after an exit an inapplicable step is not run", [("exit", F, 3), ("", INAPPLICABLE)], [F, NOT_RUN], F, 3),
    ("an inapplicable finally step after an exit", [("exit", F, 3), ("finally", INAPPLICABLE)],
     [F, INAPPLICABLE], F, 3),
    ("an inapplicable step after a cancel is not run", [("", C, NO_EXIT_CODE), ("finally", INAPPLICABLE)],
     [C, NOT_RUN], C, NO_EXIT_CODE),
    ("only an inapplicable step ran after an exit: not InvalidPlatform",
     [("exit", F, 3), ("", S, 0), ("finally", INAPPLICABLE)], [F, NOT_RUN, INAPPLICABLE], F, 3),
]

# A cancelled invocation, or one where nothing ran, has no exit code (plugins.sdk.wire.results.NO_EXIT_CODE,
# SSM's -1: "not started" or "no code"), as report_not_started sends.


def make_step(i: int, flags: str) -> Step:
    kw: dict[str, Any] = {}
    for flag in flags.split():
        kw.update(_FLAGS[flag])
    return Step(f"step-{i}", "outcome", {}, **kw)


def drive(steps: list[tuple[Any, ...]]) -> tuple[list[Any], Flow]:
    """What agent.runner.Runner.run does with a Flow, without running anything."""
    flow = Flow()
    reported: list[Any] = []
    for i, (flags, *outcome) in enumerate(steps):
        step = make_step(i, flags)
        if not flow.should_run(step):
            reported.append(NOT_RUN)
        elif outcome == [INAPPLICABLE]:
            flow.skipped_step(step)
            reported.append(INAPPLICABLE)
        else:
            detail, exit_code = outcome
            reported.append(flow.record(step, detail, exit_code))
    return reported, flow


@pytest.mark.parametrize(("steps", "reports", "detail"), [pytest.param(s, r, d, id=n) for n, s, r, d, _ in CASES])
def test_flow(steps: list[tuple[Any, ...]], reports: list[Any], detail: Detail) -> None:
    got, flow = drive(steps)
    assert got == reports
    assert flow.detail is detail
    assert flow.skipped == [f"step-{i}" for i, r in enumerate(got) if r == INAPPLICABLE]


@pytest.mark.parametrize(("steps", "exit_code"), [
    pytest.param(s, e, id=n) for n, s, _, _, e in CASES])
def test_flow_exit_code(steps: list[tuple[Any, ...]], exit_code: int) -> None:
    _, flow = drive(steps)
    assert flow.exit_code == exit_code


def test_cases_have_unique_names_and_cover_every_flag() -> None:
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))
    assert all(c[4] == -1 for c in CASES if c[3] in (C, INVALID))  # nothing ran to its end: no code
    used = {f for c in CASES for s in c[1] for f in s[0].split()}
    assert used == set(_FLAGS)


def test_a_fresh_flow() -> None:
    flow = Flow()
    assert flow.should_run(Step("a", "outcome", {}))
    assert (flow.detail, flow.skipped, flow.ran_any, flow.stopped) == (INVALID, [], False, False)


def test_a_flow_is_reusable_only_per_invocation() -> None:
    """Flows do not share state (a dataclass default list would)."""
    a, b = Flow(), Flow()
    a.skipped_step(Step("x", "outcome", {}))
    assert b.skipped == []
