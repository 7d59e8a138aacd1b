"""The status model: every detail implies one status; the state machine's edges; exit codes."""
from __future__ import annotations

import pytest

from plugins.sdk.status import (
    RAN,
    TERMINAL,
    Detail,
    InvalidTransition,
    Status,
    can_transition,
    detail_from_exit_code,
    transition,
)

D = Detail


@pytest.mark.parametrize(("detail", "status"), [
    (D.PENDING, Status.PENDING), (D.IN_PROGRESS, Status.IN_PROGRESS), (D.DELAYED, Status.DELAYED),
    (D.SUCCESS, Status.SUCCESS), (D.CANCELLED, Status.CANCELLED), (D.CANCELLING, Status.CANCELLING),
    (D.FAILED, Status.FAILED), (D.DELIVERY_TIMED_OUT, Status.TIMED_OUT), (D.EXECUTION_TIMED_OUT, Status.TIMED_OUT),
    (D.UNDELIVERABLE, Status.FAILED), (D.TERMINATED, Status.CANCELLED), (D.INVALID_PLATFORM, Status.FAILED),
    (D.ACCESS_DENIED, Status.FAILED), (D.INCOMPLETE, Status.SUCCESS), (D.NO_INSTANCES_IN_TAG, Status.FAILED),
    (D.SKIPPED, Status.SUCCESS), (D.AGENT_LOST, Status.FAILED),
])
def test_every_detail_implies_its_status(detail: Detail, status: Status) -> None:
    assert detail.status is status


def test_the_ssm_names() -> None:
    assert [d.value for d in Detail][:9] == ["Pending", "InProgress", "Delayed", "Success", "Cancelled",
                                             "Cancelling", "Failed", "DeliveryTimedOut", "ExecutionTimedOut"]
    assert {s.value for s in Status} == {"Pending", "InProgress", "Delayed", "Success", "Cancelled", "Cancelling",
                                         "Failed", "TimedOut"}


def test_errors_are_failed_execution_timed_out_and_a_lost_agent() -> None:
    assert {d for d in Detail if d.is_error} == {D.FAILED, D.EXECUTION_TIMED_OUT, D.AGENT_LOST}


def test_terminal_details_never_move_except_a_delivery_timeout_or_lost_agent_to_a_real_result() -> None:
    for cur in TERMINAL - {D.DELIVERY_TIMED_OUT, D.AGENT_LOST}:
        for new in Detail:
            assert can_transition(cur, new) == (new is cur), (cur, new)
    for given_up in (D.DELIVERY_TIMED_OUT, D.AGENT_LOST):
        assert {n for n in Detail if can_transition(given_up, n)} == RAN | {given_up}


@pytest.mark.parametrize(("cur", "new", "ok"), [
    (D.PENDING, D.IN_PROGRESS, True), (D.PENDING, D.DELAYED, True), (D.PENDING, D.TERMINATED, True),
    (D.DELAYED, D.IN_PROGRESS, True), (D.IN_PROGRESS, D.SUCCESS, True), (D.IN_PROGRESS, D.CANCELLING, True),
    (D.CANCELLING, D.CANCELLED, True), (D.CANCELLING, D.SUCCESS, True), (D.IN_PROGRESS, D.TERMINATED, False),
    (D.IN_PROGRESS, D.PENDING, False), (D.CANCELLING, D.IN_PROGRESS, False), (D.SUCCESS, D.IN_PROGRESS, False),
    (D.IN_PROGRESS, D.IN_PROGRESS, True), (D.IN_PROGRESS, D.AGENT_LOST, True), (D.CANCELLING, D.AGENT_LOST, False),
    (D.DELAYED, D.AGENT_LOST, False),
])
def test_edges(cur: Detail, new: Detail, ok: bool) -> None:
    assert can_transition(cur, new) is ok
    if ok:
        assert transition(cur, new) is new
    else:
        with pytest.raises(InvalidTransition):
            transition(cur, new)


@pytest.mark.parametrize(("code", "detail"), [(0, D.SUCCESS), (168, D.SUCCESS), (169, D.FAILED), (1, D.FAILED),
                                              (143, D.FAILED)])
def test_exit_codes(code: int, detail: Detail) -> None:
    assert detail_from_exit_code(code) is detail
