"""plugins.sdk.status: one state machine for steps, invocations and commands."""
from __future__ import annotations

import itertools

import pytest

from plugins.sdk import wire
from plugins.sdk.status import (
    TERMINAL,
    InvalidTransition,
    Status,
    aggregate,
    can_transition,
    status_from_exit_code,
    transition,
)

S = Status
ALL = list(Status)

# The allowed moves, written out independently of the module's table.
ALLOWED = (
    {(S.PENDING, s) for s in ALL}  # including Pending -> Pending (a repeat is a no-op)
    | {(S.IN_PROGRESS, s) for s in (S.IN_PROGRESS, S.SUCCESS, S.FAILED, S.TIMED_OUT, S.CANCELLED)}
    | {(s, s) for s in (S.SUCCESS, S.FAILED, S.TIMED_OUT, S.CANCELLED)}
)


def test_values_are_the_ssm_names() -> None:
    assert [s.value for s in Status] == ["Pending", "InProgress", "Success", "Failed", "TimedOut", "Cancelled"]


def test_terminal_statuses() -> None:
    assert TERMINAL == {S.SUCCESS, S.FAILED, S.TIMED_OUT, S.CANCELLED}
    assert [s for s in ALL if s.terminal] == [S.SUCCESS, S.FAILED, S.TIMED_OUT, S.CANCELLED]


def test_is_error_counts_failed_and_timed_out_only() -> None:
    assert [s for s in ALL if s.is_error] == [S.FAILED, S.TIMED_OUT]


@pytest.mark.parametrize(("current", "new"), list(itertools.product(ALL, ALL)),
                         ids=[f"{a.value}->{b.value}" for a, b in itertools.product(ALL, ALL)])
def test_transitions(current: Status, new: Status) -> None:
    allowed = (current, new) in ALLOWED
    assert can_transition(current, new) is allowed
    if allowed:
        assert transition(current, new) is new
    else:
        with pytest.raises(InvalidTransition, match=f"^{current.value} -> {new.value} is not allowed$"):
            transition(current, new)


def test_nothing_leaves_a_terminal_status() -> None:
    for t in TERMINAL:
        assert [s for s in ALL if can_transition(t, s)] == [t]


def test_invalid_transition_is_a_value_error() -> None:
    assert issubclass(InvalidTransition, ValueError)


@pytest.mark.parametrize(("code", "status"), [(0, S.SUCCESS), (1, S.FAILED), (2, S.FAILED), (127, S.FAILED),
                                              (255, S.FAILED), (-1, S.FAILED), (-9, S.FAILED)])
def test_status_from_exit_code(code: int, status: Status) -> None:
    assert status_from_exit_code(code) is status


@pytest.mark.parametrize(("steps", "expected"), [
    ([], S.SUCCESS),
    ([S.SUCCESS], S.SUCCESS),
    ([S.SUCCESS, S.SUCCESS, S.SUCCESS], S.SUCCESS),
    ([S.SUCCESS, S.FAILED], S.FAILED),
    ([S.FAILED, S.SUCCESS], S.FAILED),
    ([S.SUCCESS, S.TIMED_OUT], S.TIMED_OUT),
    ([S.FAILED, S.TIMED_OUT], S.TIMED_OUT),
    ([S.TIMED_OUT, S.FAILED], S.TIMED_OUT),
    ([S.FAILED, S.CANCELLED], S.CANCELLED),
    ([S.CANCELLED, S.TIMED_OUT, S.FAILED], S.CANCELLED),
    ([S.SUCCESS, S.IN_PROGRESS], S.IN_PROGRESS),
    ([S.SUCCESS, S.PENDING], S.IN_PROGRESS),
    ([S.PENDING], S.IN_PROGRESS),
    ([S.PENDING, S.FAILED], S.FAILED),
])
def test_aggregate(steps: list[Status], expected: Status) -> None:
    assert aggregate(steps) is expected


@pytest.mark.parametrize("status", ALL, ids=[s.value for s in ALL])
def test_every_status_crosses_the_wire(status: Status) -> None:
    assert wire.status_from_pb(wire.status_to_pb(status)) is status


def test_an_unknown_wire_status_is_refused() -> None:
    with pytest.raises(wire.WireError, match="unknown status 999"):
        wire.status_from_pb(999)
